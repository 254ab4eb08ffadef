#include "ref_model.hpp"

#include "core/quant.hpp"
#include "gguf/gguf.hpp"
#include "model/llama.hpp"

namespace vkrt::test {

RefModel::RefModel(const std::string& path, uint32_t n_ctx) {
    gguf::File f = gguf::File::open(path);
    LlamaHParams hp = LlamaHParams::from_gguf(f);
    auto tensor = [&](const std::string& name) { return dequantize_tensor(f.tensor(name)); };
    ref::RefLlamaConfig cfg;
    cfg.n_layer = hp.n_layer;
    cfg.n_embd = hp.n_embd;
    cfg.n_head = hp.n_head;
    cfg.n_head_kv = hp.n_head_kv;
    cfg.head_dim = hp.head_dim;
    cfg.n_ff = hp.n_ff;
    cfg.n_vocab = uint32_t(f.tensor("token_embd.weight").dims[1]);
    cfg.n_ctx = n_ctx;
    cfg.n_rot = hp.n_rot;
    cfg.rope_base = hp.rope_base;
    cfg.rms_eps = hp.rms_eps;
    cfg.rope_mode = ref::RopeMode(uint32_t(hp.rope_mode));
    ref::RefLlamaWeights w;
    w.tok_embd = tensor("token_embd.weight");
    for (uint32_t l = 0; l < hp.n_layer; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        ref::RefLlamaLayer L;
        L.attn_norm = tensor(p + "attn_norm.weight");
        L.wq = tensor(p + "attn_q.weight");
        L.wk = tensor(p + "attn_k.weight");
        L.wv = tensor(p + "attn_v.weight");
        L.wo = tensor(p + "attn_output.weight");
        L.ffn_norm = tensor(p + "ffn_norm.weight");
        L.w_gate = tensor(p + "ffn_gate.weight");
        L.w_up = tensor(p + "ffn_up.weight");
        L.w_down = tensor(p + "ffn_down.weight");
        w.layers.push_back(std::move(L));
    }
    w.output_norm = tensor("output_norm.weight");
    if (f.find_tensor("output.weight")) w.output = tensor("output.weight");
    llama_ = std::make_unique<ref::RefLlama>(cfg, std::move(w));
}

}  // namespace vkrt::test
