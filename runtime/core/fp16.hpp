// IEEE 754 binary16 and bfloat16 <-> binary32 conversion, pure integer code (no FP
// environment or F16C dependency), bit-compatible with ggml's scalar
// GGML_FP32_TO_FP16 / GGML_FP16_TO_FP32 / GGML_FP32_TO_BF16 / GGML_BF16_TO_FP32.
// These are vkrt's only fp16/bf16 decoders (the format registry's F16 / BF16 rows use them).
// binary16:
//   fp32 -> fp16: round to nearest, ties to even; overflow -> inf;
//                 subnormal halves produced correctly; NaN -> quiet NaN 0x7E00 (sign kept).
//   fp16 -> fp32: exact (every half is representable as a float); a signalling NaN comes back
//                 quiet (the quiet bit set, payload and sign kept), as IEEE conversions do:
//                 ggml's scalar path (its multiply by 2^-112), F16C and GLSL unpackHalf2x16
//                 on lavapipe all quiet it, and the shaders' vkrt_half_to_float does the same.
#pragma once
#include <bit>
#include <cstdint>

namespace vkrt {

inline uint16_t fp32_to_fp16(float f) {
    const uint32_t x = std::bit_cast<uint32_t>(f);
    const uint16_t sign = uint16_t((x >> 16) & 0x8000u);
    const uint32_t ax = x & 0x7fffffffu;

    if (ax > 0x7f800000u) return sign | 0x7e00u;   // NaN
    if (ax >= 0x477ff000u) return sign | 0x7c00u;  // >= 65520 (or inf): rounds to inf

    if (ax < 0x38800000u) {                        // below 2^-14: subnormal half or zero
        if (ax < 0x33000000u) return sign;         // below 2^-25: rounds to zero
        // value = mant * 2^(e-23), half subnormal unit is 2^-24 -> m = mant >> (-e-1)
        const int e = int(ax >> 23) - 127;         // -25 .. -15
        const uint32_t mant = (ax & 0x7fffffu) | 0x800000u;
        const uint32_t shift = uint32_t(-e - 1);   // 14 .. 24
        uint32_t m = mant >> shift;
        const uint32_t rem = mant & ((1u << shift) - 1u);
        const uint32_t half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (m & 1u))) m++;  // may carry into the smallest normal: still right
        return uint16_t(sign | m);
    }

    // normal: rebias exponent (127 -> 15), keep the top 10 mantissa bits, round the other 13
    uint32_t h = (ax >> 13) - ((127u - 15u) << 10);
    const uint32_t rem = ax & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++;  // carry may bump the exponent (or reach inf)
    return uint16_t(sign | h);
}

inline float fp16_to_fp32(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1fu;
    const uint32_t mant = h & 0x3ffu;
    if (exp == 0) {  // zero or subnormal: mant * 2^-24, exact in fp32
        const float v = float(mant) * 0x1p-24f;
        return sign ? -v : v;
    }
    if (exp == 31)  // inf, or NaN made quiet
        return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13) | (mant ? 0x400000u : 0u));
    return std::bit_cast<float>(sign | ((exp + 112u) << 23) | (mant << 13));
}

// bfloat16 = the top 16 bits of a binary32.
//   bf16 -> fp32: exact (shift back).
//   fp32 -> bf16: round to nearest, ties to even; NaN -> quiet NaN (bit 6 set, sign kept), as ggml.
inline float bf16_to_fp32(uint16_t h) { return std::bit_cast<float>(uint32_t(h) << 16); }

inline uint16_t fp32_to_bf16(float f) {
    const uint32_t x = std::bit_cast<uint32_t>(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return uint16_t((x >> 16) | 64u);  // NaN: force quiet
    return uint16_t((x + (0x7fffu + ((x >> 16) & 1u))) >> 16);
}

}  // namespace vkrt
