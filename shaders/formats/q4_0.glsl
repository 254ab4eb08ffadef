// Q4_0 (32 elements, 18 bytes): d (f16) | qs[16].
//   element j: q = (j < 16 ? qs[j] & 15 : qs[j-16] >> 4), x = (q - 8) * d
vec4 fmt_dq4(uint o, uint e) {
    const float d = fmt_block_d(o);
    const uint q = fmt_block_q32(o, e & 15u) >> ((e & 16u) >> 2);
    return vec4(ivec4(fmt_bytes(q) & 0xFu) - 8) * d;
}

// Quant word i (0..3) holds elements 4i..4i+3 (low nibbles) and 16+4i.. (high): the
// nibbles minus 8 as floats (fmt_minus_bias: exact, no int -> float conversions).
#define FMT_HAS_DQ32
void fmt_dq32(uint o, uint u, out vec4 v[8], out float s) {
    FMT_BLOCK(bw, odd, o);
    s = FMT_BW_F16(bw, odd);
    for (uint i = 0u; i < 4u; ++i) {
        const uint q = FMT_BW32(bw, 2u + 4u * i, odd);
        v[i] = fmt_minus_bias(fmt_bytes(q & 0x0F0F0F0Fu), 8.0);
        v[i + 4u] = fmt_minus_bias(fmt_bytes((q >> 4) & 0x0F0F0F0Fu), 8.0);
    }
}

void fmt_int32(uint o, uint u, out uint q[8], out ivec2 sc, out float d, out float m) {
    FMT_BLOCK(bw, odd, o);
    fmt_int_plain(FMT_BW_F16(bw, odd), sc, d, m);
    for (uint i = 0u; i < 4u; ++i) {
        const uint qw = FMT_BW32(bw, 2u + 4u * i, odd);
        q[i] = fmt_bias_bytes(qw & 0x0F0F0F0Fu, 8u);
        q[i + 4u] = fmt_bias_bytes((qw >> 4) & 0x0F0F0F0Fu, 8u);
    }
}
