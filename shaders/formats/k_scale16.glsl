// Shared by Q3_K and Q6_K: 16 groups of 16 elements with a signed integer sub-scale each
// (the including decoder's fmt_kscale(o, g)), d (f16) from fmt_kd(o), quants stored
// biased by FMT_KBIAS (fmt_kquants(o, e): the biased quants of elements e..e+3 as bytes;
// fmt_kunit(o, u, q): those of the 32-element unit u, 4 a word, from whole-word loads):
//   x = (d * scale_g) * (q - FMT_KBIAS)
vec4 fmt_dq4(uint o, uint e) {
    const float dl = fmt_kd(o) * float(fmt_kscale(o, e / 16u));
    return dl * vec4(ivec4(fmt_bytes(fmt_kquants(o, e))) - FMT_KBIAS);
}

// A 32-element unit has two sub-scales (one per 16): applied to the quants, d once.
#define FMT_HAS_DQ32
void fmt_dq32(uint o, uint u, out vec4 v[8], out float s) {
    const float s0 = float(fmt_kscale(o, 2u * u)), s1 = float(fmt_kscale(o, 2u * u + 1u));
    uint q[8];
    fmt_kunit(o, u, q);
    for (uint i = 0u; i < 8u; ++i) v[i] = (i < 4u ? s0 : s1) * vec4(ivec4(fmt_bytes(q[i])) - FMT_KBIAS);
    s = fmt_kd(o);
}

// sc.x != sc.y: kernels that sum a unit's 8 words before scaling keep the halves apart.
#define FMT_INT_SC16 1
void fmt_int32(uint o, uint u, out uint q[8], out ivec2 sc, out float d, out float m) {
    d = fmt_kd(o);
    m = 0.0;
    sc = ivec2(fmt_kscale(o, 2u * u), fmt_kscale(o, 2u * u + 1u));
    fmt_kunit(o, u, q);
    for (uint i = 0u; i < 8u; ++i) q[i] = fmt_bias_bytes(q[i], uint(FMT_KBIAS));
}
