// Q5_K (256 elements, 176 bytes): d (f16) | dmin (f16) | scales[12] | qh[32] | qs[128].
//   element e: s = e / 32 with 6-bit scale sc_s and min m_s (get_scale_min_k4);
//   q = (qs[32*(e/64) + e%32] >> 4*(s%2) & 15) + 16 * (bit s of qh[e%32]);
//   x = (d * sc_s) * q - dmin * m_s
uint fmt_kquants(uint o, uint e) {  // the 5-bit quants of e..e+3 as bytes
    const uint lo = (fmt_u32(o + 48u + 32u * (e / 64u) + (e & 31u)) >> (4u * ((e / 32u) & 1u))) & 0x0F0F0F0Fu;
    const uint hi = (fmt_u32(o + 16u + (e & 31u)) >> (e / 32u)) & 0x01010101u;
    return lo | (hi << 4);
}
#include "formats/k_scale_min.glsl"
