// Q5_K (256 elements, 176 bytes): d (f16) | dmin (f16) | scales[12] | qh[32] | qs[128].
//   element e: s = e / 32 with 6-bit scale sc_s and min m_s (get_scale_min_k4);
//   q = (qs[32*(e/64) + e%32] >> 4*(s%2) & 15) + 16 * (bit s of qh[e%32]);
//   x = (d * sc_s) * q - dmin * m_s
// Grouped layout (ops/weights.hpp): per 8 blocks 8 (d, dmin) at group byte 0, 8 x 12 scale
// bytes at 32, 8 x 32 bytes of 5th bits at 128 (unit s's 32 bits as the word at 4s,
// element b + 4k at bit k of byte b: one shift for four elements), 8 x 128 quant bytes at 384 (unit s's nibbles as the 16 bytes at
// 16s in Q4_0's order).
uint fmt_k_dm(uint o) { return FMT_GROUPED ? fmt_gfield(o, 0u, 4u) : o; }  // d, then dmin
uint fmt_k_scales(uint o) { return FMT_GROUPED ? fmt_gfield(o, 32u, 12u) : o + 4u; }
uint fmt_k5_hi(uint o, uint s) { return w[(fmt_gfield(o, 128u, 32u) + 4u * s) >> 2]; }  // grouped only
uint fmt_k5_lo(uint o, uint s) { return fmt_gfield(o, 384u, 128u) + 16u * s; }
uint fmt_kquants(uint o, uint e) {  // the 5-bit quants of e..e+3 as bytes
    if (FMT_GROUPED) {
        const uint s = e / 32u, j = e & 31u;
        const uint lo = (w[(fmt_k5_lo(o, s) + (j & 15u)) >> 2] >> ((j & 16u) >> 2)) & 0x0F0F0F0Fu;
        return lo | (((fmt_k5_hi(o, s) >> (j >> 2)) & 0x01010101u) << 4);
    }
    const uint lo = (fmt_u32(o + 48u + 32u * (e / 64u) + (e & 31u)) >> (4u * ((e / 32u) & 1u))) & 0x0F0F0F0Fu;
    const uint hi = (fmt_u32(o + 16u + (e & 31u)) >> (e / 32u)) & 0x01010101u;
    return lo | (hi << 4);
}
void fmt_kunit(uint o, uint u, out uint q[8]) {  // the quants of unit u, 4 a word
    if (FMT_GROUPED) {
        fmt_unit_nibbles(fmt_u32x4(fmt_k5_lo(o, u)), q);
        const uint h = fmt_k5_hi(o, u);
        for (uint i = 0u; i < 8u; ++i) q[i] |= ((h >> i) & 0x01010101u) << 4;
        return;
    }
    for (uint i = 0u; i < 8u; ++i) q[i] = fmt_kquants(o, 32u * u + 4u * i);
}
#include "formats/k_scale_min.glsl"
