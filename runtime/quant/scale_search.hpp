// Importance-aware block scales for every format of the registry: one row, encoded so that the
// importance-weighted squared error  sum_j imp_j * (x_j - decode(q)_j)^2  is least per block.
//
// Why this is the right objective: a linear's output error for an input x is sum_j dW_j x_j;
// over calibration inputs with uncorrelated columns its expected square is
// sum_j dW_j^2 E[x_j^2], and E[x_j^2] is exactly llama.cpp's importance matrix entry.
//
// How: the registry's weighted encoders (ggml's importance-weighted searches: make_qx_quants,
// make_qkx3_quants, make_qp_quants for the K-quant sub-block scales and mins, IQ4's scale
// search) run with several weightings of the same row, ggml's own among them, and each block
// keeps the candidate whose decoded values have the least weighted error:
//   1. imp                          ggml's imatrix path as llama-quantize runs it
//   2. imp / sqrt(s2 + x^2)         ggml's encoders multiply their weight by sqrt(s2 + x^2)
//   3. imp / sqrt(2 s2 + x^2)       (s2 = the row's mean x^2; 2*s2 for the K / IQ4 super-blocks):
//                                   these cancel it, so the search weights by imp alone
//   4. no importance                llama-quantize's bytes without an imatrix
//   5. sqrt(imp) / sqrt(s2 + x^2)   a softer weighting (half way to none)
// Candidate 1 is always among them, so per block the error is never above llama-quantize's
// with the same importance matrix (tests/test_quant_presets.cpp checks it).
#pragma once
#include <array>
#include <cstddef>
#include <vector>

#include "core/format.hpp"

namespace vkrt::quant {

// The weightings 1..5 above for one row x (k) with importance imp (k): what the search tries
// (quantize_row_importance here, quantize_row_gptq in quant/gptq.hpp). Entry 4 is nullptr.
class ImportanceCandidates {
public:
    ImportanceCandidates(const float* x, size_t k, const float* imp);
    ImportanceCandidates(const ImportanceCandidates&) = delete;  // ptr_ points into w_
    ImportanceCandidates& operator=(const ImportanceCandidates&) = delete;
    size_t size() const { return ptr_.size(); }
    const float* operator[](size_t c) const { return ptr_[c]; }

private:
    std::array<std::vector<float>, 3> w_;
    std::array<const float*, 5> ptr_{};
};

// x (k) -> dst (row_bytes(f, k)); imp (k) >= 0. f must have an encoder (fmt::traits).
// hessian: nullptr, or the (k,k) row-major mean x x^T of the calibration inputs (imp is its
// diagonal): each block then keeps the candidate of least e_B^T H_BB e_B (e = x - decoded,
// B = the block's columns), the expected squared output error of that block with the
// columns' correlations, not only their mean squares.
void quantize_row_importance(Format f, const float* x, void* dst, size_t k, const float* imp,
                             const float* hessian = nullptr);

// sum_j imp_j (x_j - decode(q)_j)^2 over one row (the objective above).
double weighted_error(Format f, const float* x, const void* q, size_t k, const float* imp);

}  // namespace vkrt::quant
