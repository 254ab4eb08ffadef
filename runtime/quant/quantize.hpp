// vkrt-quantize's engine: F32/F16 GGUF of any architecture in runtime/arch/ -> any
// llama-quantize preset (quant/presets.hpp) / W8A8 / mixed GGUF. Which tensors are block linears (and which input each reads)
// comes from the architecture's tensor table; fused tensors are quantized as stored.
//
// Tensor types written (docs/FORMAT.md):
//   1-D tensors (norms)         F32 (SmoothQuant may have rescaled attn_norm / ffn_norm)
//   q4_0, q8_0, preset          llama-quantize's per-tensor mix of that preset (presets.hpp:
//                               q4_0 .. q6_k, the K-quant _s/_m/_l, iq4_nl, iq4_xs, bf16, f16)
//   w8a8, w8a8_static           the block linears I8 + .scale (+ .act_scale [+ .act_zero]
//                               for static, + .smooth for attn_output / ffn_down);
//                               token_embd / output Q8_0
//   budget_bits > 0 (mixed)     linears: a registry format per tensor chosen by sensitivity
//                               (sensitivity.hpp); the rest as the preset `type` has them
// A type whose block does not divide a tensor's row length falls back as llama-quantize's
// table says (presets.hpp), to F16 where nothing fits (llama-quantize would stop for a
// 32-block preset); each fallback is reported in QuantizeResult::fallbacks.
// Scales: without importance the bytes are llama-quantize's without an imatrix
// (fmt::quantize_row_weighted with nullptr); with an importance matrix (--imatrix FILE, or
// collected by calibration with `importance`) every block encoder weights its scale search
// by each input column's mean x^2 (quant/scale_search.hpp; ggml_scales: ggml's own imatrix
// path, llama-quantize --imatrix's bytes); scales = mse uses quantize_row_q4_0_mse for Q4_0;
// gptq adds error feedback over the search (quant/gptq.hpp; needs the inputs' mean x x^T);
// awq first folds activation-aware per-channel scales into the float model (quant/awq.hpp).
// gptq_sequential calibrates the block linears in forward order on the model with the linears
// before them quantized (they are encoded before the writer runs and held in memory, with a
// second float copy of the model).
// Rows are encoded on `threads` threads (0: one per hardware thread), the file written
// tensor by tensor, a few MiB of rows at a time.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "gguf/gguf.hpp"
#include "quant/calibrate.hpp"

namespace vkrt::quant {

enum class QuantType { q4_0, q8_0, w8a8, w8a8_static, preset };
// "q4_0", "q8_0", "w8a8", "w8a8_static", or any other llama-quantize preset name (-> preset;
// the caller keeps the name in QuantizeOptions::preset); invalid_argument naming the value.
QuantType parse_quant_type(const std::string& s);
const char* quant_type_name(QuantType t);

enum class GptqSequential { off, block, site };
// "off", "block", "site" (invalid_argument naming the value)
GptqSequential parse_gptq_sequential(const std::string& s);

struct QuantizeOptions {
    QuantType type = QuantType::q8_0;
    std::string preset;            // QuantType::preset: llama-quantize's name ("q4_k_m")
    bool importance = false;       // --scales imatrix: importance-weighted block scales from calibration
    std::string imatrix_in;        // --imatrix FILE: llama.cpp imatrix (GGUF or .dat) to weight the scales
    std::string imatrix_out;       // --imatrix-out FILE: write the calibration's imatrix (GGUF)
    bool ggml_scales = false;      // with an imatrix: ggml's weighted encoders exactly as llama-quantize
                                   // runs them (--scales ggml), not vkrt's search (quant/scale_search.hpp)
    bool gptq = false;             // --gptq: GPTQ error feedback over the search (quant/gptq.hpp); needs
                                   // the calibration's mean x x^T (calibration or a vkrt imatrix)
    bool awq = false;              // --awq: activation-aware scales folded into the float model first
                                   // (quant/awq.hpp); needs the mean x x^T as --gptq does
    double gptq_damp = 0.01;       // --gptq-damp: added to H's diagonal, times its mean (GPTQ's percdamp)
    // --gptq-sequential block|site: each block's linears encoded with the statistics of their inputs
    // through the linears already quantized before them (quant/calibrate.hpp, calibrate_sequential:
    // per layer, or per input site inside a layer); needs --gptq and calibration (--scales imatrix)
    GptqSequential gptq_sequential = GptqSequential::off;
    bool gptq_group_order = false; // --gptq-order group: GPTQ's order by 32-column group as a further
                                   // candidate (quant/gptq.hpp, GptqFactors::group_perm)
    unsigned threads = 0;          // -t N: encoding threads (0: one per hardware thread)
    bool mse_scales = false;       // --scales mse: Q4_0 with searched block scales
    bool smooth = true;            // SmoothQuant for W8A8 (--no-smooth: off)
    float alpha = 0.5f;            // --alpha
    Calibrator calibrator = Calibrator::max;  // w8a8_static activation scales
    double percentile = 99.99;     // --percentile
    bool asym = false;             // --asym: asymmetric (uint8 + zero point) activations
    std::string calib_text;        // path of the calibration text
    size_t calib_tokens = 4096;    // --calib-tokens
    size_t calib_skip_tokens = 100 * 512;  // tokens left to evaluation (perplexity)
    size_t calib_seq_len = 512;
    size_t capture_rows = 256;     // captured input rows per linear input (sensitivity)
    std::string sensitivity_report;  // --sensitivity FILE (markdown)
    double budget_bits = 0;        // --budget-bits B (> 0: a format per linear, sensitivity.hpp)
};

struct QuantizeResult {
    std::vector<std::string> fallbacks;  // "blk.0.ffn_down.weight: ..." one per tensor
    std::vector<std::pair<std::string, gguf::TensorType>> tensors;  // as written
    std::string sensitivity_md;          // when computed
    double linear_bits = 0;              // bits/weight of the block linears
    size_t calib_tokens = 0;             // calibration tokens used (0: none)
    uint64_t bytes_in = 0, bytes_out = 0;
};

struct QuantizeCallbacks {
    std::function<void(const std::string&)> log;                           // one line of information
    std::function<void(const std::string& stage, double fraction)> progress;
};

QuantizeResult quantize_gguf(const std::string& in_path, const std::string& out_path, const QuantizeOptions& opt,
                             const QuantizeCallbacks& cb = {});

// fn(a, b) over [0, n) split into up to `threads` ranges, run in parallel; the first
// exception (in range order) is rethrown after all have finished.
void parallel_rows(uint64_t n, unsigned threads, const std::function<void(uint64_t, uint64_t)>& fn);

// W8A8 weight rows: w (N,K) -> q (N,K) int8, scale (N) with ref::quantize_row_i8
// (symmetric per output channel: scale = amax / 127, q = round(w / scale)).
void quantize_w8a8_rows(const float* w, size_t N, size_t K, int8_t* q, float* scale);

}  // namespace vkrt::quant
