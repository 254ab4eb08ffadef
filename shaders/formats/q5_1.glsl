// Q5_1 (32 elements, 24 bytes): d (f16) | m (f16) | qh[4] | qs[16].
//   element j: q = (j < 16 ? qs[j] & 15 : qs[j-16] >> 4) | (bit j of qh) << 4, x = q * d + m
// Grouped layout (ops/weights.hpp): per 8 blocks 8 (d, m) at group byte 0, 8 qh words at
// 32, 8 x 16 quant bytes at 64 (16-byte aligned: one vector load a block).
uint fmt_dm_at(uint o) { return FMT_GROUPED ? fmt_gfield(o, 0u, 4u) : o; }
uint fmt_dm_qh(uint o) { return fmt_u32(FMT_GROUPED ? fmt_gfield(o, 32u, 4u) : o + 4u); }
uint fmt_dm_qs(uint o) { return FMT_GROUPED ? fmt_gfield(o, 64u, 16u) : o + 8u; }
uint fmt_dm_quants(uint o, uint e) {
    return ((fmt_u32(fmt_dm_qs(o) + (e & 15u)) >> ((e & 16u) >> 2)) & 0x0F0F0F0Fu) | fmt_q5_high(fmt_dm_qh(o), e);
}
void fmt_dm_unit(uint o, out uint q[8]) {  // the quants of the block, 4 a word
    if (FMT_GROUPED) {
        fmt_unit_nibbles(fmt_u32x4(fmt_dm_qs(o)), q);
        const uint h = fmt_dm_qh(o);
        for (uint i = 0u; i < 4u; ++i) {
            q[i] |= fmt_q5_high(h, 4u * i);
            q[i + 4u] |= fmt_q5_high(h, 16u + 4u * i);
        }
        return;
    }
    for (uint i = 0u; i < 8u; ++i) q[i] = fmt_dm_quants(o, 4u * i);
}
#include "formats/dm32.glsl"
