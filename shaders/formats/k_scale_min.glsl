// Shared by Q4_K and Q5_K: 8 units of 32 elements, each with a 6-bit scale sc_s and min m_s
// (ggml's get_scale_min_k4 over the 12 bytes at fmt_k_scales(o): block byte 4 in the GGUF
// layout), d and dmin (f16) at fmt_k_dm(o) and 2 bytes after (block bytes 0 and 2):
// x = (d * sc_s) * q - dmin * m_s, with the quants q of elements e..e+3 (bytes) from the
// including decoder's fmt_kquants(o, e), those of unit u from its fmt_kunit(o, u, q).
vec4 fmt_dq4(uint o, uint e) {
    const uvec2 sm = fmt_scale_min_k4(fmt_k_scales(o), e / 32u);
    const uint dm = fmt_k_dm(o);
    const float d1 = fmt_f16(dm) * float(sm.x), m1 = fmt_f16(dm + 2u) * float(sm.y);
    precise vec4 x = d1 * vec4(fmt_bytes(fmt_kquants(o, e))) - m1;
    return x;
}

// A unit has one scale and min: decoded once.
#define FMT_HAS_DQ32
void fmt_dq32(uint o, uint u, out vec4 v[8], out float s) {
    const uvec2 sm = fmt_scale_min_k4(fmt_k_scales(o), u);
    const uint dm = fmt_k_dm(o);
    const float d1 = fmt_f16(dm) * float(sm.x), m1 = fmt_f16(dm + 2u) * float(sm.y);
    uint q[8];
    fmt_kunit(o, u, q);
    for (uint i = 0u; i < 8u; ++i) v[i] = d1 * vec4(fmt_bytes(q[i])) - m1;
    s = 1.0;
}

#define FMT_INT_MIN 1
void fmt_int32(uint o, uint u, out uint q[8], out ivec2 sc, out float d, out float m) {
    const uvec2 sm = fmt_scale_min_k4(fmt_k_scales(o), u);
    const uint dm = fmt_k_dm(o);
    d = fmt_f16(dm);
    m = -(fmt_f16(dm + 2u) * float(sm.y));
    sc = ivec2(sm.x);
    fmt_kunit(o, u, q);
}
