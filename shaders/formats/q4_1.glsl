// Q4_1 (32 elements, 20 bytes): d (f16) | m (f16) | qs[16].
//   element j: q = (j < 16 ? qs[j] & 15 : qs[j-16] >> 4), x = q * d + m
uint fmt_dm_quants(uint o, uint e) {
    return (fmt_u32(o + 4u + (e & 15u)) >> ((e & 16u) >> 2)) & 0x0F0F0F0Fu;
}
#include "formats/dm32.glsl"
