// Q5_1 (32 elements, 24 bytes): d (f16) | m (f16) | qh[4] | qs[16].
//   element j: q = (j < 16 ? qs[j] & 15 : qs[j-16] >> 4) | (bit j of qh) << 4, x = q * d + m
uint fmt_dm_quants(uint o, uint e) {
    return ((fmt_u32(o + 8u + (e & 15u)) >> ((e & 16u) >> 2)) & 0x0F0F0F0Fu) | fmt_q5_high(fmt_u32(o + 4u), e);
}
#include "formats/dm32.glsl"
