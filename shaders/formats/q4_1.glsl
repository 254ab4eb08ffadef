// Q4_1 (32 elements, 20 bytes): d (f16) | m (f16) | qs[16].
//   element j: q = (j < 16 ? qs[j] & 15 : qs[j-16] >> 4), x = q * d + m
vec4 fmt_dq4(uint o, uint e) {
    const float d = fmt_f16(o), m = fmt_f16(o + 2u);
    const uint q = fmt_u32(o + 4u + (e & 15u)) >> ((e & 16u) >> 2);
    precise vec4 x = vec4(fmt_bytes(q) & 0xFu) * d + m;
    return x;
}

#define FMT_INT_MIN 1
void fmt_int32(uint o, uint u, out uint q[8], out ivec2 sc, out float d, out float m) {
    d = fmt_f16(o);
    m = fmt_f16(o + 2u);
    sc = ivec2(1);
    for (uint i = 0u; i < 4u; ++i) {
        const uint qw = fmt_u32(o + 4u + 4u * i);
        q[i] = qw & 0x0F0F0F0Fu;
        q[i + 4u] = (qw >> 4) & 0x0F0F0F0Fu;
    }
}
