// gemma3 (llama.cpp src/models/gemma3.cpp, hyper-parameters from llama-model.cpp):
//   * embedding * sqrt(n_embd); GELU (tanh) gated FFN; NEOX rope;
//   * per-head q/k RMSNorm; post_attention_norm and post_ffw_norm on the block outputs
//     (Gemma GGUF norm weights already include the +1);
//   * sliding-window attention (attention.sliding_window) on the layers of the pattern
//     (attention.sliding_window_pattern: n, layer l is SWA when l % n < n - 1, llama.cpp's
//     default 6; or one bool per layer), with their own rope base (rope.freq_base_swa,
//     default 10000) and no rope scaling; global layers use rope.freq_base and scaling;
//   * attention scale 1/sqrt(head_dim) (27B, 62 layers: 1/sqrt(n_embd / n_head)).
#include <cmath>

#include "arch/models.hpp"
#include "core/error.hpp"
#include "gguf/gguf.hpp"

namespace vkrt::arch {

namespace {
void read(const gguf::File* f, HParams& hp) {
    hp.rope_neox = true;
    hp.act = Act::gelu_tanh;
    hp.qk_norm = true;
    hp.post_norms = true;
    hp.embd_scale = std::sqrt(float(hp.n_embd));
    hp.attn_scale = hp.n_layer == 62 ? 1.0f / std::sqrt(float(hp.n_embd / hp.n_head))
                                     : 1.0f / std::sqrt(float(hp.head_dim));
    hp.rope_freq_scale_swa = 1.0f;
    if (f) {
        const std::string p = hp.arch + ".";
        const int64_t swa = f->get_int(p + "attention.sliding_window", -1);
        VKRT_CHECK(swa > 0 && swa <= (int64_t(1) << 24), Status::bad_format, "gguf: ", p,
                   "attention.sliding_window is ", swa == -1 ? "missing" : "out of range");
        hp.n_swa = uint32_t(swa);
        hp.rope_base_swa = float(f->get_float(p + "rope.freq_base_swa", 10000.0));
        hp.swa_pattern = 6;
        hp.swa_layers.clear();
        if (const gguf::Value* v = f->find(p + "attention.sliding_window_pattern")) {
            if (v->type == gguf::ValueType::ARRAY) {
                const gguf::Array& a = v->as_array(p + "attention.sliding_window_pattern");
                VKRT_CHECK(a.size() == hp.n_layer, Status::bad_format, "gguf: ", p,
                           "attention.sliding_window_pattern has ", a.size(), " entries for ", hp.n_layer, " layers");
                hp.swa_pattern = 0;
                for (const gguf::Value& e : a) hp.swa_layers.push_back(e.as_bool(p + "attention.sliding_window_pattern"));
            } else {
                const int64_t n = v->as_int(p + "attention.sliding_window_pattern");
                VKRT_CHECK(n >= 0 && n <= 4096, Status::bad_format, "gguf: ", p, "attention.sliding_window_pattern ", n,
                           " is out of range");
                hp.swa_pattern = uint32_t(n);
            }
        }
    } else if (hp.swa_pattern == 0 && hp.swa_layers.empty()) {
        hp.swa_pattern = 6;
    }
    if (hp.swa_layers.empty() && hp.n_swa > 0) {
        // llama.cpp's set_swa_pattern: n == 0 makes every layer SWA.
        const uint32_t n = hp.swa_pattern;
        for (uint32_t l = 0; l < hp.n_layer; ++l) hp.swa_layers.push_back(n == 0 || l % n < n - 1);
    }
}

void write(const HParams& hp, gguf::Writer& w) {
    const std::string p = hp.arch + ".";
    w.set_u32(p + "attention.sliding_window", hp.n_swa);
    w.set_u32(p + "attention.sliding_window_pattern", hp.swa_pattern);
    w.set_f32(p + "rope.freq_base_swa", hp.rope_base_swa);
}
}  // namespace

const Arch kGemma3 = {"gemma3", read, write};

}  // namespace vkrt::arch
