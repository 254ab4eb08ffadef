// IQ4_XS (256 elements, 136 bytes): d (f16) | scales_h (u16) | scales_l[4] | qs[128].
//   sub-block s = e / 32: ls = (scales_l[s/2] >> 4*(s%2) & 15) | ((scales_h >> 2s) & 3) << 4;
//   its 16 bytes at qs[16s]: element j < 16 low nibble of byte j, j >= 16 high nibble of j-16;
//   x = (d * (ls - 32)) * kvalues_iq4nl[q]
// Grouped layout (ops/weights.hpp): per 8 blocks 8 (d, scales_h) at group byte 0, 8
// scales_l words at 32, 8 x 128 quant bytes at 64 (a unit's 16 bytes 16-byte aligned).
uint fmt_xs_dh(uint o) { return FMT_GROUPED ? fmt_gfield(o, 0u, 4u) : o; }  // d, then scales_h
uint fmt_xs_sl(uint o) { return FMT_GROUPED ? fmt_gfield(o, 32u, 4u) : o + 4u; }
uint fmt_xs_qs(uint o, uint s) { return (FMT_GROUPED ? fmt_gfield(o, 64u, 128u) : o + 8u) + 16u * s; }
// The 16 quant bytes of unit s as 4 words.
uvec4 fmt_xs_unit(uint o, uint s) {
    const uint p = fmt_xs_qs(o, s);
    if (FMT_GROUPED) return fmt_u32x4(p);
    return uvec4(fmt_u32(p), fmt_u32(p + 4u), fmt_u32(p + 8u), fmt_u32(p + 12u));
}
int fmt_iq4xs_scale(uint o, uint s) {
    const uint lo = (fmt_u8(fmt_xs_sl(o) + s / 2u) >> (4u * (s & 1u))) & 0xFu;
    const uint hi = (fmt_u16(fmt_xs_dh(o) + 2u) >> (2u * s)) & 3u;
    return int(lo | (hi << 4)) - 32;
}

vec4 fmt_dq4(uint o, uint e) {
    const uint s = e / 32u, j = e & 31u;
    const float dl = fmt_f16(fmt_xs_dh(o)) * float(fmt_iq4xs_scale(o, s));
    return dl * vec4(fmt_iq4_values(fmt_u32(fmt_xs_qs(o, s) + (j & 15u)), (j & 16u) >> 2));
}

void fmt_int32(uint o, uint u, out uint q[8], out ivec2 sc, out float d, out float m) {
    d = fmt_f16(fmt_xs_dh(o));
    m = 0.0;
    sc = ivec2(fmt_iq4xs_scale(o, u));
    const uvec4 v = fmt_xs_unit(o, u);
    for (uint i = 0u; i < 4u; ++i) {
        q[i] = fmt_iq4_packed(v[i], 0u);
        q[i + 4u] = fmt_iq4_packed(v[i], 4u);
    }
}

// A 32-element unit has one scale: decoded once.
#define FMT_HAS_DQ32
void fmt_dq32(uint o, uint u, out vec4 v[8], out float s) {
    const uvec4 qv = fmt_xs_unit(o, u);
    for (uint i = 0u; i < 4u; ++i) {
        v[i] = vec4(fmt_iq4_values(qv[i], 0u));
        v[i + 4u] = vec4(fmt_iq4_values(qv[i], 4u));
    }
    s = fmt_f16(fmt_xs_dh(o)) * float(fmt_iq4xs_scale(o, u));
}
