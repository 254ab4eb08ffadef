// Q3_K (256 elements, 110 bytes): hmask[32] | qs[64] | scales[12] | d (f16).
//   element e: g = e / 16 with a 6-bit scale s_g (low 4 bits: nibble (g / 8) of scales[g % 8],
//   high 2 bits: bits 2*(g/4) of scales[8 + g%4]);
//   q = ((qs[32*(e/128) + e%32] >> 2*((e/32)%4)) & 3) - (bit e/32 of hmask[e%32] ? 0 : 4);
//   x = (d * (s_g - 32)) * q
int fmt_q3k_scale(uint o, uint g) {
    const uint lo = (fmt_u8(o + 96u + (g & 7u)) >> (4u * (g >> 3))) & 0xFu;
    const uint hi = (fmt_u8(o + 104u + (g & 3u)) >> (2u * (g >> 2))) & 3u;
    return int(lo | (hi << 4)) - 32;
}
// Biased quants (q + 4, 0..7) of the four elements e..e+3 as bytes.
uint fmt_q3k_quants(uint o, uint e) {
    const uint lo = (fmt_u32(o + 32u + 32u * (e / 128u) + (e & 31u)) >> (2u * ((e / 32u) & 3u))) & 0x03030303u;
    const uint hi = (fmt_u32(o + (e & 31u)) >> (e / 32u)) & 0x01010101u;
    return lo | (hi << 2);
}

vec4 fmt_dq4(uint o, uint e) {
    const float dl = fmt_f16(o + 108u) * float(fmt_q3k_scale(o, e / 16u));
    return dl * vec4(ivec4(fmt_bytes(fmt_q3k_quants(o, e))) - 4);
}

void fmt_int32(uint o, uint u, out uint q[8], out ivec2 sc, out float d, out float m) {
    d = fmt_f16(o + 108u);
    m = 0.0;
    sc = ivec2(fmt_q3k_scale(o, 2u * u), fmt_q3k_scale(o, 2u * u + 1u));
    for (uint i = 0u; i < 8u; ++i) q[i] = fmt_bias_bytes(fmt_q3k_quants(o, 32u * u + 4u * i), 4u);
}

// A 32-element unit has two 6-bit sub-scales (one per 16): applied to the quants, d once.
#define FMT_HAS_DQ32
void fmt_dq32(uint o, uint u, out vec4 v[8], out float s) {
    const float s0 = float(fmt_q3k_scale(o, 2u * u)), s1 = float(fmt_q3k_scale(o, 2u * u + 1u));
    for (uint i = 0u; i < 8u; ++i)
        v[i] = (i < 4u ? s0 : s1) * vec4(ivec4(fmt_bytes(fmt_q3k_quants(o, 32u * u + 4u * i))) - 4);
    s = fmt_f16(o + 108u);
}
