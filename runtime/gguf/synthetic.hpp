// Synthetic GGUF models of every architecture in runtime/arch/ (random weights, real
// layout) for tests and benchmarks. Keys and tensors come from the architecture
// description (arch::write_hparams, arch::tensor_table), so the files look like
// llama.cpp's convert output: same keys, tensor names, dims, and a SentencePiece-style
// vocab with byte tokens.
//
// Weights are uniform random, deterministic in (seed, tensor name, row):
//   2D weights: U(-a, a) with a = 0.02 * sqrt(3)   (std 0.02)
//   norm weights: 1 + U(-0.1, 0.1); biases as 2D weights; rope factors: U(1, 4)
// Files are written row by row (generate -> quantize -> write, a few MiB at a
// time, rows spread over a few threads), so a 7B Q4_0 file needs little RAM.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "arch/arch.hpp"
#include "gguf/gguf.hpp"

namespace vkrt::gguf {

struct SyntheticLlama {
    std::string arch = "llama";  // one of arch::all(): llama, mistral, qwen2, qwen3, gemma3, phi3
    int n_layer = 2;
    int n_embd = 64;
    int n_head = 4;
    int n_head_kv = 2;
    int n_ff = 96;
    int head_dim = 0;            // attention.key_length; 0 = n_embd / n_head
    int n_swa = 0;               // gemma3: sliding window (0: 4096)
    int swa_pattern = 0;         // gemma3: layer l is SWA when l % pattern < pattern - 1 (0 = 6)
    float rope_base_swa = 10000.f;
    bool rope_factors = false;   // llama: rope_freqs.weight (Llama 3.x)
    bool qkv_bias = false;       // llama: optional q/k/v biases (qwen2 always has them)
    bool rope_factors_ls = false;  // phi3: LongRoPE rope_factors_short / _long.weight
    int n_ctx_orig = 0;          // rope.scaling.original_context_length (0: n_ctx)
    float rope_attn_factor = 1.f;  // rope.scaling.attn_factor
    int n_vocab = 300;           // >= 259 (3 specials + 256 byte tokens)
    int n_ctx = 2048;
    float rope_base = 10000.f;
    float rms_eps = 1e-5f;
    TensorType wtype = TensorType::F32;  // type of all 2D weights (F32, F16, Q4_0, Q8_0; I8 = W8A8 with .scale tensors)
    uint32_t seed = 1;
    bool tie_output = false;     // no output.weight: the model reuses token_embd
};

// Throws Status::invalid_argument for bad shapes (e.g. n_embd or n_ff not a
// multiple of 32 with a block type), io_error if the file cannot be written.
void write_synthetic_llama(const SyntheticLlama& cfg, const std::string& path);

// The hyper-parameters (with the architecture's options) of a synthetic model.
arch::HParams synthetic_hparams(const SyntheticLlama& cfg);

// "tiny": 2 layers, dim 64, 4/2 heads, ff 96, vocab 300
// "125M", "1B", "7B": llama shapes (vocab 32000)
// Real shapes of phone models (their architecture, vocab and head dims):
// "llama3.2-1b", "qwen2.5-0.5b", "qwen3-0.6b", "gemma3-1b", "phi3-mini".
// Unknown name -> Status::invalid_argument.
SyntheticLlama preset(const std::string& name, TensorType wtype);
const std::vector<std::string>& preset_names();
// `name`'s architecture and head size at the smallest size that runs its kernels: n_layer
// layers, 2 query heads and 1 KV head (n_embd = 2 * head size), FFN 256, vocab 300, a
// context of at most n_ctx (pipeline checks: vkrt-bench --shader-stats, tests).
SyntheticLlama small_preset(const std::string& name, TensorType wtype, int n_layer, int n_ctx);

// The fp32 values (before quantization) of row `row` of tensor `name` as
// write_synthetic_llama generates them; n = the row length (dims[0]).
void synthetic_row(const SyntheticLlama& cfg, const std::string& name, uint64_t row, float* out, size_t n);

// The vocab pieces write_synthetic_llama stores (tokenizer.ggml.tokens).
std::vector<std::string> synthetic_vocab(int n_vocab);

}  // namespace vkrt::gguf
