// Synthetic llama GGUF writer: llama.cpp convert layout, random weights, streamed.
#include "gguf/synthetic.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>

#include "core/error.hpp"
#include "core/quant.hpp"
#include "ref/reference.hpp"

namespace vkrt::gguf {

namespace {

// ---- deterministic random numbers: splitmix64 keyed by (seed, tensor, row) ----

uint64_t splitmix64(uint64_t& s) {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t fnv1a(const std::string& s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
    return h;
}

bool is_norm(const std::string& name) {
    const std::string suffix = "_norm.weight";
    return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// llama.cpp's LLAMA_FTYPE for a weight type.
uint32_t file_type(TensorType t) {
    switch (t) {
        case TensorType::F32: return 0;
        case TensorType::F16: return 1;
        case TensorType::Q4_0: return 2;
        case TensorType::Q8_0: return 7;
        default: return 0;
    }
}

// bijective base-26 letters: 0 -> "a", 25 -> "z", 26 -> "aa", ...
std::string letters(int n) {
    std::string s;
    for (++n; n > 0; n = (n - 1) / 26) s.insert(s.begin(), char('a' + (n - 1) % 26));
    return s;
}

struct TensorSpec {
    std::string name;
    std::vector<uint64_t> dims;  // GGUF order: dims[0] = row length
    TensorType type;
};

// The description's tensors with the weight type; W8A8 (I8): linears are per-channel
// int8 with a ".scale" tensor each, as vkrt-quantize writes them (docs/FORMAT.md);
// embeddings and output stay Q8_0.
std::vector<TensorSpec> tensor_specs(const SyntheticLlama& c, const arch::HParams& hp) {
    const bool w8a8 = c.wtype == TensorType::I8;
    const TensorType W = c.wtype, N = TensorType::F32, T = w8a8 ? TensorType::Q8_0 : W;
    std::vector<TensorSpec> t;
    for (const arch::TensorDesc& d : arch::tensor_table(hp)) {
        switch (d.kind) {
            case arch::Kind::embedding: t.push_back({d.name, d.dims(), T}); break;
            case arch::Kind::head:
                if (!c.tie_output) t.push_back({d.name, d.dims(), T});
                break;
            case arch::Kind::linear:
                t.push_back({d.name, d.dims(), W});
                if (w8a8) t.push_back({d.name.substr(0, d.name.size() - 7) + ".scale", {d.rows}, N});
                break;
            default: t.push_back({d.name, d.dims(), N}); break;
        }
    }
    return t;
}

void validate(const SyntheticLlama& c) {
    auto bad = [&](auto... parts) { fail(Status::invalid_argument, "synthetic model: ", parts...); };
    if (c.arch.empty()) bad("empty arch");
    if (c.n_layer < 1 || c.n_embd < 1 || c.n_head < 1 || c.n_head_kv < 1 || c.n_ff < 1 || c.n_ctx < 1 ||
        c.head_dim < 0)
        bad("n_layer, n_embd, n_head, n_head_kv, n_ff, n_ctx must be positive");
    if (c.head_dim == 0 && c.n_embd % c.n_head)
        bad("n_embd = ", c.n_embd, " is not a multiple of n_head = ", c.n_head, " (set head_dim)");
    if (c.n_head % c.n_head_kv) bad("n_head = ", c.n_head, " is not a multiple of n_head_kv = ", c.n_head_kv);
    if (c.n_vocab < 259) bad("n_vocab = ", c.n_vocab, " < 259 (3 special + 256 byte tokens)");
    const TensorType w = c.wtype;
    if (w != TensorType::F32 && w != TensorType::F16 && w != TensorType::Q4_0 && w != TensorType::Q8_0 &&
        w != TensorType::I8)
        bad("weight type ", fmt::name(w), " is not one of F32, F16, Q4_0, Q8_0, I8 (W8A8)");
    const uint32_t bs = fmt::traits(w == TensorType::I8 ? TensorType::Q8_0 : w).block_elems;  // W8A8: embeddings are Q8_0
    const int q_dim = c.n_head * (c.head_dim ? c.head_dim : c.n_embd / c.n_head);
    if (c.n_embd % bs)
        bad("n_embd = ", c.n_embd, " is not a multiple of ", fmt::name(w), "'s block size ", bs,
            " (row length of most weights)");
    if (c.n_ff % bs)
        bad("n_ff = ", c.n_ff, " is not a multiple of ", fmt::name(w), "'s block size ", bs,
            " (row length of ffn_down)");
    if (q_dim % bs)
        bad("the query width ", q_dim, " is not a multiple of ", fmt::name(w), "'s block size ", bs,
            " (row length of attn_output)");
}

// Fills rows [row0, row0+n) of one tensor: generate fp32 -> convert, on a few threads.
void fill_rows(const SyntheticLlama& cfg, const TensorSpec& t, uint64_t row0, uint64_t n, uint8_t* out) {
    const uint64_t len = t.dims[0];
    const std::string scale_suffix = ".scale";
    if (t.name.size() > scale_suffix.size() &&
        t.name.compare(t.name.size() - scale_suffix.size(), scale_suffix.size(), scale_suffix) == 0) {
        // W8A8 scales: amax/127 of each row of the matching weight (regenerated).
        const std::string weight = t.name.substr(0, t.name.size() - scale_suffix.size()) + ".weight";
        const uint64_t k = t.dims.size() > 1 ? t.dims[1] : 0;  // the weight's row length (set by the writer)
        std::vector<float> buf(static_cast<size_t>(k));
        std::vector<int8_t> q(static_cast<size_t>(k));
        float* scales = reinterpret_cast<float*>(out);
        for (uint64_t r = 0; r < len; ++r) {
            synthetic_row(cfg, weight, r, buf.data(), size_t(k));
            scales[r] = ref::quantize_row_i8(buf.data(), size_t(k), q.data());
        }
        return;
    }
    if (t.type == TensorType::I8) {
        std::vector<float> buf(static_cast<size_t>(len));
        for (uint64_t r = 0; r < n; ++r) {
            synthetic_row(cfg, t.name, row0 + r, buf.data(), size_t(len));
            ref::quantize_row_i8(buf.data(), size_t(len), reinterpret_cast<int8_t*>(out + r * len));
        }
        return;
    }
    const uint64_t rb = fmt::row_bytes(t.type, len);
    auto work = [&](uint64_t a, uint64_t b) {
        std::vector<float> buf(static_cast<size_t>(len));
        for (uint64_t r = a; r < b; ++r) {
            synthetic_row(cfg, t.name, row0 + r, buf.data(), size_t(len));
            fmt::quantize_row(t.type, buf.data(), out + r * rb, size_t(len));
        }
    };
    const uint64_t elems = n * len;
    const unsigned hw = std::max(1u, std::min(8u, std::thread::hardware_concurrency()));
    const uint64_t n_threads = std::min<uint64_t>({hw, n, elems / (1 << 16) + 1});
    if (n_threads <= 1) return work(0, n);
    std::exception_ptr err;  // first failure of any part (a vkrt::Error from quantize_row)
    std::mutex mu;
    auto part = [&](uint64_t i) {
        try {
            work(n * i / n_threads, n * (i + 1) / n_threads);
        } catch (...) {
            std::lock_guard<std::mutex> lock(mu);
            if (!err) err = std::current_exception();
        }
    };
    std::vector<std::thread> pool;
    for (uint64_t i = 1; i < n_threads; ++i) {
        try {
            pool.emplace_back(part, i);
        } catch (const std::system_error&) {
            part(i);  // no thread available: do it here
        }
    }
    part(0);
    for (auto& th : pool) th.join();
    if (err) std::rethrow_exception(err);
}

}  // namespace

void synthetic_row(const SyntheticLlama& cfg, const std::string& name, uint64_t row, float* out, size_t n) {
    uint64_t s = uint64_t(cfg.seed) * 0x2545f4914f6cdd1dull ^ fnv1a(name);
    s = splitmix64(s) ^ (row * 0x9e3779b97f4a7c15ull);
    splitmix64(s);
    const bool norm = is_norm(name);
    const bool factors = name.rfind("rope_f", 0) == 0;  // rope_freqs / rope_factors_*: U(1, 4)
    const float a = factors ? 1.5f : norm ? 0.1f : 0.02f * std::sqrt(3.f);
    const float bias = factors ? 2.5f : norm ? 1.f : 0.f;
    constexpr float kInv24 = 1.0f / 16777216.f;
    for (size_t i = 0; i < n; i += 2) {
        const uint64_t r = splitmix64(s);
        const float u0 = float(uint32_t(r) >> 8) * kInv24;          // [0, 1)
        const float u1 = float(uint32_t(r >> 32) >> 8) * kInv24;
        out[i] = bias + (2.f * u0 - 1.f) * a;
        if (i + 1 < n) out[i + 1] = bias + (2.f * u1 - 1.f) * a;
    }
}

std::vector<std::string> synthetic_vocab(int n_vocab) {
    std::vector<std::string> v = {"<unk>", "<s>", "</s>"};
    static const char* hex = "0123456789ABCDEF";
    for (int b = 0; b < 256 && int(v.size()) < n_vocab; ++b)
        v.push_back(std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">");
    // "▁a", "a", "▁b", "b", ..., "▁z", "z", "▁aa", "aa", ... (all distinct)
    for (int i = 0; int(v.size()) < n_vocab; ++i) v.push_back((i % 2 == 0 ? "\xE2\x96\x81" : "") + letters(i / 2));
    return v;
}

arch::HParams synthetic_hparams(const SyntheticLlama& c) {
    validate(c);
    arch::HParams hp;
    hp.arch = c.arch;
    hp.n_layer = uint32_t(c.n_layer);
    hp.n_embd = uint32_t(c.n_embd);
    hp.n_head = uint32_t(c.n_head);
    hp.n_head_kv = uint32_t(c.n_head_kv);
    hp.head_dim = uint32_t(c.head_dim ? c.head_dim : c.n_embd / c.n_head);
    hp.n_rot = hp.head_dim;
    hp.n_ff = uint32_t(c.n_ff);
    hp.n_vocab = uint32_t(c.n_vocab);
    hp.n_ctx_train = uint32_t(c.n_ctx);
    hp.rope_base = c.rope_base;
    hp.rope_base_swa = c.rope_base_swa;
    hp.rms_eps = c.rms_eps;
    hp.rope_factors = c.rope_factors;
    hp.qkv_bias = c.qkv_bias;
    hp.rope_factors_ls = c.rope_factors_ls;
    hp.n_ctx_orig = uint32_t(c.n_ctx_orig ? c.n_ctx_orig : c.n_ctx);
    hp.rope_attn_factor = c.rope_attn_factor;
    hp.n_swa = uint32_t(c.n_swa);
    hp.swa_pattern = uint32_t(c.swa_pattern);
    if (c.arch == "gemma3" && hp.n_swa == 0) hp.n_swa = 4096;  // gemma3 files always name a window
    return arch::complete(hp);
}

const std::vector<std::string>& preset_names() {
    static const std::vector<std::string> v = {"tiny",        "125M",         "1B",        "7B",
                                               "llama3.2-1b", "qwen2.5-0.5b", "qwen3-0.6b", "gemma3-1b",
                                               "phi3-mini"};
    return v;
}

SyntheticLlama small_preset(const std::string& name, TensorType wtype, int n_layer, int n_ctx) {
    SyntheticLlama c = preset(name, wtype);
    const int hd = c.head_dim ? c.head_dim : c.n_embd / c.n_head;
    c.n_layer = n_layer;
    c.n_head = 2;
    c.n_head_kv = 1;
    c.n_embd = 2 * hd;
    c.n_ff = 256;
    c.n_vocab = 300;
    c.n_ctx = std::min(c.n_ctx, n_ctx);
    if (c.n_ctx_orig) c.n_ctx_orig = std::min(c.n_ctx_orig, c.n_ctx);
    return c;
}

SyntheticLlama preset(const std::string& name, TensorType wtype) {
    SyntheticLlama c;
    c.wtype = wtype;
    if (name == "tiny") {
        c.n_layer = 2, c.n_embd = 64, c.n_head = 4, c.n_head_kv = 2, c.n_ff = 96, c.n_vocab = 300;
    } else if (name == "125M") {
        c.n_layer = 12, c.n_embd = 768, c.n_head = 12, c.n_head_kv = 12, c.n_ff = 2048, c.n_vocab = 32000;
    } else if (name == "1B") {
        c.n_layer = 16, c.n_embd = 2048, c.n_head = 32, c.n_head_kv = 8, c.n_ff = 8192, c.n_vocab = 32000;
    } else if (name == "7B") {
        c.n_layer = 32, c.n_embd = 4096, c.n_head = 32, c.n_head_kv = 32, c.n_ff = 11008, c.n_vocab = 32000;
    } else if (name == "llama3.2-1b") {  // Llama 3.2 1B: tied output, rope_freqs, base 500000
        c.n_layer = 16, c.n_embd = 2048, c.n_head = 32, c.n_head_kv = 8, c.n_ff = 8192, c.n_vocab = 128256;
        c.rope_base = 500000.f, c.rope_factors = true, c.tie_output = true, c.n_ctx = 131072;
    } else if (name == "qwen2.5-0.5b") {  // Qwen2.5 0.5B: q/k/v biases, tied output
        c.arch = "qwen2";
        c.n_layer = 24, c.n_embd = 896, c.n_head = 14, c.n_head_kv = 2, c.n_ff = 4864, c.n_vocab = 151936;
        c.rope_base = 1000000.f, c.rms_eps = 1e-6f, c.tie_output = true, c.n_ctx = 32768;
    } else if (name == "qwen3-0.6b") {  // Qwen3 0.6B: head dim 128, query width 2048 != n_embd 1024
        c.arch = "qwen3";
        c.n_layer = 28, c.n_embd = 1024, c.n_head = 16, c.n_head_kv = 8, c.head_dim = 128, c.n_ff = 3072;
        c.n_vocab = 151936, c.rope_base = 1000000.f, c.rms_eps = 1e-6f, c.tie_output = true, c.n_ctx = 40960;
    } else if (name == "gemma3-1b") {  // Gemma 3 1B: head dim 256, window 512 on 5 of 6 layers
        c.arch = "gemma3";
        c.n_layer = 26, c.n_embd = 1152, c.n_head = 4, c.n_head_kv = 1, c.head_dim = 256, c.n_ff = 6912;
        c.n_vocab = 262144, c.rope_base = 1000000.f, c.rms_eps = 1e-6f, c.tie_output = true, c.n_ctx = 32768;
        c.n_swa = 512, c.swa_pattern = 6;
    } else if (name == "phi3-mini") {  // Phi-3-mini 4k: fused qkv and gate|up, head dim 96
        c.arch = "phi3";
        c.n_layer = 32, c.n_embd = 3072, c.n_head = 32, c.n_head_kv = 32, c.n_ff = 8192, c.n_vocab = 32064;
        c.n_ctx = 4096;
    } else {
        std::string names;
        for (const std::string& n : preset_names()) names += (names.empty() ? "" : ", ") + n;
        fail(Status::invalid_argument, "synthetic model: unknown preset '", name, "' (", names, ")");
    }
    return c;
}

void write_synthetic_llama(const SyntheticLlama& cfg, const std::string& path) {
    const arch::HParams hp = synthetic_hparams(cfg);
    Writer w;

    // general + hyper-parameters: the keys the architecture description reads
    arch::write_hparams(hp, w);
    w.set_string("general.name", "vkrt synthetic " + cfg.arch);
    w.set_u32(cfg.arch + ".vocab_size", uint32_t(cfg.n_vocab));
    w.set_u32("general.file_type", file_type(cfg.wtype));
    w.set_u32("general.quantization_version", 2);
    if (cfg.wtype == TensorType::I8) w.set_string("vkrt.quantization.scheme", "w8a8");

    // tokenizer: <unk> <s> </s>, 256 byte tokens, synthetic pieces
    const std::vector<std::string> vocab = synthetic_vocab(cfg.n_vocab);
    std::vector<float> scores(vocab.size(), 0.f);
    std::vector<int32_t> types(vocab.size(), 1);  // 1 normal, 2 unknown, 3 control, 6 byte
    types[0] = 2, types[1] = 3, types[2] = 3;
    for (size_t i = 3; i < 259; ++i) types[i] = 6;
    for (size_t i = 259; i < vocab.size(); ++i) scores[i] = -float(i - 259);
    w.set_string("tokenizer.ggml.model", "llama");
    w.set_string_array("tokenizer.ggml.tokens", vocab);
    w.set_f32_array("tokenizer.ggml.scores", scores);
    w.set_i32_array("tokenizer.ggml.token_type", types);
    w.set_u32("tokenizer.ggml.bos_token_id", 1);
    w.set_u32("tokenizer.ggml.eos_token_id", 2);
    w.set_u32("tokenizer.ggml.unknown_token_id", 0);
    w.set_bool("tokenizer.ggml.add_bos_token", true);
    w.set_bool("tokenizer.ggml.add_eos_token", false);

    // tensors, streamed row by row at write time
    const std::vector<TensorSpec> specs = tensor_specs(cfg, hp);
    for (const TensorSpec& t : specs) {
        auto spec = std::make_shared<TensorSpec>(t);
        if (spec->name.size() > 6 && spec->name.compare(spec->name.size() - 6, 6, ".scale") == 0) {
            // W8A8 scales: remember the weight's row length (the tensor before it) in dims[1]
            // for fill_rows; the file gets the 1-D shape.
            const TensorSpec& weight = specs[size_t(&t - specs.data()) - 1];
            spec->dims = {t.dims[0], weight.dims[0]};
        }
        w.add_tensor_rows(t.name, t.type, t.dims, [cfg, spec](uint64_t row0, uint64_t n, uint8_t* out) {
            fill_rows(cfg, *spec, row0, n, out);
        });
    }
    w.write(path);
}

}  // namespace vkrt::gguf
