// Q6_K (256 elements, 210 bytes): ql[128] | qh[64] | int8 scales[16] | d (f16).
//   element e: h = e / 128, c = (e % 128) / 32, l = e % 32;
//   q = (ql[64h + 32*(c%2) + l] >> 4*(c/2) & 15) | ((qh[32h + l] >> 2c) & 3) << 4;
//   x = (d * scales[e/16]) * (q - 32)
// Grouped layout (ops/weights.hpp): per 8 blocks 8 d at group byte 0, 8 x 16 scales at 16,
// 8 x 64 bytes of high parts at 144 (unit u's 8 bytes at 8u: element 16h + b + 4k at bits
// 2k of byte 4h + b), 8 x 128 bytes of low nibbles at 656 (unit u's 16 bytes at 16u in
// Q4_0's order): a unit is one 16-byte and one 8-byte load, every array 16-byte aligned.
uint fmt_k6_scales(uint o) { return FMT_GROUPED ? fmt_gfield(o, 16u, 16u) : o + 192u; }
uint fmt_k6_hi(uint o, uint u) { return fmt_gfield(o, 144u, 64u) + 8u * u; }  // grouped only
uint fmt_k6_lo(uint o, uint u) { return fmt_gfield(o, 656u, 128u) + 16u * u; }
uint fmt_kquants(uint o, uint e) {  // the 6-bit quants (0..63) of e..e+3 as bytes
    if (FMT_GROUPED) {
        const uint u = e / 32u, j = e & 31u;
        const uint lo = (w[(fmt_k6_lo(o, u) + (j & 15u)) >> 2] >> ((j & 16u) >> 2)) & 0x0F0F0F0Fu;
        const uint hi = (w[(fmt_k6_hi(o, u) + 4u * (j >> 4)) >> 2] >> (2u * ((j & 15u) >> 2))) & 0x03030303u;
        return lo | (hi << 4);
    }
    const uint h = e / 128u, c = (e / 32u) & 3u, l = e & 31u;
    const uint lo = (fmt_u32(o + 64u * h + 32u * (c & 1u) + l) >> (4u * (c >> 1))) & 0x0F0F0F0Fu;
    const uint hi = (fmt_u32(o + 128u + 32u * h + l) >> (2u * c)) & 0x03030303u;
    return lo | (hi << 4);
}
void fmt_kunit(uint o, uint u, out uint q[8]) {
    if (FMT_GROUPED) {
        fmt_unit_nibbles(fmt_u32x4(fmt_k6_lo(o, u)), q);
        const uint p = fmt_k6_hi(o, u) >> 2;
        const uvec2 hw = uvec2(w[p], w[p + 1u]);
        for (uint i = 0u; i < 4u; ++i) {
            q[i] |= ((hw.x >> (2u * i)) & 0x03030303u) << 4;
            q[i + 4u] |= ((hw.y >> (2u * i)) & 0x03030303u) << 4;
        }
        return;
    }
    const uint h = u / 4u, c = u & 3u;
    uint ql[8], qh[8];
    fmt_u32x8(o + 64u * h + 32u * (c & 1u), ql);
    fmt_u32x8(o + 128u + 32u * h, qh);
    for (uint i = 0u; i < 8u; ++i) q[i] = ((ql[i] >> (4u * (c >> 1))) & 0x0F0F0F0Fu) | (((qh[i] >> (2u * c)) & 0x03030303u) << 4);
}
int fmt_kscale(uint o, uint g) { return bitfieldExtract(int(fmt_u8(fmt_k6_scales(o) + g)), 0, 8); }
float fmt_kd(uint o) { return fmt_f16(FMT_GROUPED ? fmt_gfield(o, 0u, 2u) : o + 208u); }
#define FMT_KBIAS 32
#include "formats/k_scale16.glsl"
