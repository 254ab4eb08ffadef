#include "model/model.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "core/format.hpp"
#include "model/session_state.hpp"
#include "ops/attention.hpp"
#include "ops/elementwise.hpp"
#include "ops/embed.hpp"
#include "ops/matmul.hpp"
#include "ops/gemm_int8.hpp"
#include "ops/norm.hpp"
#include "ops/quantize.hpp"
#include "ops/rope.hpp"

namespace vkrt {

// ---------------------------------------------------------------- weights

Weight& model::Layer::at(arch::Role r) { return arch::block_tensor(*this, r, "model::Layer"); }

bool runnable_weight_type(gguf::TensorType t) {
    const fmt::Traits* ft = fmt::find(uint32_t(t));
    return ft && (ft->kernels & fmt::kKernelFloat);
}

// ---------------------------------------------------------------- model

// A matrix's type must have the registry's dequantizing kernels (I8 only as W8A8 linears).
static void check_runnable(const gguf::TensorInfo& t) {
    VKRT_CHECK(runnable_weight_type(t.type), Status::unsupported, "tensor '", t.name, "' has type ", fmt::name(t.type),
               " (id ", uint32_t(t.type), "), which vkrt does not run",
               t.type == Format::I8 ? " here (I8 only for W8A8 linear weights)" : "");
}

Weight model::Model::load_weight(const gguf::File& f, const std::string& name, std::vector<uint64_t> dims,
                               bool required) {
    Weight w;
    w.name = name;
    const gguf::TensorInfo* t = f.find_tensor(name);
    if (!t) {
        VKRT_CHECK(!required, Status::bad_format, "gguf: tensor '", name, "' is missing");
        return w;
    }
    // A 1-D tensor may be stored as {n}; compare shapes without trailing 1s.
    auto strip = [](std::vector<uint64_t> d) {
        while (d.size() > 1 && d.back() == 1) d.pop_back();
        return d;
    };
    if (strip(t->dims) != strip(dims)) {
        std::ostringstream os;
        for (auto d : t->dims) os << d << " ";
        os << "instead of ";
        for (auto d : dims) os << d << " ";
        fail(Status::bad_format, "gguf: tensor '", name, "' has shape ", os.str());
    }
    const bool vec = dims.size() == 1;
    VKRT_CHECK(!vec || t->type == gguf::TensorType::F32, Status::unsupported, "vector tensor '", name,
               "' must be F32, not ", fmt::name(t->type));
    w.type = t->type;
    w.cols = uint32_t(dims[0]);
    w.rows = vec ? 1 : uint32_t(dims[1]);
    weight_bytes_ += t->n_bytes;
    if (vec) {
        w.buf = Buffer(*dev_, t->n_bytes, MemoryKind::device, name);
        w.buf.upload(t->data, t->n_bytes);
        return w;
    }
    // The weight is bound here: its format needs the dequantizing kernels (formats.def).
    check_runnable(*t);
    // Split into row ranges that each fit one binding (a 431 MB Q6_K token_embd on a phone
    // with a 128 MiB maxStorageBufferRange becomes 4 parts).
    w.mat = ops::upload_weight(*dev_, t->type, w.rows, w.cols, t->data, name);
    return w;
}

// Elements [first, first + n) of an F32 tensor of `total` elements (0: total = n).
Buffer model::Model::load_f32(const gguf::File& f, const std::string& name, uint64_t n, bool required, uint64_t first,
                            uint64_t total) {
    const gguf::TensorInfo* t = f.find_tensor(name);
    if (!t) {
        VKRT_CHECK(!required, Status::bad_format, "gguf: tensor '", name, "' is missing");
        return {};
    }
    if (total == 0) total = n;
    VKRT_CHECK(t->type == gguf::TensorType::F32 && t->n_elements == total && first + n <= total, Status::bad_format,
               "gguf: tensor '", name, "' must be F32 with ", total, " elements (has ", fmt::name(t->type), ", ",
               t->n_elements, ")");
    Buffer b(*dev_, n * 4, MemoryKind::device, name);
    b.upload(t->data + first * 4, n * 4);
    weight_bytes_ += n * 4;
    return b;
}

// Rows [row0, row0 + n_out) of a linear weight {n_in, rows}: a block/float format (whole
// rows are whole blocks, so a row range is a byte range), or W8A8's I8 + scales.
Weight model::Model::load_linear(const gguf::File& f, const std::string& name, uint64_t n_in, uint64_t row0,
                               uint64_t n_out) {
    const gguf::TensorInfo* t = f.find_tensor(name + ".weight");
    VKRT_CHECK(t, Status::bad_format, "gguf: tensor '", name, ".weight' is missing");
    VKRT_CHECK(t->dims.size() == 2 && t->dims[0] == n_in && t->dims[1] >= row0 + n_out, Status::bad_format,
               "gguf: tensor '", t->name, "' has shape ", t->dims[0], " ", t->dims.size() > 1 ? t->dims[1] : 1,
               " instead of ", n_in, " ", row0 + n_out);
    if (t->type != gguf::TensorType::I8) {
        if (row0 == 0 && n_out == t->dims[1]) return load_weight(f, name + ".weight", {n_in, n_out});
        check_runnable(*t);
        const uint64_t rb = fmt::row_bytes(t->type, n_in), bytes = rb * n_out;
        Weight w;
        w.name = t->name + "[" + std::to_string(row0) + ":" + std::to_string(row0 + n_out) + "]";
        w.type = t->type;
        w.cols = uint32_t(n_in);
        w.rows = uint32_t(n_out);
        w.mat = ops::upload_weight(*dev_, t->type, w.rows, w.cols, t->data + row0 * rb, w.name);
        weight_bytes_ += bytes;
        return w;
    }
    Weight w;
    w.name = t->name;
    w.type = t->type;
    w.cols = uint32_t(n_in);
    w.rows = uint32_t(n_out);
    // Rows of n_in bytes -> rows of ceil(n_in/4) words (zero padded): same values, no dequantization.
    const uint64_t words = ops::packed_row_words(uint32_t(n_in));
    const uint64_t bytes = n_out * words * 4;
    VKRT_CHECK(bytes <= dev_->caps().max_storage_buffer_range, Status::limit_exceeded, "tensor '", t->name, "' (",
               bytes, " bytes) is larger than maxStorageBufferRange (", dev_->caps().max_storage_buffer_range,
               " bytes) of ", dev_->caps().name);
    const uint8_t* src = t->data + row0 * n_in;
    std::vector<uint8_t> packed(bytes, 0);
    for (uint64_t r = 0; r < n_out; ++r) std::memcpy(packed.data() + r * words * 4, src + r * n_in, n_in);
    w.buf = Buffer(*dev_, bytes, MemoryKind::device, t->name);
    w.buf.upload(packed.data(), bytes);
    weight_bytes_ += n_out * n_in;
    w.scale = load_f32(f, name + ".scale", n_out, true, row0, t->dims[1]);
    w.act_scale = load_f32(f, name + ".act_scale", 1, act_quant_.static_scale);
    w.smooth = load_f32(f, name + ".smooth", n_in, false);
    if (act_quant_.asymmetric) {
        // wsum[n] = sum_k Wq[n,k], for the zero-point term of the GEMM epilogue.
        std::vector<int32_t> sums = ops::int8_row_sums(
            std::span<const int8_t>(reinterpret_cast<const int8_t*>(src), n_in * n_out), uint32_t(n_out),
            uint32_t(n_in));
        w.wsum = make_buffer(*dev_, sums, name + ".wsum");
    }
    return w;
}

Weight& model::Model::slot(arch::Role r, int layer) {
    using arch::Role;
    switch (r) {
        case Role::tok_embd: return tok_embd;
        case Role::output_norm: return output_norm;
        case Role::output: return output;
        case Role::rope_factors: return rope_factors;
        case Role::rope_factors_long: return rope_factors_long;
        default: return layers.at(size_t(layer)).at(r);
    }
}

// The identity a saved session names: a hash of the file's header and metadata (every byte
// before the data section) and of every tensor's bytes, in the file's order.
static uint64_t file_identity(const gguf::File& f) {
    model::StateHash h(0x766b7274);  // "vkrt"
    if (!f.tensors().empty()) {
        const gguf::TensorInfo& t0 = f.tensors().front();
        h.update(t0.data - t0.offset - f.data_offset(), f.data_offset());
    }
    for (const gguf::TensorInfo& t : f.tensors()) h.update(t.data, t.n_bytes);
    return h.digest();
}

model::Model::Model(Device& dev, const std::string& path, const Progress& progress) : dev_(&dev), path_(path) {
    gguf::File f = gguf::File::open(path);
    hp_ = arch::read_hparams(f);
    tok_ = std::make_unique<Tokenizer>(Tokenizer::from_gguf(f));
    chat_template_ = f.get_string("tokenizer.chat_template", "");
    // token_embd may have more rows than the tokenizer has tokens (padded vocabularies), never fewer.
    VKRT_CHECK(uint32_t(tok_->n_vocab()) <= hp_.n_vocab, Status::bad_format, path, ": the tokenizer has ", tok_->n_vocab(),
               " tokens but token_embd.weight only ", hp_.n_vocab, " rows");
    const std::string scheme = f.get_string("vkrt.quantization.scheme", "");
    VKRT_CHECK(scheme.empty() || scheme == "w8a8" || scheme == "w8a8_static", Status::unsupported,
               "vkrt.quantization.scheme '", scheme, "' is not known (w8a8, w8a8_static)");
    act_quant_.static_scale = scheme == "w8a8_static";
    const std::string acts = f.get_string("vkrt.quantization.activations", "symmetric");
    VKRT_CHECK(acts == "symmetric" || acts == "asymmetric", Status::unsupported,
               "vkrt.quantization.activations '", acts, "' is not known (symmetric, asymmetric)");
    act_quant_.asymmetric = acts == "asymmetric";
    VKRT_CHECK(!(act_quant_.static_scale && act_quant_.asymmetric), Status::unsupported, path,
               ": static asymmetric W8A8 activations are not supported (use dynamic asymmetric or static symmetric)");

    // Every tensor of the architecture's description. Before anything is allocated for
    // what the file claims: each required tensor must be in the file (a huge block_count
    // is refused here, not by the allocator), and the weights must fit the device heap.
    const std::vector<arch::TensorDesc> table = arch::tensor_table(hp_);
    size_t required = 0;
    for (const arch::TensorDesc& t : table) required += t.required ? 1 : 0;
    VKRT_CHECK(required <= f.tensors().size(), Status::bad_format, "gguf: ", hp_.arch, ".block_count ", hp_.n_layer,
               " needs at least ", required, " tensors, but the file has ", f.tensors().size());
    uint64_t weight_need = 0;
    for (const gguf::TensorInfo& t : f.tensors()) weight_need += (t.n_bytes + 3) & ~uint64_t(3);
    dev.check_memory(weight_need, "model '" + path + "'");
    layers.resize(hp_.n_layer);
    size_t done = 0;
    for (const arch::TensorDesc& t : table) {
        if (t.kind == arch::Kind::linear) {
            const std::string base = t.name.substr(0, t.name.size() - std::string(".weight").size());
            uint64_t row = 0;
            for (size_t i = 0; i < t.parts.size(); ++i) {
                slot(t.parts[i], t.layer) = load_linear(f, base, t.cols, row, t.part_rows[i]);
                row += t.part_rows[i];
            }
        } else {
            slot(t.parts[0], t.layer) = load_weight(f, t.name, t.dims(), t.required);
        }
        if (progress) progress(float(++done) / float(table.size()));
    }
    tied_output_ = output.mat.buffers.empty();
    identity_ = file_identity(f);
}

std::string model::Model::describe() const {
    std::ostringstream os;
    os << hp_.arch << ": " << hp_.n_layer << " layers, dim " << hp_.n_embd << ", " << hp_.n_head << "/"
       << hp_.n_head_kv << " heads (head dim " << hp_.head_dim << "), FFN " << hp_.n_ff << ", vocab " << hp_.n_vocab;
    if (hp_.n_swa) os << ", window " << hp_.n_swa;
    os
       << ", weights " << fmt::name(layers.empty() ? tok_embd.type : layers[0].wq.type) << " "
       << double(weight_bytes_) / (1024.0 * 1024.0) << " MiB";
    return os.str();
}

// ---------------------------------------------------------------- session

model::Session::Session(model::Model& model, uint32_t n_ctx, uint32_t n_batch, KvCacheTypes kv) : model_(&model) {
    const HParams& hp = model.hparams();
    n_ctx_ = n_ctx ? n_ctx : std::min<uint32_t>(hp.n_ctx_train, 4096);
    n_batch_ = std::max<uint32_t>(1, std::min(n_batch ? n_batch : 512, n_ctx_));
    Device& dev = model.device();
    // The query width n_head*head_dim may differ from n_embd (attention.key_length).
    const uint64_t B = n_batch_, E = hp.n_embd, Q = hp.q_dim(), KV = hp.kv_dim(), F = hp.n_ff, V = hp.n_vocab;
    const uint32_t widest = std::max({hp.n_embd, hp.n_ff, hp.q_dim()});  // the K of every linear
    // The output head runs over chunks of the batch's rows whose logits fit one storage-buffer
    // binding (caps().max_binding_bytes: maxStorageBufferRange, 128 MiB on lavapipe and many
    // phones, or VKRT_MAX_BINDING_BYTES): a 512-token batch of Qwen's 151936 logits is 311 MB,
    // of Gemma 3's 262144 512 MiB. The GPU logits buffer holds one chunk; the host-visible
    // readback every row (a copy target, never bound to a shader).
    const uint64_t logit_row = V * 4, binding = dev.caps().max_binding_bytes;
    VKRT_CHECK(logit_row <= binding, Status::limit_exceeded, "logits: one row of ", V, " floats (", logit_row,
               " bytes) is larger than the storage-buffer binding limit (", binding, " bytes) of ", dev.caps().name);
    head_rows_ = uint32_t(std::min<uint64_t>(B, binding / logit_row));
    {
        // The session's device memory (activations, logits, KV cache) against the heap,
        // before allocating any of it; 128-bit so that no product wraps.
        using u128 = unsigned __int128;
        const u128 acts = u128(B) * (2 * E + 2 * Q + 2 * KV + 2 * F + V) * 4 + u128(head_rows_) * V * 4 +
                          ops::matmul_scratch_bytes(n_batch_, widest) +
                          (model.w8a8() ? u128(B) * (ops::packed_row_words(widest) + 2) * 4 : 0);
        u128 kv_bytes = 0;
        for (uint32_t rows : kv_layer_rows())
            kv_bytes += u128(ops::kv_cache_bytes(kv.k, uint32_t(KV), rows, "K cache (-ctk)")) +
                        ops::kv_cache_bytes(kv.v, uint32_t(KV), rows, "V cache (-ctv)");
        const u128 need = acts + kv_bytes;
        dev.check_memory(need > UINT64_MAX ? UINT64_MAX : uint64_t(need),
                         "session (n_ctx " + std::to_string(n_ctx_) + ", n_batch " + std::to_string(n_batch_) +
                             ") of model '" + model.path() + "'");
    }
    ids_ = Buffer(dev, B * 4, MemoryKind::upload, "token ids");
    positions_ = Buffer(dev, B * 4, MemoryKind::upload, "positions");
    x_ = Buffer(dev, B * E * 4, MemoryKind::device, "x");
    xb_ = Buffer(dev, B * E * 4, MemoryKind::device, "xb");
    q_ = Buffer(dev, B * Q * 4, MemoryKind::device, "q");
    k_ = Buffer(dev, B * KV * 4, MemoryKind::device, "k");
    v_ = Buffer(dev, B * KV * 4, MemoryKind::device, "v");
    att_ = Buffer(dev, B * Q * 4, MemoryKind::device, "attention out");
    ffn_g_ = Buffer(dev, B * F * 4, MemoryKind::device, "ffn gate");
    ffn_u_ = Buffer(dev, B * F * 4, MemoryKind::device, "ffn up");
    logits_gpu_ = Buffer(dev, uint64_t(head_rows_) * V * 4, MemoryKind::device, "logits");
    logits_host_ = Buffer(dev, B * V * 4, MemoryKind::readback, "logits (host)");
    matmul_scratch_ = Buffer(dev, std::max<uint64_t>(4, ops::matmul_scratch_bytes(n_batch_, widest)),
                             MemoryKind::device, "matmul scratch");
    if (model.w8a8()) {
        const uint64_t words = ops::packed_row_words(widest);
        act_q_ = Buffer(dev, B * words * 4, MemoryKind::device, "quantized activations");
        act_s_ = Buffer(dev, B * 4, MemoryKind::device, "activation scales");
        act_zp_ = Buffer(dev, B * 4, MemoryKind::device, "activation zero points");
    }
    alloc_kv_cache(kv);

    auto sum = [](std::initializer_list<const Buffer*> bufs) {
        uint64_t n = 0;
        for (const Buffer* b : bufs) n += b->size();
        return n;
    };
    memory_.kv = kv_.bytes();
    memory_.activations = sum({&x_, &xb_, &q_, &k_, &v_, &att_, &ffn_g_, &ffn_u_, &logits_gpu_});
    memory_.scratch = sum({&matmul_scratch_, &act_q_, &act_s_, &act_zp_});
    memory_.io = sum({&ids_, &positions_, &logits_host_});
}

model::Session::~Session() = default;

// Positions each layer's cache keeps. A full-attention layer keeps all n_ctx. A
// sliding-window layer (window w) keeps a ring of min(n_ctx, w + n_batch - 1) rows,
// position p in row p % rows: a forward call writes at most n_batch consecutive
// positions p0.. before its queries read, and its first query still needs p0 - w + 1..,
// so w - 1 + n_batch rows hold every position any of its queries sees (llama.cpp's SWA
// cache: n_swa + n_ubatch cells, padded to 256).
std::vector<uint32_t> model::Session::kv_layer_rows() const {
    const HParams& hp = model_->hparams();
    std::vector<uint32_t> rows(hp.n_layer, n_ctx_);
    for (uint32_t l = 0; l < hp.n_layer; ++l)
        if (hp.is_swa(l)) rows[l] = uint32_t(std::min<uint64_t>(n_ctx_, uint64_t(hp.n_swa) + n_batch_ - 1));
    return rows;
}

// Rows of n_head_kv*head_dim elements of the cache's types per layer for K and for V.
void model::Session::alloc_kv_cache(KvCacheTypes types) {
    const HParams& hp = model_->hparams();
    kv_ = KvCache(model_->device(), kv_layer_rows(), hp.kv_dim(), types);
}

// Records one forward pass (the block of arch/arch.hpp) over M tokens whose ids and
// positions are in ids_ / positions_. Logits of the last row (or of all rows) land in
// logits_host_.
void model::Session::record_forward(Recorder& rec, uint32_t M, bool all_logits) {
    const model::Model& m = *model_;
    const HParams& hp = m.hparams();
    const uint32_t E = hp.n_embd, Q = hp.q_dim(), KV = hp.kv_dim(), F = hp.n_ff, V = hp.n_vocab, hd = hp.head_dim;
    const ops::RopeMode mode = hp.rope_neox ? ops::RopeMode::neox : ops::RopeMode::norm;
    const Weight& factors = m.rope_factors_for(n_ctx_);
    const KvCacheTypes& kvt = kv_.types();

    // x (M,E) = embedding rows of ids [* embd_scale]
    ops::embed(rec, m.tok_embd.mat.view, ids_, x_, M);
    if (hp.embd_scale != 1.0f) ops::scale(rec, x_, hp.embd_scale, x_, M * E);
    for (uint32_t l = 0; l < hp.n_layer; ++l) {
        const model::Layer& L = m.layers[l];
        // ---- attention: q (M,Q), k/v (M,KV) = rmsnorm(x) @ Wq/Wk/Wv^T [+ b]
        linears(rec, x_, &L.attn_norm, M, E, {{&L.wq, q_}, {&L.wk, k_}, {&L.wv, v_}});
        if (L.bq.buf) ops::add_bias(rec, q_, L.bq.buf, q_, M, Q);
        if (L.bk.buf) ops::add_bias(rec, k_, L.bk.buf, k_, M, KV);
        if (L.bv.buf) ops::add_bias(rec, v_, L.bv.buf, v_, M, KV);
        // per-head RMSNorm: q as (M*n_head, hd) rows, k as (M*n_head_kv, hd)
        if (L.q_norm.buf) ops::rmsnorm(rec, q_, L.q_norm.buf, q_, M * hp.n_head, hd, hp.rms_eps);
        if (L.k_norm.buf) ops::rmsnorm(rec, k_, L.k_norm.buf, k_, M * hp.n_head_kv, hd, hp.rms_eps);
        ops::RopeParams rope{hp.n_head, hd, hp.n_rot, hp.layer_rope_base(l), mode, hp.layer_freq_scale(l),
                             hp.rope_attn_factor, factors.buf ? BufferView(factors.buf) : BufferView{}};
        ops::rope(rec, q_, positions_, q_, M, rope);
        rope.n_head = hp.n_head_kv;
        // The layer's cache is a ring of `rows` rows (kv_layer_rows): every position of this
        // call's window must still be in it after the call's M stores.
        const uint32_t rows = kv_.rows(l), window = hp.is_swa(l) ? hp.n_swa : 0;
        VKRT_CHECK(rows == n_ctx_ || (window > 0 && uint64_t(rows) >= uint64_t(window) + M - 1), Status::internal,
                   "layer ", l, ": a KV ring of ", rows, " rows cannot serve ", M, " tokens with a window of ", window);
        ops::rope_store(rec, k_, positions_, kv_.k(l), M, rope, rows, 0, kvt.k);  // rope(k) -> cache row pos % rows
        ops::kv_store(rec, v_, positions_, kv_.v(l), M, KV, rows, kvt.v);
        const ops::AttentionShape att{hp.n_head, hp.n_head_kv, hd, rows, kvt.k, kvt.v};
        ops::attention(rec, q_, kv_.k(l), kv_.v(l), positions_, att_, M, att, hp.kq_scale(), 0, 0, window);
        linears(rec, att_, nullptr, M, Q, {{&L.wo, xb_}});  // (M,Q) @ Wo^T -> (M,E)
        if (L.attn_post_norm.buf) ops::rmsnorm(rec, xb_, L.attn_post_norm.buf, xb_, M, E, hp.rms_eps);
        ops::add(rec, x_, xb_, x_, M * E);
        // ---- feed-forward: x += (act(norm(x) Wg^T) * norm(x) Wu^T) Wd^T [-> post norm]
        linears(rec, x_, &L.ffn_norm, M, E, {{&L.w_gate, ffn_g_}, {&L.w_up, ffn_u_}});
        if (hp.act == arch::Act::gelu_tanh)
            ops::geglu(rec, ffn_g_, ffn_u_, ffn_g_, M * F);
        else
            ops::swiglu(rec, ffn_g_, ffn_u_, ffn_g_, M * F);
        linears(rec, ffn_g_, nullptr, M, F, {{&L.w_down, xb_}});
        if (L.ffn_post_norm.buf) ops::rmsnorm(rec, xb_, L.ffn_post_norm.buf, xb_, M, E, hp.rms_eps);
        ops::add(rec, x_, xb_, x_, M * E);
    }
    // ---- head: only the rows whose logits are wanted, head_rows_ at a time (their logits
    // fit one binding), each chunk copied to its rows of the readback buffer
    const uint32_t rows = all_logits ? M : 1;
    const Weight& out = m.output_weight();
    for (uint32_t r0 = 0; r0 < rows; r0 += head_rows_) {
        const uint32_t n = std::min(head_rows_, rows - r0);
        const uint64_t first = uint64_t(M - rows + r0) * E * 4;
        ops::rmsnorm(rec, BufferView(x_, first, uint64_t(n) * E * 4), m.output_norm.buf, xb_, n, E, hp.rms_eps);
        ops::matmul(rec, xb_, out.mat.view, logits_gpu_, n, matmul_scratch_);  // (n,E) @ W^T -> (n,V)
        rec.copy(logits_gpu_, BufferView(logits_host_, uint64_t(r0) * V * 4, uint64_t(n) * V * 4),
                 uint64_t(n) * V * 4);
    }
}

void model::Session::linears(Recorder& rec, const BufferView& in, const Weight* norm, uint32_t M, uint32_t K,
                           std::initializer_list<Out> outs) {
    const HParams& hp = model_->hparams();
    const Weight& first = *outs.begin()->w;
    for (const Out& o : outs)
        VKRT_CHECK(o.w->int8() == first.int8(), Status::bad_format, "tensors '", first.name, "' and '", o.w->name,
                   "' share an input but only one of them is W8A8 (I8)");
    if (!first.int8()) {
        BufferView x = in;
        if (norm) {
            ops::rmsnorm(rec, in, norm->buf, xb_, M, K, hp.rms_eps);
            x = xb_;
        }
        for (const Out& o : outs) ops::matmul(rec, x, o.w->mat.view, o.y, M, matmul_scratch_);
        return;
    }
    // W8A8: quantize the input once per token (fused with the norm when there is one),
    // then one int8 GEMM per weight with per-channel weight scales in the epilogue.
    const ActQuant& aq = model_->act_quant();
    const BufferView smooth = first.smooth ? BufferView(first.smooth) : BufferView{};
    if (aq.asymmetric) {
        // uint8 + zero point per token; the GEMM epilogue subtracts zp * rowsum(W).
        if (norm)
            ops::rmsnorm_quantize_rows_asym_i8(rec, in, norm->buf, smooth, act_q_, act_s_, act_zp_, M, K, hp.rms_eps);
        else
            ops::quantize_rows_asym_i8(rec, in, act_q_, act_s_, act_zp_, M, K, smooth);
        for (const Out& o : outs)
            ops::gemm_int8(rec, act_q_, act_s_, o.w->buf, o.w->scale, BufferView{}, o.y, M, o.w->rows, K,
                           ops::GemmInt8Path::automatic, act_zp_, o.w->wsum);
        return;
    }
    // Symmetric int8: per-token scales, or the calibrated per-tensor scale of a static file.
    const BufferView static_scale = aq.static_scale ? BufferView(first.act_scale) : BufferView{};
    if (norm)
        ops::rmsnorm_quantize_rows_i8(rec, in, norm->buf, smooth, act_q_, act_s_, M, K, hp.rms_eps, static_scale);
    else
        ops::quantize_rows_i8(rec, in, act_q_, act_s_, M, K, smooth, static_scale);
    for (const Out& o : outs)
        ops::gemm_int8(rec, act_q_, act_s_, o.w->buf, o.w->scale, BufferView{}, o.y, M, o.w->rows, K);
}

void model::Session::run_batch(std::span<const int32_t> tokens, bool all_logits, float* out_logits) {
    const uint32_t M = uint32_t(tokens.size());
    const uint32_t V = model_->hparams().n_vocab;
    std::vector<int32_t> pos(M);
    for (uint32_t i = 0; i < M; ++i) pos[i] = int32_t(pos_ + i);
    ids_.upload(tokens.data(), M * 4);
    positions_.upload(pos.data(), M * 4);
    Recorder* rec;
    if (M == 1 && !all_logits) {
        // Decode: the command buffer is recorded once and replayed for every token.
        if (!decode_rec_) {
            decode_rec_ = std::make_unique<Recorder>(model_->device());
            decode_rec_->begin();
            record_forward(*decode_rec_, 1, false);
            decode_rec_->end();
        }
        rec = decode_rec_.get();
    } else {
        if (!batch_rec_ || batch_rec_m_ != M || batch_rec_all_ != all_logits) {
            if (!batch_rec_) batch_rec_ = std::make_unique<Recorder>(model_->device());
            batch_rec_->begin();
            record_forward(*batch_rec_, M, all_logits);
            batch_rec_->end();
            batch_rec_m_ = M;
            batch_rec_all_ = all_logits;
        }
        rec = batch_rec_.get();
    }
    rec->submit();
    if (static const bool profile = std::getenv("VKRT_PROFILE") != nullptr; profile) {
        std::fprintf(stderr, "vkrt profile: forward of %u token(s)\n", M);
        for (const auto& e : rec->profile())
            std::fprintf(stderr, "  %-28s %9.1f us  (%u dispatches)\n", e.name.c_str(), e.seconds * 1e6, e.count);
    }
    const uint32_t rows = all_logits ? M : 1;
    logits_host_.download(out_logits, uint64_t(rows) * V * 4);
    note_evaluated(tokens);
}

const std::vector<float>& model::Session::eval(std::span<const int32_t> tokens, bool all_logits) {
    VKRT_CHECK(!tokens.empty(), Status::invalid_argument, "eval: no tokens");
    const uint32_t V = model_->hparams().n_vocab;
    ops::check_ids(tokens, V);
    if (overflow_ != Overflow::error && uint64_t(pos_) + tokens.size() > n_ctx_)
        shift_context(uint32_t(std::min<size_t>(tokens.size(), UINT32_MAX)));
    VKRT_CHECK(uint64_t(pos_) + tokens.size() <= n_ctx_, Status::limit_exceeded, "context is full: ", pos_.load(),
               " tokens in the cache + ", tokens.size(), " new > n_ctx ", n_ctx_,
               " (start a new session or raise -c)");
    for (size_t i = 0; i < tokens.size(); i += n_batch_) {
        // Cancellation (another thread's cancel()) between batches: the cache keeps exactly
        // the batches run so far, and logits() the last of them. Not before the first: a
        // call that evaluates one token (a generated one its caller has already passed on)
        // always completes.
        VKRT_CHECK(i == 0 || !cancel_requested(), Status::cancelled, "eval cancelled after ", i, " of ", tokens.size(),
                   " tokens (", pos_.load(), " tokens in the cache)");
        if (i == 0) logits_.assign(all_logits ? tokens.size() * V : V, 0.0f);
        size_t n = std::min<size_t>(n_batch_, tokens.size() - i);
        float* dst = all_logits ? logits_.data() + i * V : logits_.data();
        run_batch(tokens.subspan(i, n), all_logits, dst);
    }
    return logits_;
}

}  // namespace vkrt
