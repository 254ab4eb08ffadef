// IQ4_XS (256 elements, 136 bytes): d (f16) | scales_h (u16) | scales_l[4] | qs[128].
//   sub-block s = e / 32: ls = (scales_l[s/2] >> 4*(s%2) & 15) | ((scales_h >> 2s) & 3) << 4;
//   its 16 bytes at qs[16s]: element j < 16 low nibble of byte j, j >= 16 high nibble of j-16;
//   x = (d * (ls - 32)) * kvalues_iq4nl[q]
int fmt_iq4xs_scale(uint o, uint s) {
    const uint lo = (fmt_u8(o + 4u + s / 2u) >> (4u * (s & 1u))) & 0xFu;
    const uint hi = (fmt_u16(o + 2u) >> (2u * s)) & 3u;
    return int(lo | (hi << 4)) - 32;
}

vec4 fmt_dq4(uint o, uint e) {
    const uint s = e / 32u, j = e & 31u;
    const float dl = fmt_f16(o) * float(fmt_iq4xs_scale(o, s));
    return dl * vec4(fmt_iq4_values(fmt_u32(o + 8u + 16u * s + (j & 15u)), (j & 16u) >> 2));
}

void fmt_int32(uint o, uint u, out uint q[8], out ivec2 sc, out float d, out float m) {
    d = fmt_f16(o);
    m = 0.0;
    sc = ivec2(fmt_iq4xs_scale(o, u));
    for (uint i = 0u; i < 4u; ++i) {
        const uint qw = fmt_u32(o + 8u + 16u * u + 4u * i);
        q[i] = fmt_iq4_packed(qw, 0u);
        q[i + 4u] = fmt_iq4_packed(qw, 4u);
    }
}

// A 32-element unit has one scale: decoded once.
#define FMT_HAS_DQ32
void fmt_dq32(uint o, uint u, out vec4 v[8], out float s) {
    for (uint i = 0u; i < 4u; ++i) {
        const uint qw = fmt_u32(o + 8u + 16u * u + 4u * i);
        v[i] = vec4(fmt_iq4_values(qw, 0u));
        v[i + 4u] = vec4(fmt_iq4_values(qw, 4u));
    }
    s = fmt_f16(o) * float(fmt_iq4xs_scale(o, u));
}
