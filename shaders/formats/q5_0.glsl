// Q5_0 (32 elements, 22 bytes): d (f16) | qh[4] | qs[16].
//   element j: q = (j < 16 ? qs[j] & 15 : qs[j-16] >> 4) | (bit j of qh) << 4, x = (q - 16) * d

vec4 fmt_dq4(uint o, uint e) {
    const float d = fmt_block_d(o);
    const uint q = ((fmt_block_q32(o, 4u + (e & 15u)) >> ((e & 16u) >> 2)) & 0x0F0F0F0Fu) | fmt_q5_high(fmt_block_q32(o, 0u), e);
    return vec4(ivec4(fmt_bytes(q)) - 16) * d;
}

void fmt_int32(uint o, uint u, out uint q[8], out ivec2 sc, out float d, out float m) {
    FMT_BLOCK(bw, odd, o);
    fmt_int_plain(FMT_BW_F16(bw, odd), sc, d, m);
    const uint h = FMT_BW32(bw, 2u, odd);
    for (uint i = 0u; i < 4u; ++i) {
        const uint qw = FMT_BW32(bw, 6u + 4u * i, odd);
        q[i] = fmt_bias_bytes((qw & 0x0F0F0F0Fu) | fmt_q5_high(h, 4u * i), 16u);
        q[i + 4u] = fmt_bias_bytes(((qw >> 4) & 0x0F0F0F0Fu) | fmt_q5_high(h, 16u + 4u * i), 16u);
    }
}

#define FMT_HAS_DQ32
void fmt_dq32(uint o, uint u, out vec4 v[8], out float s) {
    FMT_BLOCK(bw, odd, o);
    s = FMT_BW_F16(bw, odd);
    const uint h = FMT_BW32(bw, 2u, odd);
    for (uint i = 0u; i < 4u; ++i) {
        const uint qw = FMT_BW32(bw, 6u + 4u * i, odd);
        v[i] = vec4(ivec4(fmt_bytes((qw & 0x0F0F0F0Fu) | fmt_q5_high(h, 4u * i))) - 16);
        v[i + 4u] = vec4(ivec4(fmt_bytes(((qw >> 4) & 0x0F0F0F0Fu) | fmt_q5_high(h, 16u + 4u * i))) - 16);
    }
}
