// Q4_0 (32 elements, 18 bytes): d (f16) | qs[16].
//   element j: q = (j < 16 ? qs[j] & 15 : qs[j-16] >> 4), x = (q - 8) * d
vec4 fmt_dq4(uint o, uint e) {
    const float d = fmt_f16(o);
    const uint q = fmt_u32(o + 2u + (e & 15u)) >> ((e & 16u) >> 2);
    return vec4(ivec4(fmt_bytes(q) & 0xFu) - 8) * d;
}

// Quant word i (0..3) holds elements 4i..4i+3 (low nibbles) and 16+4i.. (high). A nibble
// or-ed into the mantissa of the half 1024.0 (0x6400) gives 1024+q exactly: minus 1032
// is q - 8, without int->float conversions.
#define FMT_HAS_DQ32
void fmt_dq32(uint o, uint u, out vec4 v[8], out float s) {
    FMT_BLOCK(bw, odd, o);
    s = FMT_BW_F16(bw, odd);
    for (uint i = 0u; i < 4u; ++i) {
        const uint q = FMT_BW32(bw, 2u + 4u * i, odd);
        const vec2 a0 = unpackHalf2x16((q & 0x000F000Fu) | 0x64006400u) - 1032.0;          // 4i, 4i+2
        const vec2 a1 = unpackHalf2x16(((q >> 8) & 0x000F000Fu) | 0x64006400u) - 1032.0;   // 4i+1, 4i+3
        const vec2 a2 = unpackHalf2x16(((q >> 4) & 0x000F000Fu) | 0x64006400u) - 1032.0;   // 16+4i, +2
        const vec2 a3 = unpackHalf2x16(((q >> 12) & 0x000F000Fu) | 0x64006400u) - 1032.0;  // 16+4i+1, +3
        v[i] = vec4(a0.x, a1.x, a0.y, a1.y);
        v[i + 4u] = vec4(a2.x, a3.x, a2.y, a3.y);
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
