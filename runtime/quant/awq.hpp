// Activation-aware equivalent scaling (--awq; AWQ, Lin et al. 2023), folded exactly into the
// float model before quantization: the file keeps its tensors, types and size, and loads
// unchanged in llama.cpp.
//
// A linear reads its input x (K) through W (N,K); for any s_j > 0,
//     x W^T = (x / s) (W diag(s))^T,
// so the columns of W can be multiplied by s when whatever produces x divides channel j by s_j.
// Where the producer is linear per channel the fold is exact in float (up to rounding):
//   attn_in     attn_norm weight / s  ->  attn_q / attn_k / attn_v columns * s  (phi3: attn_qkv)
//   ffn_in      ffn_norm weight / s   ->  ffn_gate / ffn_up columns * s        (phi3: fused ffn_up)
//   attn_out    attn_v rows (and the v bias) / s, per KV channel  ->  attn_output columns * s
//               (attention mixes tokens, never channels; with GQA one KV channel feeds the same
//               channel of every q head of its group, so those columns share its s)
//   ffn_down_in ffn_up rows / s  ->  ffn_down columns * s  (h = act(gate) * up is linear in up)
// Which linears read which site, and their tensors, come from the architecture's tensor table
// (runtime/arch); the producers above are the shared block's (arch.hpp), the same for every
// architecture. A producer that is not linear per channel is refused by name: a V norm, or a
// post-norm placed before the linear (none of runtime/arch's blocks have one).
//
// Why it helps: a channel j with large inputs (large E[x_j^2]) weighs more in the output error
// tr(dW H dW^T), H = E[x x^T]. Scaling its weight column up by s_j > 1 puts it on a finer grid
// relative to the block's scale (the block's other columns share the scale), and the scaled
// layer's H' = diag(1/s) H diag(1/s) makes its rounding error count 1/s_j^2 as much.
//
// The choice of s per (layer, site), as AWQ: s_j = (E[x_j^2])^(alpha/2) (the input channel's rms
// to the power alpha), normalized by sqrt(max s * min s); alpha on a grid over [0, 1] (alpha = 0
// is no scaling), keeping the alpha with the least quantized output error
//     sum over the site's linears and rows of  e'^T H' e',   e' = W' row - decode(encode(W' row)),
// each row encoded with its tensor's target type by the importance search the writer uses
// (quant/scale_search.hpp: quantize_row_importance with imp' = diag H', H'). The producer's
// rows (attn_v, ffn_up) are scaled by 1/s as whole rows: their error relative to the row is
// about unchanged and so is its effect at the output (their consumers' columns are s times
// larger), so the producer does not enter the choice.
//
// After the fold the importance and x x^T of every consumer are the scaled layer's (imp / s^2,
// diag(1/s) H diag(1/s)): no second calibration pass, and the encoders and --gptq see the
// statistics of the weights they encode.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/format.hpp"
#include "ref/forward.hpp"

namespace vkrt::quant {

struct AwqOptions {
    // alpha grid; 0 (no scaling) is always tried as well, so a site's error never rises.
    std::vector<double> alphas = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0};
    // ranges [a, b) of n rows run in parallel (quant::parallel_rows); empty: one thread
    std::function<void(uint64_t n, const std::function<void(uint64_t, uint64_t)>&)> parallel;
    std::function<void(size_t done, size_t total)> progress;  // in (layer, site) pairs
};

struct AwqSite {
    uint32_t layer = 0;
    arch::Site site = arch::Site::attn_in;
    double alpha = 0;                  // 0: left unscaled
    double err_before = 0, err_after = 0;  // sum of e'^T H' e' over the site's linears' rows
    std::vector<float> scales;         // the producer's channels' s (empty: left unscaled)
};

// Per linear tensor name: its mean x^2 (K) and mean x x^T (K,K), as quantize_gguf holds them.
using AwqImportance = std::map<std::string, std::vector<float>>;
using AwqHessians = std::map<std::string, std::shared_ptr<const std::vector<float>>>;

// Chooses and folds s into w for every (layer, site) of cfg's block whose linears all have
// an x x^T in `hessians`; type_of(name) = the format each linear will be written in (the
// preset's per-tensor choice). Updates `importance` and `hessians` of the scaled linears.
// Throws invalid_argument naming the tensor when a linear lacks its x x^T, unsupported naming
// the site when the fold would not be exact (see above).
std::vector<AwqSite> apply_awq(const ref::RefConfig& cfg, ref::RefWeights& w,
                               const std::function<Format(const std::string&)>& type_of, AwqImportance& importance,
                               AwqHessians& hessians, const AwqOptions& opt = {});

// The factors of one candidate: s_j = imp_j^(alpha/2) normalized by sqrt(max s * min s);
// dead channels (imp_j = 0) and alpha = 0 get 1.
std::vector<float> awq_factors(const std::vector<float>& imp, double alpha);

}  // namespace vkrt::quant
