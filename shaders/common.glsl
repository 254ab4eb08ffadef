// Shared GLSL helpers. Buffers of packed data (int8, fp16, GGUF blocks) are
// bound as uint[] words and decoded here, so that kernels need no 8/16-bit
// storage feature. Byte offsets are little-endian, as in GGUF.
#ifndef VKRT_COMMON_GLSL
#define VKRT_COMMON_GLSL

// Byte `i` (0..3) of word w, sign-extended.
int i8_of(uint w, uint i) { return bitfieldExtract(int(w), int(i * 8u), 8); }
// 16-bit half at byte offset `off` (must be even) of a word array, as float.
#define VKRT_LOAD_U16(words, off) ((words[(off) >> 2] >> (((off) & 2u) * 8u)) & 0xffffu)
#define VKRT_LOAD_F16(words, off) unpackHalf2x16(VKRT_LOAD_U16(words, off)).x
// 32 bits starting at byte offset `off` (must be even).
#define VKRT_LOAD_U32_ALIGN2(words, off) \
    ((((off) & 2u) == 0u) ? words[(off) >> 2] : ((words[(off) >> 2] >> 16) | (words[((off) >> 2) + 1u] << 16)))

#endif
