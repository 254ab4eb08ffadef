// The format registry's encoders (format_encode.cpp), reached through fmt::traits(f).quantize
// (ggml's quantize_row_<fmt>_ref bytes) and fmt::traits(f).quantize_weighted (ggml's
// quantize_<fmt>(row, importance): what llama-quantize calls). Internal to the registry:
// everything else goes through core/format.hpp.
#pragma once
#include <cstddef>
#include <cstdint>

namespace vkrt::fmt::enc {

// 6-bit scale and min j (0..7) of a Q4_K / Q5_K block's scales[12] (ggml's get_scale_min_k4);
// shared by the decoders (format.cpp) and the encoders.
inline void scale_min_k4(int j, const uint8_t* q, uint8_t& sc, uint8_t& m) {
    if (j < 4) {
        sc = q[j] & 63;
        m = q[j + 4] & 63;
    } else {
        sc = uint8_t((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        m = uint8_t((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

// _ref encoders: k floats (a multiple of the block) -> k / block_elems blocks.
void q4_1(const float* x, void* y, size_t k);
void q5_0(const float* x, void* y, size_t k);
void q5_1(const float* x, void* y, size_t k);
void q2_k(const float* x, void* y, size_t k);
void q3_k(const float* x, void* y, size_t k);
void q4_k(const float* x, void* y, size_t k);
void q5_k(const float* x, void* y, size_t k);
void q6_k(const float* x, void* y, size_t k);
void iq4_nl(const float* x, void* y, size_t k);
void iq4_xs(const float* x, void* y, size_t k);

// Weighted encoders of one whole row of k elements (the *_0 / *_1 formats use the row's mean
// x^2, so a row is the unit); qw: k importances or nullptr (llama-quantize without imatrix).
void f32_w(const float* x, void* y, size_t k, const float* qw);
void f16_w(const float* x, void* y, size_t k, const float* qw);
void bf16_w(const float* x, void* y, size_t k, const float* qw);
void q4_0_w(const float* x, void* y, size_t k, const float* qw);
void q4_1_w(const float* x, void* y, size_t k, const float* qw);
void q5_0_w(const float* x, void* y, size_t k, const float* qw);
void q5_1_w(const float* x, void* y, size_t k, const float* qw);
void q8_0_w(const float* x, void* y, size_t k, const float* qw);
void q2_k_w(const float* x, void* y, size_t k, const float* qw);
void q3_k_w(const float* x, void* y, size_t k, const float* qw);
void q4_k_w(const float* x, void* y, size_t k, const float* qw);
void q5_k_w(const float* x, void* y, size_t k, const float* qw);
void q6_k_w(const float* x, void* y, size_t k, const float* qw);
void iq4_nl_w(const float* x, void* y, size_t k, const float* qw);
void iq4_xs_w(const float* x, void* y, size_t k, const float* qw);

// Refined weighted encoders (vkrt's searches, not ggml's bytes; Traits::quantize_refined): ggml's
// weighted encoding, then its scales searched further under the same weights.
void iq4_nl_refined(const float* x, void* y, size_t k, const float* qw);
void iq4_xs_refined(const float* x, void* y, size_t k, const float* qw);

}  // namespace vkrt::fmt::enc
