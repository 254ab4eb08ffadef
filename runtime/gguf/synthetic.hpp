// Synthetic llama-family GGUF models (random weights, real layout) for tests
// and benchmarks. The files look like llama.cpp's convert output: same keys,
// tensor names, dims and a SentencePiece-style vocab with byte tokens.
//
// Weights are uniform random, deterministic in (seed, tensor name, row):
//   2D weights: U(-a, a) with a = 0.02 * sqrt(3)   (std 0.02)
//   norm weights: 1 + U(-0.1, 0.1)
// Files are written row by row (generate -> quantize -> write, a few MiB at a
// time, rows spread over a few threads), so a 7B Q4_0 file needs little RAM.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "gguf/gguf.hpp"

namespace vkrt::gguf {

struct SyntheticLlama {
    std::string arch = "llama";  // key prefix (llama.block_count, ...)
    int n_layer = 2;
    int n_embd = 64;
    int n_head = 4;
    int n_head_kv = 2;
    int n_ff = 96;
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

// "tiny": 2 layers, dim 64, 4/2 heads, ff 96, vocab 300
// "1B":   16 layers, dim 2048, 32/8 heads, ff 8192, vocab 32000
// "7B":   32 layers, dim 4096, 32/32 heads, ff 11008, vocab 32000
// Unknown name -> Status::invalid_argument.
SyntheticLlama preset(const std::string& name, TensorType wtype);

// The fp32 values (before quantization) of row `row` of tensor `name` as
// write_synthetic_llama generates them; n = the row length (dims[0]).
void synthetic_row(const SyntheticLlama& cfg, const std::string& name, uint64_t row, float* out, size_t n);

// The vocab pieces write_synthetic_llama stores (tokenizer.ggml.tokens).
std::vector<std::string> synthetic_vocab(int n_vocab);

}  // namespace vkrt::gguf
