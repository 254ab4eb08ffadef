// Q3_K (256 elements, 110 bytes): hmask[32] | qs[64] | scales[12] | d (f16).
//   element e: g = e / 16 with a 6-bit scale s_g (low 4 bits: nibble (g / 8) of scales[g % 8],
//   high 2 bits: bits 2*(g/4) of scales[8 + g%4]);
//   q = ((qs[32*(e/128) + e%32] >> 2*((e/32)%4)) & 3) - (bit e/32 of hmask[e%32] ? 0 : 4);
//   x = (d * (s_g - 32)) * q
// Grouped layout (ops/weights.hpp): per 8 blocks 8 d at group byte 0, 8 x 12 scale bytes
// at 16, 8 x 32 bytes of hmask bits at 112 (unit u's 32 bits as the word at 4u, element
// b + 4k at bit k of byte b), 8 x 64 bytes of 2-bit quants at 368 (unit u's 8 bytes at 8u: element
// 16h + b + 4k at bits 2k of byte 4h + b), every array 16-byte aligned.
uint fmt_k3_scales(uint o) { return FMT_GROUPED ? fmt_gfield(o, 16u, 12u) : o + 96u; }
uint fmt_k3_hm(uint o, uint u) { return w[(fmt_gfield(o, 112u, 32u) + 4u * u) >> 2]; }  // grouped only
uint fmt_k3_lo(uint o, uint u) { return fmt_gfield(o, 368u, 64u) + 8u * u; }
int fmt_kscale(uint o, uint g) {
    const uint sc = fmt_k3_scales(o);
    const uint lo = (fmt_u8(sc + (g & 7u)) >> (4u * (g >> 3))) & 0xFu;
    const uint hi = (fmt_u8(sc + 8u + (g & 3u)) >> (2u * (g >> 2))) & 3u;
    return int(lo | (hi << 4)) - 32;
}
// Biased quants (q + 4, 0..7) of the four elements e..e+3 as bytes.
uint fmt_kquants(uint o, uint e) {
    if (FMT_GROUPED) {
        const uint u = e / 32u, j = e & 31u;
        const uint lo = (w[(fmt_k3_lo(o, u) + 4u * (j >> 4)) >> 2] >> (2u * ((j & 15u) >> 2))) & 0x03030303u;
        return lo | (((fmt_k3_hm(o, u) >> (j >> 2)) & 0x01010101u) << 2);
    }
    const uint lo = (fmt_u32(o + 32u + 32u * (e / 128u) + (e & 31u)) >> (2u * ((e / 32u) & 3u))) & 0x03030303u;
    const uint hi = (fmt_u32(o + (e & 31u)) >> (e / 32u)) & 0x01010101u;
    return lo | (hi << 2);
}
void fmt_kunit(uint o, uint u, out uint q[8]) {
    if (FMT_GROUPED) {
        const uint p = fmt_k3_lo(o, u) >> 2, h = fmt_k3_hm(o, u);
        const uvec2 lw = uvec2(w[p], w[p + 1u]);
        for (uint i = 0u; i < 4u; ++i) {
            q[i] = ((lw.x >> (2u * i)) & 0x03030303u) | (((h >> i) & 0x01010101u) << 2);
            q[i + 4u] = ((lw.y >> (2u * i)) & 0x03030303u) | (((h >> (i + 4u)) & 0x01010101u) << 2);
        }
        return;
    }
    uint lo[8], hm[8];
    fmt_u32x8(o + 32u + 32u * (u / 4u), lo);
    fmt_u32x8(o, hm);
    for (uint i = 0u; i < 8u; ++i) q[i] = ((lo[i] >> (2u * (u & 3u))) & 0x03030303u) | (((hm[i] >> u) & 0x01010101u) << 2);
}
float fmt_kd(uint o) { return fmt_f16(FMT_GROUPED ? fmt_gfield(o, 0u, 2u) : o + 108u); }
#define FMT_KBIAS 4
#include "formats/k_scale16.glsl"
