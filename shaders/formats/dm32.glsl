// Shared by Q4_1 and Q5_1: 32 elements, d and m (f16) at fmt_dm_at(o) and 2 bytes after
// (block bytes 0 and 2 in the GGUF layout), the quants of elements e..e+3 as bytes from the
// including decoder's fmt_dm_quants(o, e), the block's from its fmt_dm_unit(o, q): x = q * d + m.
vec4 fmt_dq4(uint o, uint e) {
    const uint dm = fmt_dm_at(o);
    const float d = fmt_f16(dm), m = fmt_f16(dm + 2u);
    precise vec4 x = vec4(fmt_bytes(fmt_dm_quants(o, e))) * d + m;
    return x;
}

#define FMT_INT_MIN 1
void fmt_int32(uint o, uint u, out uint q[8], out ivec2 sc, out float d, out float m) {
    const uint dm = fmt_dm_at(o);
    d = fmt_f16(dm);
    m = fmt_f16(dm + 2u);
    sc = ivec2(1);
    fmt_dm_unit(o, q);
}
