// SmoothQuant (Xiao et al. 2022): migrate activation outliers into the weights.
//
// For each linear input X (K channels) and the weights W_1..W_n it feeds (each
// (N_i, K)):
//   s_j = max|X_j|^alpha / max_i,o |W_i[o,j]|^(1-alpha),  clamped to [1e-5, 1e5]
//   (s_j = 1 where the activation or weight column is all zero)
// X' = X / s, W' = W * s (columns), so X' W'^T = X W^T in exact arithmetic.
//
// In a llama block:
//   attn_in  (Q/K/V) and ffn_in (gate/up): 1/s is folded into the preceding
//            RMSNorm weight (attn_norm / ffn_norm), s into the weight columns.
//   attn_out (wo) and ffn_down_in (down): the weight columns are multiplied by s
//            and the file stores s as `.smooth`; the runtime divides x_j by s_j.
#pragma once
#include <initializer_list>
#include <span>
#include <vector>

#include "quant/calibrate.hpp"

namespace vkrt::quant {

// max_o |W[o,j]| per column j of the (N, K) matrices, combined over all of them.
std::vector<float> weight_column_absmax(std::initializer_list<const std::vector<float>*> ws, size_t K);

// The factors above for one input.
std::vector<float> smooth_factors(std::span<const float> act_absmax, std::span<const float> weight_col_absmax,
                                  float alpha);

// Factors for all four inputs of every block, from the stats of the unsmoothed model.
Smoothing compute_smoothing(const ref::RefConfig& cfg, const ref::RefWeights& w, const CalibStats& stats,
                            float alpha);

// Applies `s` to the weights: norms of attn_in / ffn_in divided by s, the columns of
// every weight multiplied by the factors of its input. Run the result with
// InstrumentedModel(cfg, w, &s) (it divides the attn_out / ffn_down inputs by s).
void apply_smoothing(ref::RefWeights& w, const ref::RefConfig& cfg, const Smoothing& s);

}  // namespace vkrt::quant
