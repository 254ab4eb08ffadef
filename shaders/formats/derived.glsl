// What a block decoder leaves out, built from its fmt_dq4 (see helpers.glsl).
#if FMT_QK > 1 && !defined(FMT_HAS_DQ32)
void fmt_dq32(uint o, uint u, out vec4 v[8], out float s) {
    for (uint i = 0u; i < 8u; ++i) v[i] = fmt_dq4(o, 32u * u + 4u * i);
    s = 1.0;
}
#endif
#ifndef FMT_INT_MIN
#define FMT_INT_MIN 0
#endif
#ifndef FMT_PAIRS
#define FMT_PAIRS 0
#endif
