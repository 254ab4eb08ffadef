// Q6_K (256 elements, 210 bytes): ql[128] | qh[64] | int8 scales[16] | d (f16).
//   element e: h = e / 128, c = (e % 128) / 32, l = e % 32;
//   q = (ql[64h + 32*(c%2) + l] >> 4*(c/2) & 15) | ((qh[32h + l] >> 2c) & 3) << 4;
//   x = (d * scales[e/16]) * (q - 32)
uint fmt_q6k_quants(uint o, uint e) {  // the 6-bit quants (0..63) of e..e+3 as bytes
    const uint h = e / 128u, c = (e / 32u) & 3u, l = e & 31u;
    const uint lo = (fmt_u32(o + 64u * h + 32u * (c & 1u) + l) >> (4u * (c >> 1))) & 0x0F0F0F0Fu;
    const uint hi = (fmt_u32(o + 128u + 32u * h + l) >> (2u * c)) & 0x03030303u;
    return lo | (hi << 4);
}
int fmt_q6k_scale(uint o, uint g) { return bitfieldExtract(int(fmt_u8(o + 192u + g)), 0, 8); }

vec4 fmt_dq4(uint o, uint e) {
    const float dl = fmt_f16(o + 208u) * float(fmt_q6k_scale(o, e / 16u));
    return dl * vec4(ivec4(fmt_bytes(fmt_q6k_quants(o, e))) - 32);
}

void fmt_int32(uint o, uint u, out uint q[8], out ivec2 sc, out float d, out float m) {
    d = fmt_f16(o + 208u);
    m = 0.0;
    sc = ivec2(fmt_q6k_scale(o, 2u * u), fmt_q6k_scale(o, 2u * u + 1u));
    for (uint i = 0u; i < 8u; ++i) q[i] = fmt_bias_bytes(fmt_q6k_quants(o, 32u * u + 4u * i), 32u);
}

// A 32-element unit has two int8 sub-scales (one per 16): applied to the quants, d once.
#define FMT_HAS_DQ32
void fmt_dq32(uint o, uint u, out vec4 v[8], out float s) {
    const float s0 = float(fmt_q6k_scale(o, 2u * u)), s1 = float(fmt_q6k_scale(o, 2u * u + 1u));
    for (uint i = 0u; i < 8u; ++i)
        v[i] = (i < 4u ? s0 : s1) * vec4(ivec4(fmt_bytes(fmt_q6k_quants(o, 32u * u + 4u * i))) - 32);
    s = fmt_f16(o + 208u);
}
