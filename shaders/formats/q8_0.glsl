// Q8_0 (32 elements, 34 bytes): d (f16) | int8 qs[32].   x = qs[j] * d
vec4 fmt_dq4(uint o, uint e) {
    const float d = fmt_block_d(o);
    return vec4(fmt_sbytes(fmt_block_q32(o, e))) * d;
}

// Quant word i (0..7) holds elements 4i..4i+3: its bytes biased to q + 128 (^ 0x80), minus
// 128 as floats (fmt_minus_bias: exact, no int -> float conversions).
#define FMT_HAS_DQ32
void fmt_dq32(uint o, uint u, out vec4 v[8], out float s) {
    FMT_BLOCK(bw, odd, o);
    s = FMT_BW_F16(bw, odd);
    for (uint i = 0u; i < 8u; ++i)
        v[i] = fmt_minus_bias(fmt_bytes(FMT_BW32(bw, 2u + 4u * i, odd) ^ 0x80808080u), 128.0);
}

void fmt_int32(uint o, uint u, out uint q[8], out ivec2 sc, out float d, out float m) {
    FMT_BLOCK(bw, odd, o);
    fmt_int_plain(FMT_BW_F16(bw, odd), sc, d, m);
    for (uint i = 0u; i < 8u; ++i) q[i] = FMT_BW32(bw, 2u + 4u * i, odd);
}
