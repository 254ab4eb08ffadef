// Q6_K (256 elements, 210 bytes): ql[128] | qh[64] | int8 scales[16] | d (f16).
//   element e: h = e / 128, c = (e % 128) / 32, l = e % 32;
//   q = (ql[64h + 32*(c%2) + l] >> 4*(c/2) & 15) | ((qh[32h + l] >> 2c) & 3) << 4;
//   x = (d * scales[e/16]) * (q - 32)
uint fmt_kquants(uint o, uint e) {  // the 6-bit quants (0..63) of e..e+3 as bytes
    const uint h = e / 128u, c = (e / 32u) & 3u, l = e & 31u;
    const uint lo = (fmt_u32(o + 64u * h + 32u * (c & 1u) + l) >> (4u * (c >> 1))) & 0x0F0F0F0Fu;
    const uint hi = (fmt_u32(o + 128u + 32u * h + l) >> (2u * c)) & 0x03030303u;
    return lo | (hi << 4);
}
void fmt_kunit(uint o, uint u, out uint q[8]) {
    const uint h = u / 4u, c = u & 3u;
    uint ql[8], qh[8];
    fmt_u32x8(o + 64u * h + 32u * (c & 1u), ql);
    fmt_u32x8(o + 128u + 32u * h, qh);
    for (uint i = 0u; i < 8u; ++i) q[i] = ((ql[i] >> (4u * (c >> 1))) & 0x0F0F0F0Fu) | (((qh[i] >> (2u * c)) & 0x03030303u) << 4);
}
int fmt_kscale(uint o, uint g) { return bitfieldExtract(int(fmt_u8(o + 192u + g)), 0, 8); }
#define FMT_KD 208u
#define FMT_KBIAS 32
#include "formats/k_scale16.glsl"
