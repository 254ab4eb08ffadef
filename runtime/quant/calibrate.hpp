// Activation calibration for W8A8 (SmoothQuant) files, on the CPU reference model.
//
// * FloatLlama / load_float_llama: a GGUF model of any architecture of runtime/arch
//   dequantized to float, in the ref::RefModel weight layout (fused tensors split).
// * InstrumentedModel: ref::forward (the one CPU forward pass) with
//     - a hook called with the input of every linear layer: the 4 distinct
//       inputs per block (Site below);
//     - optional SmoothQuant factors for the attn_output / ffn_down inputs: the
//       input x_j is divided by s_j before the matmul, as the runtime does with a
//       file's `.smooth` tensors (the weight columns were multiplied by s_j).
// * AbsHistogram: histogram of |x| over [0, running max] (2048 bins), re-binned
//   when the max grows (counts split proportionally between the new bins).
// * Calibrators (histogram -> clip threshold T; scale = T / 127):
//     max        T = max |x|
//     percentile T = the p-th percentile of |x| (linear inside a bin)
//     mse        T minimizing the expected quantization error sum over the
//                histogram: values above T cost (|x| - T)^2, values below cost
//                step^2 / 12 (uniform rounding noise, step = T / 127)
//     entropy    TensorRT's KL-divergence calibration: for each candidate
//                i >= 128 bins, P = hist[0:i] with the tail folded into bin i-1,
//                Q = P merged into 128 levels and expanded back over P's
//                non-empty bins; T = upper edge of the i with minimum KL(P||Q).
// * collect_stats: runs calibration sequences through an InstrumentedModel and
//   records per input (layer, site): per-channel max |x|, signed min/max, the
//   |x| histogram, and up to `capture_rows` captured input rows (evenly spread
//   over the tokens) for the sensitivity analysis.
// * calibration_sequences: tokenizes the calibration text with the model's
//   tokenizer (BOS first, as the perplexity evaluation does), skips the tokens
//   evaluation uses (100 chunks of 512 by default) and cuts sequences of up to
//   512 tokens, each starting with BOS.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "gguf/gguf.hpp"
#include "ref/forward.hpp"

namespace vkrt::quant {

// ---- the model in float ------------------------------------------------------------

struct FloatLlama {
    ref::RefConfig cfg;
    ref::RefWeights w;
};
// Every tensor dequantized to float (any supported type); n_ctx = KV cache rows.
FloatLlama load_float_llama(const gguf::File& f, uint32_t n_ctx);

// The 4 distinct linear-layer inputs of a block (runtime/arch/arch.hpp).
using Site = arch::Site;
using arch::kSites;
using arch::site_name;

// SmoothQuant factors per layer and site (empty vector = none). InstrumentedModel
// divides by them only at attn_out and ffn_down_in (the other two are folded into
// the norm weights by apply_smoothing).
struct Smoothing {
    float alpha = 0.5f;
    std::vector<std::array<std::vector<float>, kSites>> layers;
};

// x is the (M, K) input exactly as the matmul receives it (after smoothing).
using ActHook = std::function<void(uint32_t layer, Site site, std::span<const float> x, size_t M, size_t K)>;

class InstrumentedModel {
public:
    // Keeps references to cfg's copy, weights and smoothing: they must outlive this object.
    InstrumentedModel(const ref::RefConfig& cfg, const ref::RefWeights& w,
                      const Smoothing* smoothing = nullptr);
    // As ref::RefModel::forward: tokens at start_pos.. -> logits (M, n_vocab).
    std::vector<float> forward(std::span<const int32_t> tokens, int32_t start_pos, const ActHook& hook = {});
    void reset();

private:
    ref::RefConfig cfg_;
    const ref::RefWeights* w_;
    const Smoothing* sm_;
    ref::RefKvCache cache_;
};

// ---- histogram and calibrators -------------------------------------------------------

class AbsHistogram {
public:
    explicit AbsHistogram(uint32_t bins = 2048);
    void add(const float* x, size_t n);  // |x| of each value; non-finite values are an error
    uint32_t bins() const { return uint32_t(counts_.size()); }
    double range() const { return range_; }  // upper edge of the last bin (0 until a non-zero value)
    double bin_width() const { return range_ / double(counts_.size()); }
    const std::vector<double>& counts() const { return counts_; }
    double total() const;
    float amax() const { return amax_; }  // exact max |x| seen

private:
    void rebin(double new_range);
    std::vector<double> counts_;
    double range_ = 0;
    double zeros_pending_ = 0;  // zeros seen before any non-zero value
    float amax_ = 0;
};

enum class Calibrator { max, percentile, mse, entropy };
Calibrator parse_calibrator(const std::string& s);  // invalid_argument naming the value
const char* calibrator_name(Calibrator c);

double calib_max(const AbsHistogram& h);
double calib_percentile(const AbsHistogram& h, double percentile);  // percentile in (0, 100]
double calib_mse(const AbsHistogram& h, int levels = 127);
double calib_entropy(const AbsHistogram& h, int levels = 128);
// Clip threshold T (> 0 unless the data were all zero) chosen by `c`.
double calibrate_threshold(const AbsHistogram& h, Calibrator c, double percentile = 99.99);

// ---- statistics of the linear inputs ---------------------------------------------------

struct ActStats {
    std::vector<float> chan_absmax;  // (K) per input channel max |x|
    std::vector<double> chan_sumsq;  // (K) per input channel sum of x^2 (llama.cpp's importance matrix
                                     // is chan_sumsq / rows; quant/imatrix.hpp)
    uint64_t rows = 0;               // tokens summed into chan_sumsq
    std::vector<double> xtx;         // (K,K) sum of x x^T when CalibOptions::hessian (else empty)
    float min = std::numeric_limits<float>::infinity();
    float max = -std::numeric_limits<float>::infinity();
    AbsHistogram hist;
    std::vector<float> captured;  // (captured_rows, K)
    size_t captured_rows = 0;
    size_t K = 0;
};

struct CalibStats {
    std::vector<std::array<ActStats, kSites>> layers;
    size_t tokens = 0;
    ActStats& at(uint32_t layer, Site s) { return layers[layer][size_t(s)]; }
    const ActStats& at(uint32_t layer, Site s) const { return layers[layer][size_t(s)]; }
};

struct CalibOptions {
    uint32_t hist_bins = 2048;
    size_t capture_rows = 256;  // per (layer, site); 0 = capture nothing
    bool hessian = false;       // also sum x x^T per input (ActStats::xtx): K^2 per token and input
    int32_t layer = -1;         // >= 0: statistics of this layer's inputs only (the others stay empty)
    uint32_t sites = 0xF;       // bit s: statistics of Site s (with `layer`: a sequential stage's inputs)
};

struct CalibData {
    std::vector<std::vector<int32_t>> seqs;
    size_t text_tokens = 0;     // tokens of the whole text
    size_t skipped_tokens = 0;  // tokens left to evaluation
    size_t tokens() const;
};

std::string read_text_file(const std::string& path);  // io_error naming the path
// n_tokens: total calibration tokens wanted (>= 1): sequences of min(seq_len, n_tokens)
// tokens, as many as fit in n_tokens and in the text after skip_tokens (at least one,
// else invalid_argument naming the counts).
CalibData calibration_sequences(const gguf::File& f, const std::string& text, size_t n_tokens,
                                size_t skip_tokens = 100 * 512, size_t seq_len = 512);

using CalibProgress = std::function<void(size_t done, size_t total)>;  // in sequences
CalibStats collect_stats(const FloatLlama& m, const Smoothing* smoothing, const CalibData& data,
                         const CalibOptions& opt = {}, const CalibProgress& progress = {});

// ---- sequential calibration (GPTQ's sequential mode) -----------------------------------
//
// The statistics of each block's linear inputs taken from a model whose earlier linears are
// already quantized, so that an encoder weighting by them (the importance search, GPTQ's error
// feedback) sees the inputs the quantized file will really give that block, and compensates
// the upstream error instead of matching the float model's inputs.
// Stages, in forward order: per layer one stage with its four sites (sequential), or one stage
// per site (true sequential: attn_output's inputs after q/k/v are quantized, ffn_down's after
// gate/up). Each stage runs collect_stats on `m` for its (layer, sites) only (opt.layer and
// opt.sites are set per stage; one calibration pass per stage through layers 0..layer), then calls
// quantize(layer, site, stats, m.w) for each of its sites in order: the caller encodes the
// linears reading that site and must write their dequantized weights into m.w (the roles of
// runtime/arch), which later stages then run with. m is the caller's copy of the float model.
using SiteQuantizer = std::function<void(uint32_t layer, Site site, const ActStats& stats, ref::RefWeights& w)>;
void calibrate_sequential(FloatLlama& m, const CalibData& data, CalibOptions opt, bool true_sequential,
                          const SiteQuantizer& quantize, const CalibProgress& progress = {});

}  // namespace vkrt::quant
