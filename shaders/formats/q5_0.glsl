// Q5_0 (32 elements, 22 bytes): d (f16) | qh[4] | qs[16].
//   element j: q = (j < 16 ? qs[j] & 15 : qs[j-16] >> 4) | (bit j of qh) << 4, x = (q - 16) * d
// The 5th bits of the four elements 4i.. (bits 4i..4i+3 of h), moved to bit 4 of each byte.
uint fmt_q5_high(uint h, uint first) {
    const uint b = (h >> first) & 0xFu;
    return ((b & 1u) << 4) | ((b & 2u) << 11) | ((b & 4u) << 18) | ((b & 8u) << 25);
}

vec4 fmt_dq4(uint o, uint e) {
    const float d = fmt_f16(o);
    const uint q = ((fmt_u32(o + 6u + (e & 15u)) >> ((e & 16u) >> 2)) & 0x0F0F0F0Fu) | fmt_q5_high(fmt_u32(o + 2u), e);
    return vec4(ivec4(fmt_bytes(q)) - 16) * d;
}

void fmt_int32(uint o, uint u, out uint q[8], out ivec2 sc, out float d, out float m) {
    d = fmt_f16(o);
    m = 0.0;
    sc = ivec2(1);
    const uint h = fmt_u32(o + 2u);
    for (uint i = 0u; i < 4u; ++i) {
        const uint qw = fmt_u32(o + 6u + 4u * i);
        q[i] = fmt_bias_bytes((qw & 0x0F0F0F0Fu) | fmt_q5_high(h, 4u * i), 16u);
        q[i + 4u] = fmt_bias_bytes(((qw >> 4) & 0x0F0F0F0Fu) | fmt_q5_high(h, 16u + 4u * i), 16u);
    }
}
