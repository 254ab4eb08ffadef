// Shared building blocks of the architecture descriptions: the keys every
// architecture reads (llama.cpp's llama-model.cpp load_hparams), the tensor table of
// the shared block, the registry.
#include "arch/arch.hpp"

#include <cmath>

#include "arch/models.hpp"
#include "core/error.hpp"
#include "core/format.hpp"
#include "gguf/gguf.hpp"

namespace vkrt::arch {

const char* role_name(Role r) {
    static const char* names[kRoles] = {
        "token_embd", "output_norm", "output", "rope_factors", "rope_factors_long",
        "attn_norm", "attn_q", "attn_k", "attn_v", "attn_q.bias", "attn_k.bias", "attn_v.bias", "attn_q_norm",
        "attn_k_norm", "attn_output", "post_attention_norm", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down",
        "post_ffw_norm"};
    return size_t(r) < kRoles ? names[size_t(r)] : "?";
}

const char* site_name(Site s) {
    switch (s) {
        case Site::attn_in: return "attn_in";
        case Site::attn_out: return "attn_out";
        case Site::ffn_in: return "ffn_in";
        case Site::ffn_down_in: return "ffn_down_in";
    }
    return "?";
}

Site linear_site(Role r) {
    switch (r) {
        case Role::attn_q: case Role::attn_k: case Role::attn_v: return Site::attn_in;
        case Role::attn_output: return Site::attn_out;
        case Role::ffn_gate: case Role::ffn_up: return Site::ffn_in;
        case Role::ffn_down: return Site::ffn_down_in;
        default: fail(Status::internal, "role ", role_name(r), " is not a block linear");
    }
}

std::vector<uint64_t> TensorDesc::dims() const {
    if (kind == Kind::norm || kind == Kind::bias || kind == Kind::factors) return {cols};
    return {cols, rows};
}

float HParams::kq_scale() const { return attn_scale > 0 ? attn_scale : 1.0f / std::sqrt(float(head_dim)); }

void HParams::validate() const {
    auto bad = [&](auto... parts) { fail(Status::bad_format, "gguf: ", arch, ": ", parts...); };
    if (n_layer == 0 || n_embd == 0 || n_head == 0 || n_head_kv == 0 || head_dim == 0 || n_ff == 0)
        bad("block_count, embedding_length, head_count, head_count_kv, key_length and feed_forward_length must be > 0");
    if (n_ctx_train == 0) bad("context_length must be > 0");
    if (n_layer > 4096 || n_embd > (1u << 20) || n_ff > (1u << 22) || n_head > 4096)
        bad("a dimension is out of range (", n_layer, " layers, dim ", n_embd, ", FFN ", n_ff, ", ", n_head, " heads)");
    if (n_head % n_head_kv) bad("head_count ", n_head, " is not a multiple of head_count_kv ", n_head_kv);
    if (head_dim > 256 || head_dim % 2)
        fail(Status::unsupported, arch, ": head dim ", head_dim, " (attention.key_length) must be even and <= 256");
    if (n_rot == 0 || n_rot > head_dim || n_rot % 2) bad("rope.dimension_count ", n_rot, " does not fit head_dim ", head_dim);
    if (!(rope_base > 0) || !std::isfinite(rope_base) || !(rope_base_swa > 0) || !std::isfinite(rope_base_swa))
        bad("bad rope.freq_base");
    if (!(rope_freq_scale > 0) || !std::isfinite(rope_freq_scale) || !(rope_freq_scale_swa > 0))
        bad("bad rope.scaling.factor");
    if (!(rope_attn_factor > 0) || !std::isfinite(rope_attn_factor)) bad("bad rope.scaling.attn_factor");
    if (!(rms_eps > 0 && rms_eps < 1)) bad("bad attention.layer_norm_rms_epsilon ", rms_eps);
    if (!(embd_scale > 0) || !std::isfinite(embd_scale) || !(attn_scale >= 0) || !std::isfinite(attn_scale))
        bad("bad embedding or attention scale");
    if (n_swa > 0 && swa_layers.size() != n_layer)
        bad("sliding-window layers: ", swa_layers.size(), " entries for ", n_layer, " layers");
}

void block_tensor_fail(const char* what, Role r) {
    fail(Status::internal, what, ": ", role_name(r), " is not a block tensor");
}

const std::vector<const Arch*>& all() {
    static const std::vector<const Arch*> v = {&kLlama, &kMistral, &kQwen2, &kQwen3, &kGemma3, &kPhi3};
    return v;
}

const Arch& find(const std::string& name) {
    for (const Arch* a : all())
        if (name == a->name) return *a;
    std::string names;
    for (const Arch* a : all()) names += std::string(names.empty() ? "" : ", ") + a->name;
    fail(Status::unsupported, "architecture '", name, "' is not supported (vkrt runs ", names, ")");
}

std::string layer_name(uint32_t layer, const std::string& suffix) {
    return "blk." + std::to_string(layer) + "." + suffix;
}

// ---------------------------------------------------------------- keys

HParams read_hparams(const gguf::File& f) {
    HParams hp;
    hp.arch = f.get_string("general.architecture", "");
    VKRT_CHECK(!hp.arch.empty(), Status::bad_format, "gguf: general.architecture is missing");
    const Arch& a = find(hp.arch);
    const std::string p = hp.arch + ".";
    auto need = [&](const char* key) -> uint32_t {
        int64_t v = f.get_int(p + key, -1);
        VKRT_CHECK(v > 0 && v <= (int64_t(1) << 24), Status::bad_format, "gguf: ", p, key,
                   v == -1 ? " is missing" : " is out of range");
        return uint32_t(v);
    };
    auto opt_u32 = [&](const char* key, uint32_t def) -> uint32_t {
        int64_t v = f.get_int(p + key, int64_t(def));
        VKRT_CHECK(v >= 0 && v <= (int64_t(1) << 24), Status::bad_format, "gguf: ", p, key, " = ", v,
                   " is out of range");
        return uint32_t(v);
    };
    hp.n_layer = need("block_count");
    hp.n_embd = need("embedding_length");
    hp.n_ff = need("feed_forward_length");
    hp.n_head = need("attention.head_count");
    hp.n_head_kv = opt_u32("attention.head_count_kv", hp.n_head);
    hp.n_ctx_train = opt_u32("context_length", 2048);
    hp.rope_base = float(f.get_float(p + "rope.freq_base", 10000.0));
    hp.rms_eps = float(f.get_float(p + "attention.layer_norm_rms_epsilon", 1e-5));
    // head_dim: attention.key_length, else n_embd / n_head (llama.cpp's n_embd_head_k).
    const bool has_key_length = f.find(p + "attention.key_length") != nullptr;
    VKRT_CHECK(has_key_length || hp.n_embd % hp.n_head == 0, Status::bad_format, "gguf: embedding_length ", hp.n_embd,
               " is not a multiple of head_count ", hp.n_head, " and ", p, "attention.key_length is missing");
    hp.head_dim = has_key_length ? need("attention.key_length") : hp.n_embd / hp.n_head;
    const uint32_t v_len = opt_u32("attention.value_length", hp.head_dim);
    VKRT_CHECK(v_len == hp.head_dim, Status::unsupported, hp.arch, ": attention.value_length ", v_len,
               " != key_length ", hp.head_dim, " is not supported");
    hp.n_rot = opt_u32("rope.dimension_count", hp.head_dim);
    // Rope scaling: llama.cpp takes a missing type as "linear" and a missing factor as 1.
    const std::string scaling = f.get_string(p + "rope.scaling.type", "linear");
    const float factor = float(f.get_float(p + "rope.scaling.factor", 0.0));
    VKRT_CHECK(scaling == "linear" || scaling == "none" || scaling == "longrope" || factor == 0.0f || factor == 1.0f,
               Status::unsupported, hp.arch, ": rope scaling '", scaling, "' (factor ", factor, ") is not supported");
    hp.rope_freq_scale = scaling == "linear" && factor > 0 ? 1.0f / factor : 1.0f;
    hp.rope_attn_factor = float(f.get_float(p + "rope.scaling.attn_factor", 1.0));
    hp.n_ctx_orig = opt_u32("rope.scaling.original_context_length", hp.n_ctx_train);
    // Biases are optional in llama.cpp's llama graph too: present in the file = used.
    hp.qkv_bias = f.find_tensor(layer_name(0, "attn_q.bias")) != nullptr;
    const gguf::TensorInfo* te = f.find_tensor("token_embd.weight");
    VKRT_CHECK(te && te->dims.size() == 2 && te->dims[0] == hp.n_embd && te->dims[1] > 0 &&
                   te->dims[1] <= (uint64_t(1) << 24),
               Status::bad_format, "gguf: token_embd.weight is missing or not {", hp.n_embd, ", n_vocab}");
    hp.n_vocab = uint32_t(te->dims[1]);
    a.read(&f, hp);
    hp.validate();
    return hp;
}

HParams complete(HParams hp) {
    find(hp.arch).read(nullptr, hp);
    hp.validate();
    return hp;
}

void write_hparams(const HParams& hp, gguf::Writer& w) {
    const std::string p = hp.arch + ".";
    w.set_string("general.architecture", hp.arch);
    w.set_u32(p + "block_count", hp.n_layer);
    w.set_u32(p + "context_length", hp.n_ctx_train);
    w.set_u32(p + "embedding_length", hp.n_embd);
    w.set_u32(p + "feed_forward_length", hp.n_ff);
    w.set_u32(p + "attention.head_count", hp.n_head);
    w.set_u32(p + "attention.head_count_kv", hp.n_head_kv);
    w.set_u32(p + "attention.key_length", hp.head_dim);
    w.set_u32(p + "attention.value_length", hp.head_dim);
    w.set_f32(p + "rope.freq_base", hp.rope_base);
    w.set_u32(p + "rope.dimension_count", hp.n_rot);
    w.set_f32(p + "attention.layer_norm_rms_epsilon", hp.rms_eps);
    if (hp.rope_freq_scale != 1.0f) {
        w.set_string(p + "rope.scaling.type", "linear");
        w.set_f32(p + "rope.scaling.factor", 1.0f / hp.rope_freq_scale);
    }
    if (hp.rope_attn_factor != 1.0f) w.set_f32(p + "rope.scaling.attn_factor", hp.rope_attn_factor);
    if (hp.n_ctx_orig) w.set_u32(p + "rope.scaling.original_context_length", hp.n_ctx_orig);
    find(hp.arch).write(hp, w);
}

// ---------------------------------------------------------------- tensors

std::vector<TensorDesc> tensor_table(const HParams& hp) {
    const uint32_t E = hp.n_embd, Q = hp.q_dim(), KV = hp.kv_dim(), F = hp.n_ff, V = hp.n_vocab, hd = hp.head_dim;
    std::vector<TensorDesc> t;
    auto add = [&](std::string name, Kind kind, int layer, std::vector<Role> parts, std::vector<uint32_t> part_rows,
                   uint32_t cols, bool required = true) {
        TensorDesc d;
        d.name = std::move(name);
        d.kind = kind;
        d.layer = layer;
        d.parts = std::move(parts);
        d.part_rows = std::move(part_rows);
        d.cols = cols;
        d.rows = 0;
        for (uint32_t r : d.part_rows) d.rows += r;
        if (kind == Kind::linear) d.site = linear_site(d.parts[0]);
        d.required = required;
        t.push_back(std::move(d));
    };
    auto vec = [&](std::string name, Kind kind, int layer, Role role, uint32_t n, bool required = true) {
        add(std::move(name), kind, layer, {role}, {1}, n, required);
    };
    add("token_embd.weight", Kind::embedding, -1, {Role::tok_embd}, {V}, E);
    if (hp.rope_factors) vec("rope_freqs.weight", Kind::factors, -1, Role::rope_factors, hp.n_rot / 2);
    if (hp.rope_factors_ls) {
        vec("rope_factors_long.weight", Kind::factors, -1, Role::rope_factors_long, hp.n_rot / 2);
        vec("rope_factors_short.weight", Kind::factors, -1, Role::rope_factors, hp.n_rot / 2);
    }
    for (uint32_t l = 0; l < hp.n_layer; ++l) {
        const int L = int(l);
        auto n = [&](const char* s) { return layer_name(l, s); };
        vec(n("attn_norm.weight"), Kind::norm, L, Role::attn_norm, E);
        if (hp.fused_qkv) {
            add(n("attn_qkv.weight"), Kind::linear, L, {Role::attn_q, Role::attn_k, Role::attn_v}, {Q, KV, KV}, E);
        } else {
            add(n("attn_q.weight"), Kind::linear, L, {Role::attn_q}, {Q}, E);
            add(n("attn_k.weight"), Kind::linear, L, {Role::attn_k}, {KV}, E);
            add(n("attn_v.weight"), Kind::linear, L, {Role::attn_v}, {KV}, E);
        }
        if (hp.qkv_bias) {
            vec(n("attn_q.bias"), Kind::bias, L, Role::attn_q_bias, Q);
            vec(n("attn_k.bias"), Kind::bias, L, Role::attn_k_bias, KV);
            vec(n("attn_v.bias"), Kind::bias, L, Role::attn_v_bias, KV);
        }
        if (hp.qk_norm) {
            vec(n("attn_q_norm.weight"), Kind::norm, L, Role::attn_q_norm, hd);
            vec(n("attn_k_norm.weight"), Kind::norm, L, Role::attn_k_norm, hd);
        }
        add(n("attn_output.weight"), Kind::linear, L, {Role::attn_output}, {E}, Q);
        if (hp.post_norms) vec(n("post_attention_norm.weight"), Kind::norm, L, Role::attn_post_norm, E);
        vec(n("ffn_norm.weight"), Kind::norm, L, Role::ffn_norm, E);
        if (hp.fused_gate_up) {
            add(n("ffn_up.weight"), Kind::linear, L, {Role::ffn_gate, Role::ffn_up}, {F, F}, E);
        } else {
            add(n("ffn_gate.weight"), Kind::linear, L, {Role::ffn_gate}, {F}, E);
            add(n("ffn_up.weight"), Kind::linear, L, {Role::ffn_up}, {F}, E);
        }
        add(n("ffn_down.weight"), Kind::linear, L, {Role::ffn_down}, {E}, F);
        if (hp.post_norms) vec(n("post_ffw_norm.weight"), Kind::norm, L, Role::ffn_post_norm, E);
    }
    vec("output_norm.weight", Kind::norm, -1, Role::output_norm, E);
    add("output.weight", Kind::head, -1, {Role::output}, {V}, E, /*required=*/false);
    return t;
}

// ---------------------------------------------------------------- plan

Plan plan(const HParams& hp, const RoleType& type_of) {
    Plan p;
    p.embd_scale = hp.embd_scale;
    p.output_eps = hp.rms_eps;
    p.n_ctx_orig = hp.n_ctx_orig;
    p.long_factors_exist = hp.rope_factors_ls;
    // One matrix for roles that share an input: rows of one format with matrix kernels
    // concatenate byte for byte (whole GGUF rows); anything else (mixed formats of a
    // Q4_K_M file, W8A8's I8) stays separate.
    auto fusable = [&](uint32_t l, std::initializer_list<Role> roles, bool in_file) {
        if (!type_of) return in_file;
        const uint32_t t = type_of(*roles.begin(), l);
        const fmt::Traits* ft = fmt::find(t);
        if (!ft || !(ft->kernels & fmt::kKernelFloat)) return false;
        for (Role r : roles)
            if (type_of(r, l) != t) return false;
        return true;
    };
    p.layers.resize(hp.n_layer);
    for (uint32_t l = 0; l < hp.n_layer; ++l) {
        LayerPlan& L = p.layers[l];
        L.layer = l;
        L.eps = hp.rms_eps;
        L.qkv_bias = hp.qkv_bias;
        L.qk_norm = hp.qk_norm;
        L.rope.on = true;  // every architecture of runtime/arch ropes every layer
        L.rope.neox = hp.rope_neox;
        L.rope.n_rot = hp.n_rot ? hp.n_rot : hp.head_dim;
        // Sliding-window layers have their own base and no scaling (gemma3).
        L.rope.base = hp.layer_rope_base(l);
        L.rope.freq_scale = hp.layer_freq_scale(l);
        L.rope.attn_factor = hp.rope_attn_factor;
        L.rope.factors = hp.rope_factors || hp.rope_factors_ls;
        L.window = hp.is_swa(l) ? hp.n_swa : 0;
        L.kq_scale = hp.kq_scale();
        L.attn_post_norm = hp.post_norms;
        L.act = hp.act;
        L.ffn_post_norm = hp.post_norms;
        L.fused.qkv = fusable(l, {Role::attn_q, Role::attn_k, Role::attn_v}, hp.fused_qkv);
        L.fused.gate_up = fusable(l, {Role::ffn_gate, Role::ffn_up}, hp.fused_gate_up);
    }
    return p;
}

}  // namespace vkrt::arch
