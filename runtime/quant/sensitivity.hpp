// Per-tensor quantization sensitivity and a bits budget for mixed block-format files.
//
// For every linear weight W (N,K) and its captured calibration inputs X (M,K):
//   err(f) = ||X W^T - X' W'^T||_F / ||X W^T||_F
// with W' = W quantized to format f and dequantized, and X' = X except for W8A8:
//   W8A8: W' = per-output-channel int8 of (W * s), X' = per-token int8 of (X / s),
//         s = the SmoothQuant factors of that input (none: s = 1).
// A block format whose block does not divide K is measured as its fallback (F16),
// as the file would store it.
//
// choose_formats (--budget-bits B): every linear tensor starts at the smallest format
// that fits (Q4_0, else Q8_0, else F16); then, repeatedly, of the upgrades (Q4_0 -> Q8_0
// -> F16) that keep the average bits/weight of the linear tensors <= B, the one with
// the largest error reduction per added bit (err drop / (added bits per weight *
// elements)) is applied, until none fits.
#pragma once
#include <array>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "gguf/gguf.hpp"
#include "quant/calibrate.hpp"

namespace vkrt::quant {

enum class WFormat { q4_0 = 0, q4_0_mse, q8_0, f16, w8a8 };
constexpr size_t kWFormats = 5;
const char* wformat_name(WFormat f);  // "Q4_0", "Q4_0 (MSE)", "Q8_0", "F16", "W8A8"
bool format_fits(WFormat f, size_t K);
// Bits per weight as stored (W8A8: int8 + one F32 scale per row of K).
double bits_per_weight(WFormat f, size_t K);

// W (N,K) -> the dequantized values of W in format f (which must fit K).
std::vector<float> fake_quant_weight(std::span<const float> w, size_t N, size_t K, WFormat f);
// The relative output error above. x (M,K), w (N,K), smooth (K) or empty (W8A8 only).
double relative_output_error(std::span<const float> x, size_t M, std::span<const float> w, size_t N, size_t K,
                             WFormat f, std::span<const float> smooth = {});

struct SensitivityEntry {
    std::string name;  // GGUF tensor name, e.g. blk.0.attn_q.weight
    size_t n_in = 0, n_out = 0, rows_used = 0;
    std::array<double, kWFormats> err{};  // by WFormat (block formats that do not fit: the F16 fallback's)
    std::array<bool, kWFormats> fits{};
};

// The block linears of m as its file stores them (runtime/arch tensor table; fused
// tensors whole; unsmoothed weights), with the inputs
// captured in `stats` (collect_stats with capture_rows > 0). smoothing (or null)
// gives the W8A8 column's factors.
std::vector<SensitivityEntry> analyze_sensitivity(const FloatLlama& m, const CalibStats& stats,
                                                  const Smoothing* smoothing,
                                                  const std::function<void(size_t, size_t)>& progress = {});

struct BudgetChoice {
    std::map<std::string, gguf::TensorType> types;  // linear tensor -> Q4_0 / Q8_0 / F16
    double avg_bits = 0;                             // bits/weight over the linear tensors
    double budget = 0;
};
// mse_q4: Q4_0 errors measured with searched scales (--scales mse) instead of min-max.
BudgetChoice choose_formats(const std::vector<SensitivityEntry>& entries, double budget_bits, bool mse_q4);

// Markdown report: one row per tensor with each format's error; the chosen format when
// `choice` is given. `title_info` is printed under the title (model, calibration).
std::string sensitivity_markdown(const std::vector<SensitivityEntry>& entries, const BudgetChoice* choice,
                                 const std::string& title_info);

}  // namespace vkrt::quant
