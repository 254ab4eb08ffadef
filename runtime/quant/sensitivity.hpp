// Per-tensor quantization sensitivity and a bits budget for mixed block-format files.
//
// For every linear weight W (N,K) and its captured calibration inputs X (M,K):
//   err(f) = ||X W^T - X' W'^T||_F / ||X W^T||_F
// with W' = W quantized to format f and dequantized, and X' = X except for W8A8:
//   W8A8: W' = per-output-channel int8 of (W * s), X' = per-token int8 of (X / s),
//         s = the SmoothQuant factors of that input (none: s = 1).
// The formats are the registry's (shaders/formats.def through fmt::all()): every format vkrt
// can write and run (an encoder, a decoder and GPU kernels) and that stores fewer than 32
// bits per weight; those whose block does not divide K are left out for that tensor. Each is
// encoded as the writer would encode it (SensitivityEncoding).
//
// choose_formats (--budget-bits B): each tensor's formats, by bits/weight, reduced to the
// lower convex hull of (bits, err) (a format costing more bits for no less error, or lying
// above the line between its neighbours, is never worth it); every tensor starts at its
// smallest; then, repeatedly, of the next steps up that keep the average bits/weight of the
// linear tensors <= B, the one with the largest error reduction per added bit
// (err drop / (added bits per weight * elements)) is taken, until none fits.
#pragma once
#include <array>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "gguf/gguf.hpp"
#include "quant/calibrate.hpp"

namespace vkrt::quant {

// The registry formats the report measures and the budget chooses among (see above).
std::vector<Format> sensitivity_formats();
// Bits per weight of W8A8 as stored: int8 + one F32 scale per row of K.
double w8a8_bits_per_weight(size_t K);

// How each format is encoded for the measurement: as the writer will (quantize.hpp).
struct SensitivityEncoding {
    bool importance = false;  // vkrt's importance search (scale_search.hpp) with the inputs' mean x^2
                              // (and x x^T where the stats hold it); else llama-quantize's bytes
    bool mse_q4 = false;      // Q4_0 with --scales mse
};

// W (N,K) -> the dequantized values of W in format f (whose block must divide K). imp (K) /
// hessian (K,K): the importance search's inputs (nullptr: ggml's encoder without importance).
std::vector<float> fake_quant_weight(std::span<const float> w, size_t N, size_t K, Format f, bool mse_q4 = false,
                                     const float* imp = nullptr, const float* hessian = nullptr);
// The relative output error above of W (N,K) stored as Wq (N,K) for inputs x (M,K).
double relative_output_error(std::span<const float> x, size_t M, std::span<const float> w,
                             std::span<const float> wq, size_t N, size_t K);
// The same for W8A8; smooth (K) or empty.
double relative_output_error_w8a8(std::span<const float> x, size_t M, std::span<const float> w, size_t N, size_t K,
                                  std::span<const float> smooth = {});

struct FormatError {
    Format format;
    double bits = 0;  // bits per weight as stored
    double err = 0;
};

struct SensitivityEntry {
    std::string name;  // GGUF tensor name, e.g. blk.0.attn_q.weight
    size_t n_in = 0, n_out = 0, rows_used = 0;
    std::vector<FormatError> formats;  // sensitivity_formats() whose block divides n_in, ids ascending
    double err_w8a8 = 0;
    // The error of format f; nullopt when f's block does not divide n_in.
    std::optional<double> err(Format f) const;
};

// The block linears of m as its file stores them (runtime/arch tensor table; fused
// tensors whole; unsmoothed weights), with the inputs
// captured in `stats` (collect_stats with capture_rows > 0). smoothing (or null)
// gives the W8A8 column's factors.
std::vector<SensitivityEntry> analyze_sensitivity(const FloatLlama& m, const CalibStats& stats,
                                                  const Smoothing* smoothing, const SensitivityEncoding& enc = {},
                                                  const std::function<void(size_t, size_t)>& progress = {});

struct BudgetChoice {
    std::map<std::string, gguf::TensorType> types;  // linear tensor -> its format
    double avg_bits = 0;                             // bits/weight over the linear tensors
    double budget = 0;
};
BudgetChoice choose_formats(const std::vector<SensitivityEntry>& entries, double budget_bits);

// Markdown report: one row per tensor with each format's error; the chosen format when
// `choice` is given. `title_info` is printed under the title (model, calibration).
std::string sensitivity_markdown(const std::vector<SensitivityEntry>& entries, const BudgetChoice* choice,
                                 const std::string& title_info);

}  // namespace vkrt::quant
