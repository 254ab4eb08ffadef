// IQ4_NL (32 elements, 18 bytes): d (f16) | qs[16], laid out as Q4_0;
//   x = d * kvalues_iq4nl[q]
vec4 fmt_dq4(uint o, uint e) {
    const float d = fmt_f16(o);
    return d * vec4(fmt_iq4_values(fmt_u32(o + 2u + (e & 15u)), (e & 16u) >> 2));
}

void fmt_int32(uint o, uint u, out uint q[8], out ivec2 sc, out float d, out float m) {
    d = fmt_f16(o);
    m = 0.0;
    sc = ivec2(1);
    for (uint i = 0u; i < 4u; ++i) {
        const uint qw = fmt_u32(o + 2u + 4u * i);
        q[i] = fmt_iq4_packed(qw, 0u);
        q[i + 4u] = fmt_iq4_packed(qw, 4u);
    }
}

#define FMT_HAS_DQ32
void fmt_dq32(uint o, uint u, out vec4 v[8], out float s) {
    for (uint i = 0u; i < 4u; ++i) {
        const uint qw = fmt_u32(o + 2u + 4u * i);
        v[i] = vec4(fmt_iq4_values(qw, 0u));
        v[i + 4u] = vec4(fmt_iq4_values(qw, 4u));
    }
    s = fmt_f16(o);
}
