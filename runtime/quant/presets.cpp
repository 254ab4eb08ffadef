// llama-quantize's per-tensor mix (see presets.hpp); each rule names the llama.cpp branch it ports.
#include "quant/presets.hpp"

#include <algorithm>
#include <cctype>
#include <sstream>

#include "core/error.hpp"

namespace vkrt::quant {

namespace {
// llama_ftype values (llama.h).
enum Ftype : uint32_t {
    F16 = 1, Q4_0 = 2, Q4_1 = 3, Q8_0 = 7, Q5_0 = 8, Q5_1 = 9, Q2_K = 10, Q3_K_S = 11, Q3_K_M = 12,
    Q3_K_L = 13, Q4_K_S = 14, Q4_K_M = 15, Q5_K_S = 16, Q5_K_M = 17, Q6_K = 18, IQ4_NL = 25, IQ4_XS = 30,
    BF16 = 32,
};

bool ends_with(const std::string& s, const char* suf) {
    const size_t n = std::char_traits<char>::length(suf);
    return s.size() >= n && s.compare(s.size() - n, n, suf) == 0;
}
bool has(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

bool is_float(Format f) { return f == Format::F32 || f == Format::F16 || f == Format::BF16; }
}  // namespace

const std::vector<Preset>& presets() {
    static const std::vector<Preset> k = {
        {"Q4_0", Q4_0, Format::Q4_0},       {"Q4_1", Q4_1, Format::Q4_1},       {"Q5_0", Q5_0, Format::Q5_0},
        {"Q5_1", Q5_1, Format::Q5_1},       {"Q8_0", Q8_0, Format::Q8_0},       {"Q2_K", Q2_K, Format::Q2_K},
        {"Q3_K_S", Q3_K_S, Format::Q3_K},   {"Q3_K_M", Q3_K_M, Format::Q3_K},   {"Q3_K_L", Q3_K_L, Format::Q3_K},
        {"Q4_K_S", Q4_K_S, Format::Q4_K},   {"Q4_K_M", Q4_K_M, Format::Q4_K},   {"Q5_K_S", Q5_K_S, Format::Q5_K},
        {"Q5_K_M", Q5_K_M, Format::Q5_K},   {"Q6_K", Q6_K, Format::Q6_K},       {"IQ4_NL", IQ4_NL, Format::IQ4_NL},
        {"IQ4_XS", IQ4_XS, Format::IQ4_XS}, {"BF16", BF16, Format::BF16},       {"F16", F16, Format::F16},
    };
    return k;
}

const Preset* find_preset(const std::string& name) {
    std::string up = name;
    for (char& c : up) c = char(std::toupper(static_cast<unsigned char>(c)));
    for (const Preset& p : presets())
        if (up == p.name) return &p;
    return nullptr;
}

PresetPlan::PresetPlan(const Preset& p, const std::vector<std::string>& names, uint32_t n_layer, uint32_t n_gqa,
                       bool has_imatrix)
    : p_(p), n_layer_(int(n_layer)), n_gqa_(int(n_gqa)), has_imatrix_(has_imatrix) {
    // init_quantize_state_counters: attn_v-like tensors, and whether output.weight exists.
    for (const std::string& n : names) {
        if (has(n, "attn_v.weight") || has(n, "attn_qkv.weight") || has(n, "attn_kv_b.weight")) ++n_attention_wv_;
        if (n == "output.weight") tied_ = false;
    }
}

TensorChoice PresetPlan::choose(const std::string& name, const std::vector<uint64_t>& dims, Format current) {
    // tensor_allows_quantization: 2-D (or more) tensors named *weight, no norms.
    if (dims.size() < 2 || !ends_with(name, "weight") || has(name, "_norm.weight")) return {current, {}};
    const Format base = p_.base;
    if (!fmt::traits(base).block_elems || is_float(base)) return {base, {}};  // F16 / BF16: no mix, no blocks

    const uint32_t ft = p_.ftype;
    const int64_t nx = int64_t(dims[0]);
    auto use_more_bits = [](int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; };
    Format t = base;
    const bool output = name == "output.weight";
    const bool token_embd = name == "token_embd.weight";
    if (output || (tied_ && token_embd)) {
        if (nx % int64_t(fmt::traits(base).block_elems) != 0)
            t = Format::Q8_0;
        else if (base != Format::Q8_0)
            t = Format::Q6_K;
    } else if (token_embd) {
        // no change for these presets
    } else if (has(name, "attn_v.weight") || has(name, "attn_qkv.weight") || has(name, "attn_kv_b.weight")) {
        if (ft == Q2_K) t = n_gqa_ >= 4 ? Format::Q4_K : Format::Q3_K;
        else if (ft == Q3_K_M) t = i_attention_wv_ < 2 ? Format::Q5_K : Format::Q4_K;
        else if (ft == Q3_K_L) t = Format::Q5_K;
        else if ((ft == IQ4_NL || ft == IQ4_XS) && n_gqa_ >= 4) t = Format::Q5_K;
        else if ((ft == Q4_K_M || ft == Q5_K_M) && use_more_bits(i_attention_wv_, n_attention_wv_)) t = Format::Q6_K;
        else if (ft == Q4_K_S && i_attention_wv_ < 4) t = Format::Q5_K;
        ++i_attention_wv_;
    } else if (has(name, "ffn_down")) {
        const int i = i_ffn_down_, n = n_layer_;
        if (ft == Q2_K) t = Format::Q3_K;
        else if (ft == Q3_K_M) t = i < n / 16 ? Format::Q5_K : Format::Q4_K;  // non-Falcon: use_more_bits or not, Q4_K
        else if (ft == Q3_K_L) t = Format::Q5_K;
        else if (ft == Q4_K_M) { if (use_more_bits(i, n)) t = Format::Q6_K; }
        else if (i < n / 8 && (ft == IQ4_NL || ft == IQ4_XS) && !has_imatrix_) t = Format::Q5_K;
        else if (ft == Q5_K_M && use_more_bits(i, n)) t = Format::Q6_K;
        else if (ft == Q4_K_S && i < n / 8) t = Format::Q5_K;
        else if ((ft == Q4_0 || ft == Q5_0) && has_imatrix_ && i < n / 8) t = ft == Q4_0 ? Format::Q4_1 : Format::Q5_1;
        ++i_ffn_down_;
    } else if (has(name, "attn_output.weight")) {
        if (ft == Q2_K) t = Format::Q3_K;
        else if (ft == Q3_K_M) t = Format::Q4_K;
        else if (ft == Q3_K_L) t = Format::Q5_K;
    }

    // tensor_type_fallback
    const int64_t qk = int64_t(fmt::traits(t).block_elems);
    if (nx % qk == 0) return {t, {}};
    Format fb;
    switch (t) {
        case Format::IQ4_XS: fb = Format::IQ4_NL; break;
        case Format::Q2_K:
        case Format::Q3_K: fb = Format::Q4_0; break;
        case Format::Q4_K: fb = Format::Q5_0; break;
        case Format::Q5_K: fb = Format::Q5_1; break;
        case Format::Q6_K: fb = Format::Q8_0; break;
        default: fb = Format::F16; break;  // a 32-block type: llama.cpp has no fallback and goes to F16 below
    }
    if (nx % int64_t(fmt::traits(fb).block_elems) != 0) fb = Format::F16;
    std::ostringstream os;
    os << name << ": rows of " << nx << " do not fit " << fmt::name(t) << "'s " << qk << "-element blocks -> "
       << fmt::name(fb);
    return {fb, os.str()};
}

}  // namespace vkrt::quant
