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
