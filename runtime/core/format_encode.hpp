// The format registry's encoders (format_encode.cpp), reached through fmt::traits(f).quantize
// (ggml's quantize_row_<fmt>_ref bytes) and fmt::traits(f).quantize_weighted (ggml's
// quantize_<fmt>(row, importance): what llama-quantize calls). Internal to the registry:
// everything else goes through core/format.hpp.
#pragma once
#include <cstddef>

namespace vkrt::fmt::enc {

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

}  // namespace vkrt::fmt::enc
