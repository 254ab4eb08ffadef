// IQ4_NL (32 elements, 18 bytes): d (f16) | qs[16], laid out as Q4_0;
//   x = d * kvalues_iq4nl[q]
vec4 fmt_dq4(uint o, uint e) {
    const float d = fmt_block_d(o);
    return d * vec4(fmt_iq4_values(fmt_block_q32(o, e & 15u), (e & 16u) >> 2));
}

void fmt_int32(uint o, uint u, out uint q[8], out ivec2 sc, out float d, out float m) {
    FMT_BLOCK(bw, odd, o);
    fmt_int_plain(FMT_BW_F16(bw, odd), sc, d, m);
    for (uint i = 0u; i < 4u; ++i) {
        const uint qw = FMT_BW32(bw, 2u + 4u * i, odd);
        q[i] = fmt_iq4_packed(qw, 0u);
        q[i + 4u] = fmt_iq4_packed(qw, 4u);
    }
}

#define FMT_HAS_DQ32
void fmt_dq32(uint o, uint u, out vec4 v[8], out float s) {
    FMT_BLOCK(bw, odd, o);
    for (uint i = 0u; i < 4u; ++i) {
        const uint qw = FMT_BW32(bw, 2u + 4u * i, odd);
        v[i] = vec4(fmt_iq4_values(qw, 0u));
        v[i + 4u] = vec4(fmt_iq4_values(qw, 4u));
    }
    s = FMT_BW_F16(bw, odd);
}
