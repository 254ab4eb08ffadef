// Models of every architecture in runtime/arch/ on the GPU: hyper-parameters and
// tensors from the architecture description (arch::read_hparams, arch::tensor_table),
// weights uploaded in their stored format (any format of the registry with GPU kernels,
// core/format.hpp, and W8A8's I8; nothing is dequantized at load; the linears the plan fuses
// (arch::plan: [q; k; v], [gate; up] of one format) are joined into one matrix, the others
// loaded by part, a file's fused tensor split into its parts' rows where they stay apart;
// a matrix above the binding limit into row ranges), and a Session that owns one
// sequence's KV cache and runs the block layer by layer as the plan says (arch/arch.hpp):
// prefill (the whole batch through the GEMM kernels) and decode (one token through
// the GEMV kernels, replaying one recorded command buffer token after token).
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "arch/arch.hpp"
#include "gguf/gguf.hpp"
#include "model/kv_cache.hpp"
#include "ops/matmul.hpp"
#include "ops/rope.hpp"
#include "ops/weights.hpp"
#include "text/tokenizer.hpp"
#include "vk/buffer.hpp"
#include "vk/device.hpp"
#include "vk/recorder.hpp"

namespace vkrt {

// Hyper-parameters and block options of a model (runtime/arch/arch.hpp).
using HParams = arch::HParams;

// A weight on the GPU: `rows` rows of `cols` elements in GGUF layout (dims[0] = cols).
struct Weight {
    // Matrices in a registry format: one buffer per part of whole rows, each within the
    // device's binding limit (ops::upload_weight), bound through mat.view.
    ops::WeightBuffers mat;
    Buffer buf;  // vectors (norms, biases, rope factors: F32), and W8A8's I8 rows (one binding)
    gguf::TensorType type = gguf::TensorType::F32;
    uint32_t rows = 0, cols = 0;
    std::string name;
    // W8A8 (type I8): rows padded to ceil(cols/4) words (ops/quantize.hpp layout),
    // per-output-channel scales, and what the input quantization needs.
    Buffer scale;       // (rows) F32
    Buffer act_scale;   // (1) F32, static files only
    Buffer smooth;      // (cols) F32, SmoothQuant factors of this input (attn_output, ffn_down)
    Buffer wsum;        // (rows) int32 row sums, asymmetric activations only
    bool int8() const { return type == gguf::TensorType::I8; }
};

// How W8A8 files quantize activations (docs/FORMAT.md).
struct ActQuant {
    bool static_scale = false;  // per-tensor scale from calibration, else per-token dynamic
    bool asymmetric = false;    // uint8 + zero point per token, else symmetric int8
};

// A block's tensors; optional ones have no buffer when the architecture has none.
// Linears the layer's plan fuses (arch::FusedLinears) are loaded as one matrix (wqkv,
// w_gate_up; rows in the slices of model::FusedRows) and their parts stay empty.
namespace model {
struct Layer {
    Weight attn_norm, wq, wk, wv, bq, bk, bv, q_norm, k_norm, wo, attn_post_norm;
    Weight ffn_norm, w_gate, w_up, w_down, ffn_post_norm;
    Weight wqkv, bqkv;  // fused.qkv: [q; k; v] rows (and biases) at FusedRows::q0/k0/v0
    Weight w_gate_up;   // fused.gate_up: [gate; up] rows at FusedRows::up0
    Weight& at(arch::Role r);  // internal error for a global role
};

// Rows of the one-matrix outputs (and of the session's q/k/v and gate/up buffers): each
// slice starts at a row whose byte offset is a multiple of the device's
// minStorageBufferOffsetAlignment, so decode binds q, k, v, gate and up as views of one
// output (zero weight rows pad a slice end; none for real models, whose widths are
// multiples of 64 floats).
struct FusedRows {
    uint32_t k0 = 0, v0 = 0, qkv = 0;    // q at 0; qkv: rows of the [q; k; v] output
    uint32_t up0 = 0, gate_up = 0;       // gate at 0; gate_up: rows of the [gate; up] output
};
}  // namespace model

// Whether vkrt's kernels run matrices of this type (the one place that says so: the
// registry's dequantizing kernels, core/format.hpp).
bool runnable_weight_type(gguf::TensorType t);

namespace model {
class Model {
public:
    using Progress = std::function<void(float)>;
    Model(Device& dev, const std::string& path, const Progress& progress = {});

    Device& device() const { return *dev_; }
    const HParams& hparams() const { return hp_; }
    const Tokenizer& tokenizer() const { return *tok_; }
    const std::string& chat_template() const { return chat_template_; }
    uint64_t weight_bytes() const { return weight_bytes_; }
    const std::string& path() const { return path_; }
    const ActQuant& act_quant() const { return act_quant_; }
    bool w8a8() const { return !layers.empty() && layers[0].wq.int8(); }
    // What each layer does (arch::plan of the file, fusion decided by its matrix formats);
    // the session's graph reads only this.
    const arch::Plan& plan() const { return plan_; }
    const FusedRows& fused_rows() const { return fused_rows_; }
    std::string describe() const;  // "llama 5 layers, dim 64, ... Q4_0 (1.2 MiB)"
    // A hash of the file's metadata and tensor data (model/session_state.hpp's StateHash):
    // a saved session names the model it belongs to.
    uint64_t identity() const { return identity_; }

    Weight tok_embd, output_norm, output;  // output may alias tok_embd (tied): see output_weight()
    Weight rope_factors, rope_factors_long;  // (n_rot/2) F32 or absent
    std::vector<Layer> layers;
    const Weight& output_weight() const { return tied_output_ ? tok_embd : output; }

private:
    Weight& slot(arch::Role r, int layer);
    // A matrix is uploaded in parts of whole rows that each fit one binding (ops::upload_weight).
    Weight load_weight(const gguf::File& f, const std::string& name, std::vector<uint64_t> dims, bool required = true);
    // Rows [row0, row0 + n_out) of linear `name`.weight {n_in, rows}: a block/float format,
    // or W8A8's I8 + the same rows of its .scale.
    Weight load_linear(const gguf::File& f, const std::string& name, uint64_t n_in, uint64_t row0, uint64_t n_out);
    // The roles' rows of layer l concatenated into one matrix of `rows` rows, role i's rows
    // from row starts[i] (whole GGUF rows byte for byte, zero rows between slices); the
    // roles' formats are equal (arch::plan fused them).
    Weight load_fused(const gguf::File& f, const std::vector<arch::TensorDesc>& table, uint32_t l,
                      std::initializer_list<arch::Role> roles, std::initializer_list<uint32_t> starts, uint32_t rows);
    Buffer load_f32(const gguf::File& f, const std::string& name, uint64_t n, bool required, uint64_t first = 0,
                    uint64_t total = 0);

    Device* dev_;
    std::string path_;
    HParams hp_;
    std::unique_ptr<Tokenizer> tok_;
    std::string chat_template_;
    bool tied_output_ = false;
    ActQuant act_quant_;
    arch::Plan plan_;
    FusedRows fused_rows_;
    uint64_t weight_bytes_ = 0;
    uint64_t identity_ = 0;
};
}  // namespace model

// A session's device memory by role (vkrt-bench prints it).
struct SessionMemory {
    uint64_t kv = 0;           // K and V caches of every layer
    uint64_t activations = 0;  // per-batch tensors (x, q, k, v, attention out, FFN, logits)
    uint64_t scratch = 0;      // matmul scratch, W8A8 quantized activations
    uint64_t io = 0;           // host-visible token ids, positions, logits readback
    uint64_t total() const { return kv + activations + scratch + io; }
};

namespace model {
class Session {
public:
    // kv: the cache's element types (F16 by default, as llama.cpp; runtime/model/kv_cache.hpp).
    Session(Model& model, uint32_t n_ctx = 0, uint32_t n_batch = 512, KvCacheTypes kv = {});
    ~Session();

    // Evaluate `tokens` at positions pos()..pos()+n-1 (batches of up to n_batch).
    // Returns the logits of the last token (n_vocab), or of every token ((n, n_vocab))
    // when all_logits is set. Throws limit_exceeded when the context is full.
    const std::vector<float>& eval(std::span<const int32_t> tokens, bool all_logits = false);
    const std::vector<float>& logits() const { return logits_; }

    uint32_t pos() const { return pos_; }
    uint32_t n_ctx() const { return n_ctx_; }
    uint32_t n_batch() const { return n_batch_; }
    // Rows the output head computes per pass: their logits (rows x n_vocab floats) fit one
    // storage-buffer binding; a batch with more rows runs the head in chunks.
    uint32_t head_rows() const { return head_rows_; }
    void reset() { truncate(0); }
    Model& model() const { return *model_; }
    const KvCache& kv_cache() const { return kv_; }
    const SessionMemory& memory() const { return memory_; }

    // What one forward pass of M tokens (1 = a decode step; <= n_batch) records: dispatches,
    // barriers, and bytes the dispatches bind read-only by class (Recorder::bytes_read). The
    // pass is recorded into its own command buffer and never submitted.
    struct PassCounts {
        uint32_t dispatches = 0, barriers = 0;
        uint64_t weights = 0, kv = 0, activations = 0;
    };
    PassCounts count_pass(uint32_t M);

    // Integer-path GEMVs for passes of at most 8 tokens (x normalized and quantized to q8_1
    // once per norm, ops::rmsnorm_q8_1 + ops::matmul_q8) wherever the weight's format has one
    // and the device has integer dot products, not only where the device accelerates them
    // (ops::matmul_pick_path's choice, the default). Passes are recorded again.
    void set_integer_gemv(bool on);
    // ---- state: rewind, prefix reuse, cancellation, context overflow, saved state
    // (runtime/model/session_state.cpp). The session keeps the ids of positions [0, pos).
    const std::vector<int32_t>& tokens() const { return tokens_; }
    // Keeps the first n positions (n <= pos). A sliding-window ring that no longer holds the
    // window of position n (newer positions overwrote its rows) is rebuilt by evaluating
    // tokens [0, n) again, as llama.cpp re-processes an SWA prompt. Afterwards logits() are
    // the last kept token's when they were recomputed (or n == pos), else empty until the
    // next eval.
    void truncate(uint32_t n);
    // Evaluates `prompt` reusing the longest common prefix of it and tokens(): truncates to
    // that prefix (at most prompt.size() - 1, so that the last prompt token is evaluated and
    // logits() are its) and evaluates the rest. Returns the number of tokens reused.
    uint32_t eval_prompt(std::span<const int32_t> prompt);
    // Whether truncate(n) keeps the cached rows (no ring must be rebuilt).
    bool rewind_keeps_cache(uint32_t n) const;

    // Cancellation from any thread: eval checks it between its batches and throws
    // Status::cancelled with the tokens of the batches already run in the cache. The
    // request stays until clear_cancel() (the C API clears it when a call starts).
    void cancel() noexcept { cancel_.store(true, std::memory_order_relaxed); }
    void clear_cancel() noexcept { cancel_.store(false, std::memory_order_relaxed); }
    bool cancel_requested() const noexcept { return cancel_.load(std::memory_order_relaxed); }

    // What a context overflow does. `shift` is llama.cpp's context shift: keep the first
    // n_keep tokens, drop half of the rest, move the kept tail down and re-rotate its cached
    // K to the new positions (ops::kv_shift); where that is not exact (sliding-window rings,
    // a q8_0 K, attn_factor != 1) the kept tail is evaluated again at its new positions
    // instead, as `shift_recompute` always does (the cache is then exactly a fresh
    // session's over the kept tokens). `error` refuses (limit_exceeded), as before.
    enum class Overflow : uint32_t { error = 0, shift = 1, shift_recompute = 2 };
    void set_overflow(Overflow policy, uint32_t n_keep) { overflow_ = policy, n_keep_ = n_keep; }
    Overflow overflow() const { return overflow_; }
    uint32_t n_keep() const { return n_keep_; }
    // Drops tokens to make room for `n_new` more (the shift policy; eval calls it).
    void shift_context(uint32_t n_new);
    uint32_t shifts() const { return shifts_.load(std::memory_order_relaxed); }  // context shifts so far

    // Saved state (model/session_state.hpp): the blob of this session with `extra` (the
    // caller's sampler state) appended; restore refuses another model, other cache types,
    // a smaller n_ctx or a bad blob with the session unchanged, and returns `extra`.
    std::vector<uint8_t> save_state(std::span<const uint8_t> extra) const;
    uint64_t state_size(uint64_t extra_bytes) const;  // save_state's size, without reading the cache
    std::vector<uint8_t> load_state(std::span<const uint8_t> blob);

private:
    std::vector<int32_t> tokens_;
    // The lowest position whose rows every sliding-window ring still holds.
    uint32_t ring_lo_ = 0;
    uint32_t ring_rows() const;  // rows of the rings (n_ctx when the model has none)
    // Drops tokens [keep, keep + discard) by moving the cached rows after them down and
    // re-rotating their K; false (nothing changed) where that is not exact.
    bool shift_rerope(uint32_t keep, uint32_t discard);
    void note_evaluated(std::span<const int32_t> tokens);
    std::atomic<bool> cancel_{false};
    Overflow overflow_ = Overflow::error;
    uint32_t n_keep_ = 0;
    std::atomic<uint32_t> shifts_{0};

    void record_forward(Recorder& rec, uint32_t M, bool all_logits);
    // outs[i] (M, w_i.rows) = in (M,K) @ w_i^T for one input and its weights; `norm`
    // (optional) is the RMSNorm (epsilon eps) applied to `in` first. The input is normalized
    // and quantized once for all of them: the integer-path GEMVs read one q8_1 buffer
    // (written by the norm itself, ops::rmsnorm_q8_1), the float paths one normalized x;
    // W8A8 weights quantize it once to int8 (fused with the norm) for the int8 GEMM.
    // epi: a GEMV epilogue (residual add, GLU); only where gemv_epilogue() said yes.
    struct Out {
        const Weight* w;
        BufferView y;
        ops::MatmulEpilogue epi = {};
    };
    // normalized: `norm` of `in` (rows of x_) was written already, by the residual_linear
    // before it (its NextNorm, for these outs): the normalized rows at the same offset of
    // xb_ and / or the q8_1 rows in matmul_scratch_.
    // in_q8 (bound; no norm, integer-path outs only): in's q8_1 rows, written already by
    // the kernel that produced in (the decode attention's q8_1 output, the GLU GEMV's), so
    // no quantize_q8_1 pass.
    void linears(Recorder& rec, const BufferView& in, const Weight* norm, float eps, uint32_t M, uint32_t K,
                 std::initializer_list<Out> outs, bool normalized = false, const BufferView& in_q8 = {});
    // The norm that the next linears() applies to x_ (all M rows) and the weights that read
    // its output (null-terminated): residual_linear may write it in its post norm's pass.
    struct NextNorm {
        const Weight* norm = nullptr;
        float eps = 0.0f;
        std::array<const Weight*, 4> readers{};
    };
    // What a norm feeding `readers` writes: q8_1 rows for integer-path matrices, float rows
    // for the others (both when both kinds read it).
    struct NormOutputs {
        bool q8 = false, f32 = false;
    };
    NormOutputs norm_outputs(std::span<const Weight* const> readers, uint32_t M, uint32_t K) const;
    // x_ += in (M,K) @ w^T [-> rmsnorm(post_norm)] (the residual epilogue where it can).
    // With a post norm and `next`, the post norm, the add and next's norm are one pass
    // (ops::rmsnorm_add_norm): returns true, and the next linears() gets normalized = true.
    // in_q8: as linears()'.
    bool residual_linear(Recorder& rec, const BufferView& in, const Weight& w, const Weight* post_norm, float eps,
                         uint32_t M, uint32_t K, const NextNorm* next = nullptr, const BufferView& in_q8 = {});
    // Whether w (K columns) for M rows runs on the integer path (q8_1 activations).
    bool int_path(const Weight& w, uint32_t M, uint32_t K) const;
    // Whether w's product for M rows can take a GEMV epilogue (ops::MatmulEpilogue): the path
    // linears() picks for it is a GEMV (not the tiled/int8-dot GEMMs, not W8A8), and for a
    // GLU the [gate; up] rows are one binding.
    bool gemv_epilogue(const Weight& w, uint32_t M, uint32_t K, bool glu) const;
    void run_batch(std::span<const int32_t> tokens, bool all_logits, float* out_logits);

    Model* model_;
    uint32_t n_ctx_, n_batch_, head_rows_ = 1;
    std::atomic<uint32_t> pos_{0};  // read by other threads (vkrt_session_pos while a call runs)
    // Per-token inputs: host-visible so decode needs no staging submit.
    Buffer ids_, positions_;
    std::vector<uint32_t> kv_layer_rows() const;  // positions each layer's cache keeps (ring rows)
    void alloc_kv_cache(KvCacheTypes types);       // the one place that allocates the KV cache
    // Activations, sized for n_batch rows.
    // qkv_: the q, k, v projections: the (M, qkv) output of a fused matrix, or, unfused, q
    // (M,Q), k (M,KV), v (M,KV) in its slices (model::FusedRows, times n_batch rows); gate_up_
    // likewise; ffn_h_ (M,F) the gated activation.
    // post_: a post norm's input (M,E), the product before rmsnorm_add_norm (models with post norms).
    Buffer x_, xb_, qkv_, att_, gate_up_, ffn_h_, logits_gpu_, logits_host_, matmul_scratch_, post_;
    Buffer act_q_, act_s_, act_zp_;  // W8A8: quantized activations, per-row scales / zero points
    Buffer attn_split_;              // decode attention's split partials (ops::attention_scratch_bytes)
    // The GLU GEMV's q8_1 output (M,F) for an integer Wdown and its zeroed block counters
    // (ops::MatmulEpilogue::q8 / q8_arrivals); where F % 32 == 0 and the device has int8 dot.
    Buffer ffn_q8_, glu_arrivals_;
    KvCache kv_;
    SessionMemory memory_;  // every Buffer above, by role (see the constructor)
    std::unique_ptr<Recorder> decode_rec_, batch_rec_;
    uint32_t batch_rec_m_ = 0;
    bool integer_gemv_ = false;
    bool batch_rec_all_ = false;
    std::vector<float> logits_;
};

}  // namespace model
}  // namespace vkrt
