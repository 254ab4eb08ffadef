// llama-quantize's presets (--type q4_k_m, ...): which format each tensor gets. A port of
// llama.cpp's src/llama-quant.cpp (llama_tensor_get_type_impl + tensor_type_fallback, commit
// d32676d77) for dense models (no experts, no Falcon), one Plan per file:
//   * 1-D tensors, norms and names not ending in "weight" stay as they are (F32);
//   * output.weight (and token_embd when the output is tied): Q8_0 when its rows fit no block
//     of the preset's type, else Q6_K (unless the preset's type is Q8_0 or a float);
//   * attn_v / ffn_down / attn_output get more bits by preset and layer position
//     (use_more_bits: the first and last eighth of the layers and every third in between);
//   * a row length the chosen type's block does not divide falls back along
//     Q2_K/Q3_K -> Q4_0, Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, IQ4_XS -> IQ4_NL, and to F16
//     when that still does not divide it (each fallback is reported).
// The formats are the registry's (core/format.hpp): this file names presets, not formats.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/format.hpp"

namespace vkrt::quant {

struct Preset {
    const char* name;       // llama-quantize's: "Q4_K_M"
    uint32_t ftype;         // llama_ftype, written as general.file_type
    Format base;            // the preset's default tensor type
};

// Every preset vkrt-quantize writes, in llama-quantize's order.
const std::vector<Preset>& presets();
// By name, case-insensitive ("q4_k_m"); nullptr when none.
const Preset* find_preset(const std::string& name);

struct TensorChoice {
    Format type;
    std::string fallback;   // non-empty: why the preferred type was replaced
};

class PresetPlan {
public:
    // tensor_names: every tensor of the file, in file order (counts attn_v tensors, finds
    // output.weight); n_layer: the model's block count; n_gqa: n_head / n_head_kv;
    // has_imatrix: llama-quantize changes a few choices when it has one.
    PresetPlan(const Preset& p, const std::vector<std::string>& tensor_names, uint32_t n_layer, uint32_t n_gqa,
               bool has_imatrix);
    // The type of the next tensor, called once per tensor in file order (the attn_v and
    // ffn_down counters advance as llama-quantize's do). dims: GGUF order (dims[0] = row).
    TensorChoice choose(const std::string& name, const std::vector<uint64_t>& dims, Format current);

private:
    Preset p_;
    int n_layer_, n_gqa_;
    bool has_imatrix_, tied_ = true;
    int n_attention_wv_ = 0, i_attention_wv_ = 0, i_ffn_down_ = 0;
};

}  // namespace vkrt::quant
