// KV-cache rows: how the store kernels (kv_store.comp, rope.comp's rope_store variants)
// write them and the attention kernels read them. A cache holds `rows` rows of `width` =
// n_head_kv * head_dim elements, position p in row p % rows (a ring: shaders/kv_store.comp); its type is a ggml type id (vkrt_formats.glsl, from formats.def):
//   VKRT_TYPE_F32:  width floats a row.
//   VKRT_TYPE_F16:  width IEEE halves a row (width even): element e of row r is half
//                   ((r*width + e) & 1) of word (r*width + e) / 2 (little-endian).
//   VKRT_TYPE_Q8_0: width / 32 ggml q8_0 blocks a row (width % 32 == 0), packed with no
//                   padding (34 bytes a block: fp16 d | int8 q[32]; value = d * q), so row r
//                   starts at byte r * (width/32) * 34: 2-byte aligned, blocks straddle words.
// Every cache is bound as uint[] (no 8/16-bit storage feature needed); the host rounds
// the buffer up to whole words.
#ifndef VKRT_KV_CACHE_GLSL
#define VKRT_KV_CACHE_GLSL
#include "common.glsl"
#include "vkrt_formats.glsl"

// Bytes of a q8_0 row of `width` elements.
#define KV_Q8_0_ROW_BYTES(width) (((width) >> 5) * uint(VKRT_BYTES_Q8_0))

// Element e of row r of a cache `c` of `width` elements a row, as float.
#define KV_LOAD_F32(c, r, e, width) uintBitsToFloat(c[(r) * (width) + (e)])
#define KV_LOAD_F16(c, r, e, width) kv_half(c[((r) * (width) + (e)) >> 1], ((r) * (width) + (e)) & 1u)
#define KV_Q8_0_BLOCK(r, e, width) ((r) * KV_Q8_0_ROW_BYTES(width) + ((e) >> 5) * uint(VKRT_BYTES_Q8_0))
#define KV_LOAD_Q8_0(c, r, e, width) kv_q8_0(c, KV_Q8_0_BLOCK(r, e, width), (e) & 31u)
// d * q of element j of the q8_0 block at byte `off` (d * q is exact in float).
#define kv_q8_0(c, off, j) (VKRT_LOAD_F16(c, off) * float(i8_of(c[((off) + 2u + (j)) >> 2], ((off) + 2u + (j)) & 3u)))
// Load for a type chosen at compile time (TYPE is a preprocessor constant).
#define KV_LOAD(TYPE, c, r, e, width)                                              \
    ((TYPE) == VKRT_TYPE_F16 ? KV_LOAD_F16(c, r, e, width)                         \
     : (TYPE) == VKRT_TYPE_Q8_0 ? KV_LOAD_Q8_0(c, r, e, width) : KV_LOAD_F32(c, r, e, width))

float kv_half(uint w, uint i) { return vkrt_half_to_float((w >> (16u * i)) & 0xffffu); }

// ---- four elements at once (the attention kernels' K/V reads) --------------------------
// Elements e .. e+3 of row r as a vec4, those at or past `lim` (the end of the head the
// caller reads, e < lim) zero. Where the four lie inside the head and are aligned for the
// type they come with the fewest loads: F32 four consecutive words, F16 two whole words
// (element r*width + e even), Q8_0 the block's scale and one 32-bit load of four int8 (e
// a multiple of 4: the four are in one block); elsewhere (the tail of a head, odd head
// dims) one KV_LOAD per element. The values are those KV_LOAD gives, bit for bit.
#define KV_LOAD4_ANY(TYPE, c, r, e, lim, width) vec4(                    \
    (e) + 0u < (lim) ? KV_LOAD(TYPE, c, r, (e) + 0u, width) : 0.0,       \
    (e) + 1u < (lim) ? KV_LOAD(TYPE, c, r, (e) + 1u, width) : 0.0,       \
    (e) + 2u < (lim) ? KV_LOAD(TYPE, c, r, (e) + 2u, width) : 0.0,       \
    (e) + 3u < (lim) ? KV_LOAD(TYPE, c, r, (e) + 3u, width) : 0.0)
#define KV_LOAD4_F32(c, r, e, width) vec4(KV_LOAD_F32(c, r, (e) + 0u, width), KV_LOAD_F32(c, r, (e) + 1u, width), \
                                          KV_LOAD_F32(c, r, (e) + 2u, width), KV_LOAD_F32(c, r, (e) + 3u, width))
#define KV_LOAD4_F16(c, r, e, width) vec4(vkrt_half2_to_float(c[((r) * (width) + (e)) >> 1]), \
                                          vkrt_half2_to_float(c[(((r) * (width) + (e)) >> 1) + 1u]))
#define KV_LOAD4_Q8_0(c, r, e, width) \
    (kv_i8x4(VKRT_LOAD_U32_ALIGN2(c, KV_Q8_0_BLOCK(r, e, width) + 2u + ((e) & 31u))) * VKRT_LOAD_F16(c, KV_Q8_0_BLOCK(r, e, width)))
// Whether KV_LOAD4_<TYPE> may read elements e .. e+3 of row r (see above).
#define KV_LOAD4_FAST(TYPE, r, e, lim, width)                                  \
    ((e) + 4u <= (lim) && ((TYPE) == VKRT_TYPE_F16 ? (((r) * (width) + (e)) & 1u) == 0u \
                           : (TYPE) == VKRT_TYPE_Q8_0 ? ((e) & 3u) == 0u : true))
#define KV_LOAD4(TYPE, c, r, e, lim, width)                                                      \
    (KV_LOAD4_FAST(TYPE, r, e, lim, width)                                                       \
         ? ((TYPE) == VKRT_TYPE_F16 ? KV_LOAD4_F16(c, r, e, width)                               \
            : (TYPE) == VKRT_TYPE_Q8_0 ? KV_LOAD4_Q8_0(c, r, e, width) : KV_LOAD4_F32(c, r, e, width)) \
         : KV_LOAD4_ANY(TYPE, c, r, e, lim, width))

// ---- four halves of an F16 cache, as bits (the prefill kernel's shared tiles) ---------
// Elements e .. e+3 of row r of an F16 cache as two words of halves (element e in the low
// half of .x), those at or past `lim` zero bits (+0.0): the cache's two words where the
// four are in the head and start a word (one 64-bit load), else one half at a time.
// kv_half4 turns them into the floats KV_LOAD4 gives, bit for bit.
#define KV_HALF_BITS(c, r, e, width) ((c[((r) * (width) + (e)) >> 1] >> (16u * (((r) * (width) + (e)) & 1u))) & 0xffffu)
#define KV_HALF_BITS_OR0(c, r, e, lim, width) ((e) < (lim) ? KV_HALF_BITS(c, r, e, width) : 0u)
#define KV_LOAD4_HALF_BITS(c, r, e, lim, width)                                                          \
    (KV_LOAD4_FAST(VKRT_TYPE_F16, r, e, lim, width)                                                      \
         ? uvec2(c[((r) * (width) + (e)) >> 1], c[(((r) * (width) + (e)) >> 1) + 1u])                    \
         : uvec2(KV_HALF_BITS_OR0(c, r, (e) + 0u, lim, width) | (KV_HALF_BITS_OR0(c, r, (e) + 1u, lim, width) << 16), \
                 KV_HALF_BITS_OR0(c, r, (e) + 2u, lim, width) | (KV_HALF_BITS_OR0(c, r, (e) + 3u, lim, width) << 16)))
vec4 kv_half4(uvec2 h) { return vec4(vkrt_half2_to_float(h.x), vkrt_half2_to_float(h.y)); }

// The four int8 of a word (byte 0 first), as floats.
vec4 kv_i8x4(uint w) { return vec4(i8_of(w, 0u), i8_of(w, 1u), i8_of(w, 2u), i8_of(w, 3u)); }

// ---- q8_0 block quantization (ggml's quantize_row_q8_0_ref) ----------------------
//   amax = max |v|, d = amax / 127, id = d != 0 ? 1 / d : 0,
//   q[j] = round_half_away(clamp(v[j] * id, -127, 127)), stored d = fp16(d).
// GPU division may be off by a couple of ulp (SPIR-V allows 2.5), so q may differ from
// the CPU's by one where v * id is within an ulp of a .5 tie (ref::kv_store documents it).
float kv_round_away(float v) {
    const float t = trunc(v);
    return (abs(v - t) >= 0.5) ? t + sign(v) : t;
}

// Merges `bits` into the bytes `mask` selects of word i of the uint[] buffer OUT (a word
// two blocks share).
#define KV_MERGE(OUT, i, mask, bits)              \
    {                                             \
        atomicAnd(OUT[i], ~(mask));               \
        atomicOr(OUT[i], (bits) & (mask));        \
    }

// KV_Q8_0_STORE_FN(NAME, OUT, VALUE) defines `void NAME(const uint off, const uvec4 ctx)`:
// it writes the 34 bytes of a block at byte `off` (even) of the uint[] buffer OUT (not
// writeonly), element j (0..31) of the block being `float VALUE(uvec4 ctx, uint j)` (what
// ctx holds is the caller's business). The values are asked for twice (once for amax, once
// to quantize): no array of 32 values is kept. Arrays in private memory indexed by a loop
// counter or by the block's alignment are what GPU compilers keep in scratch (2.8k-9.2k
// instructions and 1.5 KiB of memory a thread on RADV, Adreno and Mali, against 67-249
// instructions for the f16 writers); here every value is a scalar.
// Words the block covers whole are stored; the first or last word it shares with a
// neighbouring block (another invocation's) is merged with atomics on its bytes only, so
// blocks of one dispatch may be written in any order. With off % 4 == 0:
//   word 0 = d | q0 << 16 | q1 << 24, word k = q[4k-2 .. 4k+1] (k = 1..7), word 8 low half = q30 q31;
// with off % 4 == 2 (the other even case):
//   word 0 high half = d, word 1 + k = q[4k .. 4k+3] (k = 0..7).
#define KV_Q8_0_STORE_FN(NAME, OUT, VALUE)                                                          \
    void NAME(const uint off, const uvec4 ctx) {                                                    \
        float amax = 0.0;                                                                           \
        for (uint j = 0u; j < 32u; ++j) amax = max(amax, abs(VALUE(ctx, j)));                       \
        const float d = amax / 127.0;                                                               \
        const float id = d != 0.0 ? 1.0 / d : 0.0;                                                  \
        const uint dh = packHalf2x16(vec2(d, 0.0)) & 0xffffu;                                       \
        const uint w0 = off >> 2;                                                                   \
        const bool odd_half = (off & 3u) != 0u;                                                     \
        if (odd_half) KV_MERGE(OUT, w0, 0xffff0000u, dh << 16)                                      \
        uint prev = 0u;                                                                             \
        for (uint k = 0u; k < 8u; ++k) {                                                            \
            uint word = 0u;                                                                         \
            for (uint b = 0u; b < 4u; ++b) {                                                        \
                const int q = int(kv_round_away(clamp(VALUE(ctx, 4u * k + b) * id, -127.0, 127.0))); \
                word |= (uint(q) & 0xffu) << (8u * b);                                              \
            }                                                                                       \
            if (odd_half) OUT[w0 + 1u + k] = word;                                                  \
            else OUT[w0 + k] = (k == 0u ? dh : prev >> 16) | (word << 16);                          \
            prev = word;                                                                            \
        }                                                                                           \
        if (!odd_half) KV_MERGE(OUT, w0 + 8u, 0x0000ffffu, prev >> 16)                              \
    }

#ifdef KV_OUT
// The single-cache writer of kv_store.comp and rope.comp: the including shader defines
// KV_OUT as its cache buffer's name and (after this file) `float kv_q8_0_value(uvec4 ctx,
// uint j)`, element j of the block that `ctx` names.
float kv_q8_0_value(uvec4 ctx, uint j);
KV_Q8_0_STORE_FN(kv_store_q8_0_block, KV_OUT, kv_q8_0_value)
#endif  // KV_OUT

#endif
