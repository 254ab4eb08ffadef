// Architecture descriptions: one per GGUF `general.architecture` (runtime/arch/<name>.cpp,
// as llama.cpp's src/models/<arch>.cpp), over shared building blocks (this file and
// arch.cpp). A description says
//   * which `<arch>.*` keys hold the hyper-parameters and their defaults (read_hparams,
//     and write_hparams for the synthetic-model writer: the same keys both ways);
//   * the graph's options: rope mode and factors, q/k biases, per-head q/k RMSNorm,
//     post-attention / post-FFN norms, FFN activation, embedding scale, attention
//     scale, sliding-window layers with their own rope base;
//   * every tensor with its GGUF name, role, shape and, for a linear, the input it
//     reads (tensor_table). Fused tensors (phi3's attn_qkv, its gate|up ffn_up) are one
//     entry holding several roles whose rows are concatenated.
// The GPU model (model/model.cpp), the CPU reference and its calibration hooks
// (ref/forward.cpp), the quantizer, SmoothQuant and the sensitivity analysis
// (quant/) and the synthetic writer (gguf/synthetic.cpp) all run from this
// description: none of them lists tensor names or architectures itself.
//
// The block every architecture shares (optional parts in brackets):
//   x   = embed(ids) [* embd_scale]
//   per layer l:
//     xn  = rmsnorm(x, attn_norm)
//     q, k, v = xn . Wq/Wk/Wv^T [+ bq/bk/bv]        (fused: one Wqkv, rows [q | k | v])
//     [q, k = per-head rmsnorm(q, attn_q_norm), rmsnorm(k, attn_k_norm)]
//     q, k = rope(q, k; base_l, freq_scale_l, [factors], attn_factor, NORM or NEOX)
//     a   = attention(q, K, V; scale, causal, [window n_swa on SWA layers])
//     o   = a . Wo^T [-> rmsnorm(o, attn_post_norm)];     x = x + o
//     xn  = rmsnorm(x, ffn_norm)
//     h   = act(xn . Wgate^T) * (xn . Wup^T)           (act = SiLU or GELU-tanh; fused: rows [gate | up])
//     f   = h . Wdown^T [-> rmsnorm(f, ffn_post_norm)];   x = x + f
//   logits = rmsnorm(x, output_norm) . output^T   (output tied to token_embd when absent)
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace vkrt::gguf {
class File;
class Writer;
}  // namespace vkrt::gguf

namespace vkrt::arch {

enum class Act : uint32_t { silu = 0, gelu_tanh = 1 };  // FFN gate activation

// What a tensor is. Global roles first, then the roles of a block's tensors.
enum class Role : uint32_t {
    tok_embd, output_norm, output, rope_factors, rope_factors_long,
    attn_norm, attn_q, attn_k, attn_v, attn_q_bias, attn_k_bias, attn_v_bias, attn_q_norm, attn_k_norm,
    attn_output, attn_post_norm, ffn_norm, ffn_gate, ffn_up, ffn_down, ffn_post_norm,
    count
};
constexpr size_t kRoles = size_t(Role::count);
const char* role_name(Role r);  // "attn_q", ...
[[noreturn]] void block_tensor_fail(const char* what, Role r);  // internal error: not a block role

// The member of a block's tensor set that holds role r: the GPU model's model::Layer and the
// CPU reference's RefLayer name their members alike, so one mapping serves both.
// A global role (tok_embd, output, ...) is an internal error naming `what`.
template <class Layer>
auto& block_tensor(Layer& L, Role r, const char* what) {
    switch (r) {
        case Role::attn_norm: return L.attn_norm;
        case Role::attn_q: return L.wq;
        case Role::attn_k: return L.wk;
        case Role::attn_v: return L.wv;
        case Role::attn_q_bias: return L.bq;
        case Role::attn_k_bias: return L.bk;
        case Role::attn_v_bias: return L.bv;
        case Role::attn_q_norm: return L.q_norm;
        case Role::attn_k_norm: return L.k_norm;
        case Role::attn_output: return L.wo;
        case Role::attn_post_norm: return L.attn_post_norm;
        case Role::ffn_norm: return L.ffn_norm;
        case Role::ffn_gate: return L.w_gate;
        case Role::ffn_up: return L.w_up;
        case Role::ffn_down: return L.w_down;
        case Role::ffn_post_norm: return L.ffn_post_norm;
        default: block_tensor_fail(what, r);
    }
}

// The 4 distinct inputs of a block's linears.
enum class Site : uint32_t {
    attn_in = 0,      // attn_norm output: feeds attn_q / attn_k / attn_v (attn_qkv)
    attn_out = 1,     // attention output: feeds attn_output
    ffn_in = 2,       // ffn_norm output: feeds ffn_gate / ffn_up
    ffn_down_in = 3,  // activation output: feeds ffn_down
};
constexpr size_t kSites = 4;
const char* site_name(Site s);  // "attn_in", ...
// The site a linear role reads, and for attn_in / ffn_in the norm that precedes it
// (SmoothQuant folds 1/s into that norm's weight).
Site linear_site(Role r);

// embedding: token_embd; head: output (absent = tied to token_embd); linear: a block's
// matrices; norm: RMSNorm weights; bias: added to a linear's output; factors: rope.
enum class Kind : uint32_t { embedding, head, linear, norm, bias, factors };

struct TensorDesc {
    std::string name;         // GGUF name, e.g. "blk.3.attn_qkv.weight"
    Kind kind = Kind::linear;
    int layer = -1;           // -1: not a block tensor
    std::vector<Role> parts;  // roles held, rows concatenated in this order (one unless fused)
    std::vector<uint32_t> part_rows;
    uint32_t cols = 0;        // row length (GGUF dims[0]); for a vector: its length
    uint32_t rows = 1;        // 1 for vectors
    Site site = Site::attn_in;  // linear only
    bool required = true;
    std::vector<uint64_t> dims() const;  // GGUF order
    bool fused() const { return parts.size() > 1; }
};

struct HParams {
    std::string arch = "llama";
    uint32_t n_layer = 0, n_embd = 0, n_head = 0, n_head_kv = 0, head_dim = 0, n_ff = 0, n_vocab = 0;
    uint32_t n_ctx_train = 2048, n_rot = 0;
    float rms_eps = 1e-5f;
    // Rope: theta_i = pos * freq_scale * base^(-2i/n_rot) / factor_i, cos/sin * attn_factor.
    bool rope_neox = false;
    float rope_base = 10000.0f, rope_freq_scale = 1.0f, rope_attn_factor = 1.0f;
    float rope_base_swa = 10000.0f, rope_freq_scale_swa = 1.0f;  // SWA layers
    uint32_t n_ctx_orig = 0;  // rope.scaling.original_context_length: long factors above it (phi3)
    // Block options (set by the architecture, some by the file's tensors).
    Act act = Act::silu;
    float embd_scale = 1.0f;  // x = embed * embd_scale (gemma: sqrt(n_embd))
    float attn_scale = 0.0f;  // softmax(scale * q.k); 0 = 1/sqrt(head_dim)
    bool qkv_bias = false, qk_norm = false, post_norms = false;
    bool fused_qkv = false, fused_gate_up = false;
    bool rope_factors = false;       // llama rope_freqs.weight (n_rot/2)
    bool rope_factors_ls = false;    // phi3 rope_factors_short / _long.weight
    uint32_t n_swa = 0;              // sliding window (0 = none): query p sees keys p-n_swa < j <= p
    uint32_t swa_pattern = 0;        // as written: layer l is SWA when l % pattern < pattern - 1
    std::vector<bool> swa_layers;    // n_layer entries when n_swa > 0

    uint32_t q_dim() const { return n_head * head_dim; }
    uint32_t kv_dim() const { return n_head_kv * head_dim; }
    bool is_swa(uint32_t l) const { return n_swa > 0 && l < swa_layers.size() && swa_layers[l]; }
    float layer_rope_base(uint32_t l) const { return is_swa(l) ? rope_base_swa : rope_base; }
    float layer_freq_scale(uint32_t l) const { return is_swa(l) ? rope_freq_scale_swa : rope_freq_scale; }
    float kq_scale() const;  // attn_scale or 1/sqrt(head_dim)
    // Checks ranges and consistency (bad_format naming the value).
    void validate() const;
};

// ---------------------------------------------------------------- the per-layer plan
// What each layer of the block does, as one value per layer: the GPU graph
// (model::Session::record_forward) and the CPU reference (ref::forward) read only this,
// never the hyper-parameters' flags, so an option is decided in one place (plan()).
// Shapes (n_embd, heads, head_dim, n_ff) stay in HParams.

// Rotary embedding of one layer: theta_i = pos * freq_scale * base^(-2i/n_rot) / factor_i,
// cos/sin * attn_factor (llama.cpp's ggml_rope_ext without YaRN).
struct RopePlan {
    bool on = true;        // false: no rotary embedding on this layer (q, k used as projected)
    bool neox = false;     // NEOX (halves) or NORM (adjacent pairs)
    uint32_t n_rot = 0;    // rotated dims of a head (the rest pass through)
    float base = 10000.0f, freq_scale = 1.0f, attn_factor = 1.0f;
    bool factors = false;  // per-pair frequency factors (Plan::long_factors says which set)
};

// The matrices that read one input and run as one matrix: their rows concatenated
// [q; k; v] / [gate; up] (in the file as phi3's attn_qkv, or joined at load).
struct FusedLinears {
    bool qkv = false;      // attn_q, attn_k, attn_v as one (Q + 2 KV, n_embd) matrix
    bool gate_up = false;  // ffn_gate, ffn_up as one (2 n_ff, n_embd) matrix
};

struct LayerPlan {
    uint32_t layer = 0;
    float eps = 1e-5f;           // every RMSNorm of the layer
    // ---- attention
    bool qkv_bias = false;       // q, k, v += bq, bk, bv after the projections
    bool qk_norm = false;        // per-head RMSNorm of q and k (attn_q_norm, attn_k_norm)
    RopePlan rope;
    uint32_t window = 0;         // 0: causal over the whole cache, else sliding window of this many
    float kq_scale = 1.0f;       // softmax(kq_scale * q.k)
    bool attn_post_norm = false;  // rmsnorm of the attention output before the residual add
    // ---- feed-forward
    Act act = Act::silu;         // h = act(gate) * up
    bool ffn_post_norm = false;  // rmsnorm of the FFN output before the residual add
    // ---- matrices
    FusedLinears fused;          // which linears run as one matrix
};

struct Plan {
    float embd_scale = 1.0f;     // x = embed(ids) * embd_scale
    float output_eps = 1e-5f;    // the output norm
    uint32_t n_ctx_orig = 0;     // phi3: the long rope factors serve contexts above it
    bool long_factors_exist = false;
    std::vector<LayerPlan> layers;
    // Whether a context of n_ctx tokens uses the long rope factors (llama.cpp's get_rope_factors).
    bool long_factors(uint32_t n_ctx) const { return long_factors_exist && n_ctx > n_ctx_orig; }
};

// The stored format (ggml type id) of a block matrix role in layer l, for the fusion
// decision; absent (the CPU reference): fused as the file stores them.
using RoleType = std::function<uint32_t(Role role, uint32_t layer)>;

// The plan of hp's block. Matrices that read one input are fused when their formats are
// equal (row bytes concatenate) and they have GPU kernels for matrices (not W8A8's I8,
// whose per-channel scales and activation smoothing load separately); without type_of
// exactly the file's fused tensors are.
Plan plan(const HParams& hp, const RoleType& type_of = {});

// An architecture: its name and what its file adds to the shared keys and block.
struct Arch {
    const char* name;
    // Sets the architecture's options and reads its own keys (the shared ones are read
    // first). f may be null when describing a synthetic model (hp already filled).
    void (*read)(const gguf::File* f, HParams& hp);
    // Writes the architecture's own keys (the shared ones are written by write_hparams).
    void (*write)(const HParams& hp, gguf::Writer& w);
};

// The architectures vkrt runs: llama (and mistral, its alias), qwen2, qwen3, gemma3, phi3.
const std::vector<const Arch*>& all();
// unsupported naming the architecture and the supported ones when it is not one of them.
const Arch& find(const std::string& name);

// Hyper-parameters of a GGUF file: shared `<arch>.*` keys with llama.cpp's defaults,
// then the architecture's (n_vocab from token_embd); validated.
HParams read_hparams(const gguf::File& f);
// Options of `hp.arch` applied to hand-made hyper-parameters (synthetic models, tests):
// the same options read_hparams would set for a file written by write_hparams.
HParams complete(HParams hp);
// The keys read_hparams reads, for a file written from hp.
void write_hparams(const HParams& hp, gguf::Writer& w);

// Every tensor of the model, global ones first then block by block (the order of
// llama.cpp's convert output): names, roles, shapes, the input of each linear.
std::vector<TensorDesc> tensor_table(const HParams& hp);

// "blk.N.<suffix>" / "<suffix>" names.
std::string layer_name(uint32_t layer, const std::string& suffix);

}  // namespace vkrt::arch
