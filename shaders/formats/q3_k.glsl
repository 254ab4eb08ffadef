// Q3_K (256 elements, 110 bytes): hmask[32] | qs[64] | scales[12] | d (f16).
//   element e: g = e / 16 with a 6-bit scale s_g (low 4 bits: nibble (g / 8) of scales[g % 8],
//   high 2 bits: bits 2*(g/4) of scales[8 + g%4]);
//   q = ((qs[32*(e/128) + e%32] >> 2*((e/32)%4)) & 3) - (bit e/32 of hmask[e%32] ? 0 : 4);
//   x = (d * (s_g - 32)) * q
int fmt_kscale(uint o, uint g) {
    const uint lo = (fmt_u8(o + 96u + (g & 7u)) >> (4u * (g >> 3))) & 0xFu;
    const uint hi = (fmt_u8(o + 104u + (g & 3u)) >> (2u * (g >> 2))) & 3u;
    return int(lo | (hi << 4)) - 32;
}
// Biased quants (q + 4, 0..7) of the four elements e..e+3 as bytes.
uint fmt_kquants(uint o, uint e) {
    const uint lo = (fmt_u32(o + 32u + 32u * (e / 128u) + (e & 31u)) >> (2u * ((e / 32u) & 3u))) & 0x03030303u;
    const uint hi = (fmt_u32(o + (e & 31u)) >> (e / 32u)) & 0x01010101u;
    return lo | (hi << 2);
}
void fmt_kunit(uint o, uint u, out uint q[8]) {
    uint lo[8], hm[8];
    fmt_u32x8(o + 32u + 32u * (u / 4u), lo);
    fmt_u32x8(o, hm);
    for (uint i = 0u; i < 8u; ++i) q[i] = ((lo[i] >> (2u * (u & 3u))) & 0x03030303u) | (((hm[i] >> u) & 0x01010101u) << 2);
}
#define FMT_KD 108u
#define FMT_KBIAS 4
#include "formats/k_scale16.glsl"
