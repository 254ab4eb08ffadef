// Shared by the decoders in shaders/formats/ (included by the generated vkrt_decoder.glsl).
//
// Decoder interface. The including kernel declares the weights, bound in their exact
// GGUF byte layout or the grouped layout below (ops/weights.hpp: every block format), as
// `readonly buffer ... { uint w[]; }` (and may alias the same binding as `uvec4 w4[]`,
// defining FMT_HAVE_W4), and defines FMT_LAYOUT_ID (a free specialization-constant id:
// the layout), before the decoder; the generated header defines FMT_QK (elements per block), FMT_BYTES (bytes per block),
// FMT_ALIGN4 (1 when every block starts on a 4-byte boundary; otherwise blocks are
// only 2-byte aligned) and FMT_INT (1 when the format has the integer-dot interface).
//
// Scalar formats (FMT_QK == 1: F32, F16, BF16) provide
//   float fmt_elem(uint i)       element i of the tensor (flat index)
//   vec2  fmt_pair(uint j)       elements 2j, 2j+1 (16-bit formats only: FMT_PAIRS == 1)
// Block formats (FMT_QK % 32 == 0) provide
//   vec4 fmt_dq4(uint o, uint e) elements e..e+3 (e % 4 == 0) of the block starting at
//                                byte o, with ggml's float operations in ggml's order
//                                (so an embedding row equals ggml's dequantize_row_*)
// and may provide (FMT_HAS_DQ32; otherwise formats/derived.glsl builds it from fmt_dq4)
//   void fmt_dq32(uint o, uint u, out vec4 v[8], out float s)
//                                sub-block u (elements 32u..32u+31) as s * v[i][c] for
//                                element 32u+4i+c: a common factor the GEMV applies once
// and, with FMT_INT, the integer-dot interface (FMT_INT_MIN says whether m is used,
// FMT_INT_SC16 whether sc.x may differ from sc.y)
//   void fmt_int32(uint o, uint u, out uint q[8], out ivec2 sc, out float d, out float m)
//                                element 32u+4i+c = d * (sc[h] * q_c) + m, h = (4i+c)/16,
//                                where q_c is byte c of q[i] as a signed int8
// or, for a min per 16 elements (FMT_INT_M16 defined: Q2_K), instead
//   void fmt_int32_m16(uint o, uint u, out uint q[8], out ivec2 sc, out ivec2 mh, out float d, out float m)
//                                element 32u+4i+c = d * (sc[h] * q_c) + m * mh[h]
#ifndef VKRT_FORMAT_HELPERS_GLSL
#define VKRT_FORMAT_HELPERS_GLSL
#include "common.glsl"

uint fmt_u8(uint o) { return (w[o >> 2] >> ((o & 3u) * 8u)) & 0xffu; }
uint fmt_u16(uint o) { return VKRT_LOAD_U16(w, o); }  // o even
float fmt_f16(uint o) { return vkrt_half_to_float(fmt_u16(o)); }
// 32 bits at byte offset o of a block (o % 4 == 0 in 4-byte aligned formats, even otherwise).
uint fmt_u32(uint o) {
#if FMT_ALIGN4
    return w[o >> 2];
#else
    return VKRT_LOAD_U32_ALIGN2(w, o);
#endif
}
// ---- The grouped layout of the 2-byte aligned 32-element formats (Q4_0, Q5_0, Q8_0, IQ4_NL:
// an f16 d, then FMT_BYTES - 2 bytes of quants), which ops::upload_weight repacks them into
// (ops/weights.hpp, WeightLayout::grouped; the file on disk is unchanged). The blocks of a
// weight part are taken 8 at a time; the group of block b sits where its GGUF bytes would,
// at byte (b & ~7) * FMT_BYTES, and holds the 8 d (16 bytes), then the 8 quant arrays:
// every quant array is 4-byte aligned (16-byte for Q4_0, IQ4_NL and Q8_0), so a lane loads
// its block's quants as whole words (16-byte vectors in the GEMV) and lanes on consecutive
// blocks read consecutive bytes. The kernel declares the layout as the specialization
// constant FMT_LAYOUT_ID (its next free id; the host sets it from WeightView::layout), and
// the decoders take `o` as the GGUF byte offset of the block in either layout.
#if FMT_QK == 32 && (FMT_BYTES % 4) == 2
#define FMT_CAN_GROUP 1
#else
#define FMT_CAN_GROUP 0
#endif
layout(constant_id = FMT_LAYOUT_ID) const bool FMT_GROUPED = false;
#if FMT_CAN_GROUP
// Byte offsets of block o's d and of its quants, in the grouped layout.
uint fmt_group_d(uint o) {
    const uint b = o / FMT_BYTES;
    return (b & ~7u) * FMT_BYTES + 2u * (b & 7u);
}
uint fmt_group_q(uint o) {
    const uint b = o / FMT_BYTES;
    return (b & ~7u) * FMT_BYTES + 16u + (b & 7u) * (FMT_BYTES - 2u);
}
// The block's d, and the 32 bits at byte k (k % 4 == 0) of its quants, in either layout.
float fmt_block_d(uint o) { return fmt_f16(FMT_GROUPED ? fmt_group_d(o) : o); }
uint fmt_block_q32(uint o, uint k) { return FMT_GROUPED ? w[(fmt_group_q(o) + k) >> 2] : fmt_u32(o + 2u + k); }

// Whole-block loads: the FMT_WORDS words from the one that holds the block's first byte
// (inside the padded view whether the block starts at byte 0 or 2 of it), read once;
// `odd` = the block starts at byte 2. Unconditional word loads, then register funnel
// shifts, instead of a load per field behind a branch. The grouped layout fills bw as
// an odd block's (d in the high half of word 0, quant word i in word 1 + i), so the
// decoders' FMT_BW32 / FMT_BW_F16 read both layouts (odd is then a constant: no shifts).
#define FMT_WORDS ((FMT_BYTES + 2) / 4)
void fmt_block_words(uint o, out uint bw[FMT_WORDS]) {
    if (FMT_GROUPED) {
        bw[0] = fmt_u16(fmt_group_d(o)) << 16;
        const uint p = fmt_group_q(o);
#if defined(FMT_HAVE_W4) && ((FMT_BYTES - 2) % 16) == 0
        for (uint j = 0u; j < (FMT_BYTES - 2u) / 16u; ++j) {  // 16-byte aligned: vector loads
            const uvec4 v = w4[(p >> 4) + j];
            bw[1u + 4u * j] = v.x;
            bw[2u + 4u * j] = v.y;
            bw[3u + 4u * j] = v.z;
            bw[4u + 4u * j] = v.w;
        }
#else
        for (uint j = 1u; j < FMT_WORDS; ++j) bw[j] = w[(p >> 2) + j - 1u];
#endif
    } else {
        for (uint j = 0u; j < FMT_WORDS; ++j) bw[j] = w[(o >> 2) + j];
    }
}
#define FMT_BLOCK(bw, odd, o)                             \
    uint bw[FMT_WORDS];                                   \
    const bool odd = FMT_GROUPED || ((o) & 2u) != 0u;     \
    fmt_block_words(o, bw)
#endif
// ---- The grouped layout of the other formats (Q4_1, Q5_1, Q2_K..Q6_K, IQ4_XS; the arrays
// are listed in ops/weights.hpp):
// the group of block b at byte (b & ~7) * FMT_BYTES, as above, holds per field an array
// of the 8 blocks' values. The byte of block o's entry in the array at byte `at` of the
// group, `size` bytes an entry:
uint fmt_gfield(uint o, uint at, uint size) {
    const uint b = o / FMT_BYTES;
    return (b & ~7u) * FMT_BYTES + at + (b & 7u) * size;
}
// The 16 bytes at byte p (p % 16 == 0): one vector load where the kernel aliases w4.
uvec4 fmt_u32x4(uint p) {
#ifdef FMT_HAVE_W4
    return w4[p >> 4];
#else
    const uint i = p >> 2;
    return uvec4(w[i], w[i + 1u], w[i + 2u], w[i + 3u]);
#endif
}
// A unit's 32 nibbles as 16 bytes in Q4_0's order (element i low nibble of byte i, 16 + i
// high nibble; the K formats' grouped quants) -> the 8 words of elements 4i..4i+3 as bytes.
void fmt_unit_nibbles(uvec4 v, out uint q[8]) {
    for (uint i = 0u; i < 4u; ++i) {
        q[i] = v[i] & 0x0F0F0F0Fu;
        q[i + 4u] = (v[i] >> 4) & 0x0F0F0F0Fu;
    }
}

// The fp16 at block byte 0, and the 32 bits at block byte b (b = 2 mod 4, a constant).
#define FMT_BW_F16(bw, odd) vkrt_half_to_float(((odd) ? (bw[0] >> 16) : bw[0]) & 0xffffu)
#define FMT_BW32(bw, b, odd) ((odd) ? bw[((b) + 2u) >> 2] : ((bw[(b) >> 2] >> 16) | (bw[((b) >> 2) + 1u] << 16)))

// fmt_int32's outputs for a format whose integer quants carry the whole value but d.
void fmt_int_plain(float dv, out ivec2 sc, out float d, out float m) {
    d = dv;
    m = 0.0;
    sc = ivec2(1);
}

// 8 consecutive 32-bit values from byte p (even) of a 2-byte aligned block: 8 (or 9)
// unconditional word loads and register funnel shifts, not a branch per value. The 9th
// word is read only when p = 2 mod 4, where it still holds bytes of the block.
void fmt_u32x8(uint p, out uint r[8]) {
    const uint b = p >> 2;
    const bool odd = (p & 2u) != 0u;
    uint wv[9];
    for (uint j = 0u; j < 8u; ++j) wv[j] = w[b + j];
    wv[8] = odd ? w[b + 8u] : 0u;
    for (uint j = 0u; j < 8u; ++j) r[j] = odd ? ((wv[j] >> 16) | (wv[j + 1u] << 16)) : wv[j];
}

// The four bytes of a word, as unsigned values.
uvec4 fmt_bytes(uint q) { return (uvec4(q) >> uvec4(0u, 8u, 16u, 24u)) & 0xffu; }
// b - bias for small unsigned integers b (< 2^23), exact, without int -> float conversions:
// b or-ed into the mantissa of the float 2^23 is 2^23 + b.
vec4 fmt_minus_bias(uvec4 b, float bias) { return uintBitsToFloat(b | 0x4B000000u) - (8388608.0 + bias); }
// The four bytes of a word, sign-extended.
ivec4 fmt_sbytes(uint q) { return ivec4(uvec4(q) << uvec4(24u, 16u, 8u, 0u)) >> 24; }
// Per byte v (0..127) of a word: v - bias as a signed int8 (bias <= 128, no carries
// between bytes): (v + 128 - bias) ^ 0x80.
uint fmt_bias_bytes(uint v, uint bias) { return (v + (128u - bias) * 0x01010101u) ^ 0x80808080u; }

// Q5_0 / Q5_1: the 5th bits of the four elements first.. (bits first..first+3 of the
// 32-bit qh), moved to bit 4 of each byte.
uint fmt_q5_high(uint h, uint first) {
    const uint b = (h >> first) & 0xFu;
    return ((b & 1u) << 4) | ((b & 2u) << 11) | ((b & 4u) << 18) | ((b & 8u) << 25);
}

// IQ4_NL / IQ4_XS codebook (ggml-common.h kvalues_iq4nl), as int8 bytes 4 a word:
// {-127, -104, -83, -65}, {-49, -35, -22, -10}, {1, 13, 25, 38}, {53, 69, 89, 113}.
// Looked up with selects and a shift, not an indexed array (which some compilers,
// lavapipe's among them, keep in memory).
const uvec4 kFmtIQ4 = uvec4(0xBFAD9881u, 0xF6EADDCFu, 0x26190D01u, 0x71594535u);
int fmt_iq4_value(uint n) {
    const uint wv = (n < 8u) ? ((n < 4u) ? kFmtIQ4.x : kFmtIQ4.y) : ((n < 12u) ? kFmtIQ4.z : kFmtIQ4.w);
    return int(wv << (24u - 8u * (n & 3u))) >> 24;
}
// The codebook values of the four nibbles at bit `shift` of each byte of q.
ivec4 fmt_iq4_values(uint q, uint shift) {
    const uvec4 n = (uvec4(q) >> (uvec4(0u, 8u, 16u, 24u) + shift)) & 0xFu;
    return ivec4(fmt_iq4_value(n.x), fmt_iq4_value(n.y), fmt_iq4_value(n.z), fmt_iq4_value(n.w));
}
// The same packed as int8 bytes.
uint fmt_iq4_packed(uint q, uint shift) {
    const ivec4 v = fmt_iq4_values(q, shift);
    return (uint(v.x) & 0xffu) | ((uint(v.y) & 0xffu) << 8) | ((uint(v.z) & 0xffu) << 16) | (uint(v.w) << 24);
}

// 6-bit scale and min s (0..7) of the K formats' 12 scale bytes at byte o
// (ggml's get_scale_min_k4).
uvec2 fmt_scale_min_k4(uint o, uint s) {
    if (s < 4u) return uvec2(fmt_u8(o + s) & 63u, fmt_u8(o + s + 4u) & 63u);
    const uint a = fmt_u8(o + s + 4u);
    return uvec2((a & 0xFu) | ((fmt_u8(o + s - 4u) >> 6) << 4), (a >> 4) | ((fmt_u8(o + s) >> 6) << 4));
}
#endif
