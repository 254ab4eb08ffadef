// Q2_K (256 elements, 84 bytes): scales[16] | qs[64] | d (f16) | dmin (f16).
//   element e: g = e / 16, sc = scales[g]; q = (qs[32*(e/128) + e%32] >> 2*((e/32)%4)) & 3;
//   x = (d * (sc & 15)) * q - dmin * (sc >> 4)
vec4 fmt_dq4(uint o, uint e) {
    const float d = fmt_f16(o + 80u), dmin = fmt_f16(o + 82u);
    const uint sc = fmt_u8(o + e / 16u);
    const float dl = d * float(sc & 15u), ml = dmin * float(sc >> 4);
    const uint q = fmt_u32(o + 16u + 32u * (e / 128u) + (e & 31u)) >> (2u * ((e / 32u) & 3u));
    precise vec4 x = dl * vec4(fmt_bytes(q) & 3u) - ml;
    return x;
}

// A 32-element unit has two scale/min bytes (one per 16), read once.
#define FMT_HAS_DQ32
void fmt_dq32(uint o, uint u, out vec4 v[8], out float s) {
    const float d = fmt_f16(o + 80u), dmin = fmt_f16(o + 82u);
    const uint sc0 = fmt_u8(o + 2u * u), sc1 = fmt_u8(o + 2u * u + 1u);
    const vec2 dl = d * vec2(sc0 & 15u, sc1 & 15u), ml = dmin * vec2(sc0 >> 4, sc1 >> 4);
    const uint qo = o + 16u + 32u * (u / 4u), shift = 2u * (u & 3u);
    for (uint i = 0u; i < 8u; ++i) {
        const uint h = i / 4u;
        v[i] = dl[h] * vec4(fmt_bytes(fmt_u32(qo + 4u * i) >> shift) & 3u) - ml[h];
    }
    s = 1.0;
}

// The int8-dot GEMM's interface for a format with a min per 16 elements (shaders/mmq.comp
// only, formats.def VKRT_K_MMQ; the integer GEMV has none): unit u as
//   element 32u+4i+c = d * (sc[h] * q_c) - dmin * mh[h],   h = (4i+c)/16
// with the quants q (0..3, bytes of q[i]), the 4-bit scales sc and mins mh of its two
// 16-element groups, and the block's d and dmin.
#define FMT_INT_M16 1
void fmt_int32_m16(uint o, uint u, out uint q[8], out ivec2 sc, out ivec2 mh, out float d, out float dmin) {
    d = fmt_f16(o + 80u);
    dmin = fmt_f16(o + 82u);
    const uint sc0 = fmt_u8(o + 2u * u), sc1 = fmt_u8(o + 2u * u + 1u);
    sc = ivec2(sc0 & 15u, sc1 & 15u);
    mh = ivec2(sc0 >> 4, sc1 >> 4);
    const uint qo = o + 16u + 32u * (u / 4u), shift = 2u * (u & 3u);
    for (uint i = 0u; i < 8u; ++i) q[i] = (fmt_u32(qo + 4u * i) >> shift) & 0x03030303u;
}
