// Shared by Q4_1 and Q5_1: 32 elements, d and m (f16) at block bytes 0 and 2, the quants of
// elements e..e+3 as bytes from the including decoder's fmt_dm_quants(o, e): x = q * d + m.
vec4 fmt_dq4(uint o, uint e) {
    const float d = fmt_f16(o), m = fmt_f16(o + 2u);
    precise vec4 x = vec4(fmt_bytes(fmt_dm_quants(o, e))) * d + m;
    return x;
}

#define FMT_INT_MIN 1
void fmt_int32(uint o, uint u, out uint q[8], out ivec2 sc, out float d, out float m) {
    d = fmt_f16(o);
    m = fmt_f16(o + 2u);
    sc = ivec2(1);
    for (uint i = 0u; i < 8u; ++i) q[i] = fmt_dm_quants(o, 4u * i);
}
