// Shared GLSL helpers. Buffers of packed data (int8, fp16, GGUF blocks) are
// bound as uint[] words and decoded here, so that kernels need no 8/16-bit
// storage feature. Byte offsets are little-endian, as in GGUF.
#ifndef VKRT_COMMON_GLSL
#define VKRT_COMMON_GLSL

// Byte `i` (0..3) of word w, sign-extended.
int i8_of(uint w, uint i) { return bitfieldExtract(int(w), int(i * 8u), 8); }

#include "shared/spec.h"
// Halves are decoded natively (unpackHalf2x16: one conversion instruction on GPUs) unless
// the runtime says the driver cannot compile that (caps.native_half, set for every pipeline
// from runtime/vk/pipeline.cpp): LLVM 15's AArch64 backend cannot compile lavapipe's half ->
// float conversion and aborts the process ("LLVM ERROR: Cannot select", Debian 12's arm64
// Mesa; docs/AARCH64.md). A specialization constant, so the branch not taken is removed
// when the pipeline is built and that compiler never sees the conversion.
layout(constant_id = VKRT_SPEC_NATIVE_HALF) const bool VKRT_NATIVE_HALF = true;

// IEEE binary16 (the low 16 bits of h, the rest zero) -> float, bit for bit what
// unpackHalf2x16(h).x gives on lavapipe and core/fp16.hpp's fp16_to_fp32 (every half is
// exact in float; signed zeros, subnormals and infinities kept, a NaN keeps sign and
// payload and comes back quiet). Every half the shaders read goes through here. The
// integer decoder (the !VKRT_NATIVE_HALF branch) costs ~10 integer operations; on x86-64
// lavapipe no measurable GEMV time (docs/AARCH64.md has the numbers).
float vkrt_half_to_float(uint h) {
    if (VKRT_NATIVE_HALF) return unpackHalf2x16(h).x;
    const uint em = h & 0x7fffu;  // exponent | mantissa
    // normal: move into place and rebias the exponent (15 -> 127: + 112 << 23);
    // inf / NaN (exponent 31): exponent 255 (+ 224 << 23), mantissa (NaN payload) kept
    uint bits = (em << 13) + ((em >= 0x7c00u) ? 0x70000000u : 0x38000000u);
    if (em > 0x7c00u) bits |= 0x400000u;  // NaN: quiet, as IEEE conversions
    // zero / subnormal (exponent 0): mantissa * 2^-24, exact (a normal float or +0)
    if (em < 0x400u) bits = floatBitsToUint(float(em) * uintBitsToFloat(0x33800000u));
    return uintBitsToFloat(bits | ((h & 0x8000u) << 16));
}
// The two halves of a word (low half first), as unpackHalf2x16(w).
vec2 vkrt_half2_to_float(uint w) {
    if (VKRT_NATIVE_HALF) return unpackHalf2x16(w);
    return vec2(vkrt_half_to_float(w & 0xffffu), vkrt_half_to_float(w >> 16));
}

// 16-bit half at byte offset `off` (must be even) of a word array, as float.
#define VKRT_LOAD_U16(words, off) ((words[(off) >> 2] >> (((off) & 2u) * 8u)) & 0xffffu)
#define VKRT_LOAD_F16(words, off) vkrt_half_to_float(VKRT_LOAD_U16(words, off))
// 32 bits starting at byte offset `off` (must be even).
#define VKRT_LOAD_U32_ALIGN2(words, off) \
    ((((off) & 2u) == 0u) ? words[(off) >> 2] : ((words[(off) >> 2] >> 16) | (words[((off) >> 2) + 1u] << 16)))

#endif
