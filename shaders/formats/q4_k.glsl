// Q4_K (256 elements, 144 bytes): d (f16) | dmin (f16) | scales[12] | qs[128].
//   element e: s = e / 32 with 6-bit scale sc_s and min m_s (get_scale_min_k4);
//   q = qs[32*(e/64) + e%32] >> 4*(s%2) & 15;  x = (d * sc_s) * q - dmin * m_s
// Grouped layout (ops/weights.hpp): per 8 blocks 8 (d, dmin) at group byte 0, 8 x 12
// scale bytes at 32, 8 x 128 quant bytes at 128, unit s's 32 nibbles as the 16 bytes at
// 16s in Q4_0's order (one 16-byte load a unit, no byte shared by two units).
uint fmt_k_dm(uint o) { return FMT_GROUPED ? fmt_gfield(o, 0u, 4u) : o; }          // d, then dmin
uint fmt_k_scales(uint o) { return FMT_GROUPED ? fmt_gfield(o, 32u, 12u) : o + 4u; }
uint fmt_kquants(uint o, uint e) {  // the four nibbles of e..e+3 as bytes
    if (FMT_GROUPED) {
        const uint j = e & 31u;
        return (w[(fmt_gfield(o, 128u, 128u) + 16u * (e / 32u) + (j & 15u)) >> 2] >> ((j & 16u) >> 2)) & 0x0F0F0F0Fu;
    }
    return (fmt_u32(o + 16u + 32u * (e / 64u) + (e & 31u)) >> (4u * ((e / 32u) & 1u))) & 0x0F0F0F0Fu;
}
void fmt_kunit(uint o, uint u, out uint q[8]) {  // the quants of unit u, 4 a word
    if (FMT_GROUPED) {
        fmt_unit_nibbles(fmt_u32x4(fmt_gfield(o, 128u, 128u) + 16u * u), q);
        return;
    }
    for (uint i = 0u; i < 8u; ++i) q[i] = fmt_kquants(o, 32u * u + 4u * i);
}
#include "formats/k_scale_min.glsl"
