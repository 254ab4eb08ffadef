// qwen3 (llama.cpp src/models/qwen3.cpp): per-head RMSNorm of q and k (attn_q_norm /
// attn_k_norm, head_dim weights) before rope; NEOX rope; head_dim from
// attention.key_length, so the query width n_head*head_dim may differ from n_embd.
#include "arch/models.hpp"

namespace vkrt::arch {

namespace {
void read(const gguf::File*, HParams& hp) {
    hp.rope_neox = true;
    hp.qk_norm = true;
}
void write(const HParams&, gguf::Writer&) {}
}  // namespace

const Arch kQwen3 = {"qwen3", read, write};

}  // namespace vkrt::arch
