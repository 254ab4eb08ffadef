// Q4_K (256 elements, 144 bytes): d (f16) | dmin (f16) | scales[12] | qs[128].
//   element e: s = e / 32 with 6-bit scale sc_s and min m_s (get_scale_min_k4);
//   q = qs[32*(e/64) + e%32] >> 4*(s%2) & 15;  x = (d * sc_s) * q - dmin * m_s
uint fmt_q4k_quants(uint o, uint e) {  // the four nibbles of e..e+3 as bytes
    return (fmt_u32(o + 16u + 32u * (e / 64u) + (e & 31u)) >> (4u * ((e / 32u) & 1u))) & 0x0F0F0F0Fu;
}

vec4 fmt_dq4(uint o, uint e) {
    const uvec2 sm = fmt_scale_min_k4(o + 4u, e / 32u);
    const float d1 = fmt_f16(o) * float(sm.x), m1 = fmt_f16(o + 2u) * float(sm.y);
    precise vec4 x = d1 * vec4(fmt_bytes(fmt_q4k_quants(o, e))) - m1;
    return x;
}

#define FMT_INT_MIN 1
void fmt_int32(uint o, uint u, out uint q[8], out ivec2 sc, out float d, out float m) {
    const uvec2 sm = fmt_scale_min_k4(o + 4u, u);
    d = fmt_f16(o);
    m = -(fmt_f16(o + 2u) * float(sm.y));
    sc = ivec2(sm.x);
    for (uint i = 0u; i < 8u; ++i) q[i] = fmt_q4k_quants(o, 32u * u + 4u * i);
}

// A 32-element unit has one scale and min: decoded once.
#define FMT_HAS_DQ32
void fmt_dq32(uint o, uint u, out vec4 v[8], out float s) {
    const uvec2 sm = fmt_scale_min_k4(o + 4u, u);
    const float d1 = fmt_f16(o) * float(sm.x), m1 = fmt_f16(o + 2u) * float(sm.y);
    for (uint i = 0u; i < 8u; ++i) v[i] = d1 * vec4(fmt_bytes(fmt_q4k_quants(o, 32u * u + 4u * i))) - m1;
    s = 1.0;
}
