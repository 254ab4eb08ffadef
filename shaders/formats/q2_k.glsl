// Q2_K (256 elements, 84 bytes): scales[16] | qs[64] | d (f16) | dmin (f16).
//   element e: g = e / 16, sc = scales[g]; q = (qs[32*(e/128) + e%32] >> 2*((e/32)%4)) & 3;
//   x = (d * (sc & 15)) * q - dmin * (sc >> 4)
// Grouped layout (ops/weights.hpp): per 8 blocks 8 (d, dmin) at group byte 0, 8 x 16 scale
// bytes at 32, 8 x 64 bytes of 2-bit quants at 160 (unit u's 8 bytes at 8u: element
// 16h + b + 4k at bits 2k of byte 4h + b, as Q3_K's), every array 16-byte aligned: a unit
// is one 8-byte load of its own quants, where the file spreads them over 32 bytes shared
// by four units.
uint fmt_q2_dm(uint o) { return FMT_GROUPED ? fmt_gfield(o, 0u, 4u) : o + 80u; }  // d, then dmin
uint fmt_q2_scales(uint o) { return FMT_GROUPED ? fmt_gfield(o, 32u, 16u) : o; }
uint fmt_q2_lo(uint o, uint u) { return fmt_gfield(o, 160u, 64u) + 8u * u; }  // grouped only
// The quants (0..3) of elements e..e+3 as bytes.
uint fmt_q2_quants(uint o, uint e) {
    if (FMT_GROUPED) {
        const uint j = e & 31u;
        return (w[(fmt_q2_lo(o, e / 32u) + 4u * (j >> 4)) >> 2] >> (2u * ((j & 15u) >> 2))) & 0x03030303u;
    }
    return (fmt_u32(o + 16u + 32u * (e / 128u) + (e & 31u)) >> (2u * ((e / 32u) & 3u))) & 0x03030303u;
}
// The quants of unit u, 4 a word (element 32u + 4i + c in byte c of q[i]).
void fmt_q2_unit(uint o, uint u, out uint q[8]) {
    if (FMT_GROUPED) {
        const uint p = fmt_q2_lo(o, u) >> 2;
        const uvec2 lw = uvec2(w[p], w[p + 1u]);
        for (uint i = 0u; i < 4u; ++i) {
            q[i] = (lw.x >> (2u * i)) & 0x03030303u;
            q[i + 4u] = (lw.y >> (2u * i)) & 0x03030303u;
        }
        return;
    }
    const uint qo = o + 16u + 32u * (u / 4u), shift = 2u * (u & 3u);
    for (uint i = 0u; i < 8u; ++i) q[i] = (fmt_u32(qo + 4u * i) >> shift) & 0x03030303u;
}
// The scale/min bytes of unit u's two 16-element groups (byte 0: the first's, byte 1: the second's).
uint fmt_q2_sc(uint o, uint u) { return fmt_u16(fmt_q2_scales(o) + 2u * u); }

vec4 fmt_dq4(uint o, uint e) {
    const uint dm = fmt_q2_dm(o);
    const float d = fmt_f16(dm), dmin = fmt_f16(dm + 2u);
    const uint sc = fmt_u8(fmt_q2_scales(o) + e / 16u);
    const float dl = d * float(sc & 15u), ml = dmin * float(sc >> 4);
    precise vec4 x = dl * vec4(fmt_bytes(fmt_q2_quants(o, e))) - ml;
    return x;
}

// A 32-element unit has two scale/min bytes (one per 16), read once.
#define FMT_HAS_DQ32
void fmt_dq32(uint o, uint u, out vec4 v[8], out float s) {
    const uint dm = fmt_q2_dm(o);
    const float d = fmt_f16(dm), dmin = fmt_f16(dm + 2u);
    const uint sc = fmt_q2_sc(o, u);
    const vec2 dl = d * vec2(sc & 15u, (sc >> 8) & 15u), ml = dmin * vec2((sc >> 4) & 15u, sc >> 12);
    uint q[8];
    fmt_q2_unit(o, u, q);
    for (uint i = 0u; i < 8u; ++i) {
        const uint h = i / 4u;
        v[i] = dl[h] * vec4(fmt_bytes(q[i])) - ml[h];
    }
    s = 1.0;
}

// The integer interface of a format with a min per 16 elements (FMT_INT_M16; the kernels
// take it where other formats have fmt_int32, helpers.glsl): unit u as
//   element 32u+4i+c = d * (sc[h] * q_c) + m * mh[h],   h = (4i+c)/16
// with the quants q (0..3, bytes of q[i]), the 4-bit scales sc and mins mh of its two
// 16-element groups, the block's d and m = -dmin.
#define FMT_INT_M16 1
void fmt_int32_m16(uint o, uint u, out uint q[8], out ivec2 sc, out ivec2 mh, out float d, out float m) {
    const uint dm = fmt_q2_dm(o);
    d = fmt_f16(dm);
    m = -fmt_f16(dm + 2u);
    const uint s = fmt_q2_sc(o, u);
    sc = ivec2(s & 15u, (s >> 8) & 15u);
    mh = ivec2((s >> 4) & 15u, s >> 12);
    fmt_q2_unit(o, u, q);
}
