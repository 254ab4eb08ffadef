// phi3 (llama.cpp src/models/phi3.cpp): fused attn_qkv (rows [q | k | v]; separate
// q/k/v are accepted too), fused ffn_up (rows [gate | up], SwiGLU on the halves),
// NEOX rope with optional LongRoPE factors: rope_factors_short below the original
// context (rope.scaling.original_context_length), rope_factors_long above it, and
// rope.scaling.attn_factor on cos/sin. llama.cpp turns Phi's sliding window off; so does vkrt.
#include "arch/models.hpp"
#include "gguf/gguf.hpp"

namespace vkrt::arch {

namespace {
void read(const gguf::File* f, HParams& hp) {
    hp.rope_neox = true;
    hp.fused_gate_up = true;
    hp.n_swa = 0;
    if (f) {
        hp.fused_qkv = f->find_tensor(layer_name(0, "attn_qkv.weight")) != nullptr;
        hp.rope_factors_ls = f->find_tensor("rope_factors_long.weight") != nullptr;
    } else {
        hp.fused_qkv = true;  // what convert_hf_to_gguf writes
    }
}
void write(const HParams&, gguf::Writer&) {}
}  // namespace

const Arch kPhi3 = {"phi3", read, write};

}  // namespace vkrt::arch
