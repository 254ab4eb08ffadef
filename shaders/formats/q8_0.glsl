// Q8_0 (32 elements, 34 bytes): d (f16) | int8 qs[32].   x = qs[j] * d
vec4 fmt_dq4(uint o, uint e) {
    const float d = fmt_f16(o);
    return vec4(fmt_sbytes(fmt_u32(o + 2u + e))) * d;
}

// Quant word i (0..7) holds elements 4i..4i+3. A biased byte q^0x80 or-ed into the
// mantissa of the half 1024.0 gives 1024+128+q exactly: minus 1152 is q.
#define FMT_HAS_DQ32
void fmt_dq32(uint o, uint u, out vec4 v[8], out float s) {
    FMT_BLOCK(bw, odd, o);
    s = FMT_BW_F16(bw, odd);
    for (uint i = 0u; i < 8u; ++i) {
        const uint q = FMT_BW32(bw, 2u + 4u * i, odd) ^ 0x80808080u;
        const vec2 a0 = unpackHalf2x16((q & 0x00FF00FFu) | 0x64006400u) - 1152.0;         // 4i, 4i+2
        const vec2 a1 = unpackHalf2x16(((q >> 8) & 0x00FF00FFu) | 0x64006400u) - 1152.0;  // 4i+1, 4i+3
        v[i] = vec4(a0.x, a1.x, a0.y, a1.y);
    }
}

void fmt_int32(uint o, uint u, out uint q[8], out ivec2 sc, out float d, out float m) {
    FMT_BLOCK(bw, odd, o);
    fmt_int_plain(FMT_BW_F16(bw, odd), sc, d, m);
    for (uint i = 0u; i < 8u; ++i) q[i] = FMT_BW32(bw, 2u + 4u * i, odd);
}
