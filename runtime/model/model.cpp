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
    // The plan: what each layer does, and which linears run as one matrix (the roles'
    // stored formats decide: equal formats with matrix kernels concatenate).
    auto desc_of = [&](arch::Role r, uint32_t l) -> const arch::TensorDesc* {
        for (const arch::TensorDesc& t : table)
            if (t.layer == int(l) && std::find(t.parts.begin(), t.parts.end(), r) != t.parts.end()) return &t;
        return nullptr;
    };
    plan_ = arch::plan(hp_, [&](arch::Role r, uint32_t l) -> uint32_t {
        const arch::TensorDesc* d = desc_of(r, l);
        const gguf::TensorInfo* t = d ? f.find_tensor(d->name) : nullptr;
        return t ? uint32_t(t->type) : ~0u;
    });
    {
        // Slices start at offsets the device can bind (ops on views of one output).
        const uint32_t a = uint32_t(std::max<uint64_t>(1, (dev.caps().min_storage_offset_alignment + 3) / 4));
        auto up = [a](uint32_t n) { return (n + a - 1) / a * a; };
        fused_rows_.k0 = up(hp_.q_dim());
        fused_rows_.v0 = fused_rows_.k0 + up(hp_.kv_dim());
        fused_rows_.qkv = fused_rows_.v0 + hp_.kv_dim();
        fused_rows_.up0 = up(hp_.n_ff);
        fused_rows_.gate_up = fused_rows_.up0 + hp_.n_ff;
    }
    using arch::Role;
    auto in_fused = [&](const arch::TensorDesc& t) {
        if (t.layer < 0) return false;
        const arch::FusedLinears& fu = plan_.layers[size_t(t.layer)].fused;
        switch (t.parts[0]) {
            case Role::attn_q: case Role::attn_k: case Role::attn_v: return fu.qkv;
            case Role::attn_q_bias: case Role::attn_k_bias: case Role::attn_v_bias: return fu.qkv;
            case Role::ffn_gate: case Role::ffn_up: return fu.gate_up;
            default: return false;
        }
    };
    layers.resize(hp_.n_layer);
    size_t done = 0;
    for (const arch::TensorDesc& t : table) {
        if (in_fused(t)) {
            // loaded below, once per layer
        } else if (t.kind == arch::Kind::linear) {
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
    const FusedRows& fr = fused_rows_;
    for (uint32_t l = 0; l < hp_.n_layer; ++l) {
        const arch::LayerPlan& lp = plan_.layers[l];
        Layer& L = layers[l];
        if (lp.fused.qkv) {
            L.wqkv = load_fused(f, table, l, {Role::attn_q, Role::attn_k, Role::attn_v}, {0, fr.k0, fr.v0}, fr.qkv);
            if (lp.qkv_bias)
                L.bqkv = load_fused(f, table, l, {Role::attn_q_bias, Role::attn_k_bias, Role::attn_v_bias},
                                    {0, fr.k0, fr.v0}, fr.qkv);
        }
        if (lp.fused.gate_up)
            L.w_gate_up = load_fused(f, table, l, {Role::ffn_gate, Role::ffn_up}, {0, fr.up0}, fr.gate_up);
    }
    tied_output_ = output.mat.buffers.empty();
    // Every weight buffer counts as weights in the recorder's bytes-read counts.
    auto tag = [](Weight& w) {
        for (Buffer& b : w.mat.buffers) b.set_byte_class(ByteClass::weights);
        for (Buffer* b : {&w.buf, &w.scale, &w.act_scale, &w.smooth, &w.wsum})
            if (*b) b->set_byte_class(ByteClass::weights);
    };
    for (Weight* w : {&tok_embd, &output_norm, &output, &rope_factors, &rope_factors_long}) tag(*w);
    for (Layer& L : layers)
        for (Weight* w : {&L.attn_norm, &L.wq, &L.wk, &L.wv, &L.bq, &L.bk, &L.bv, &L.q_norm, &L.k_norm, &L.wo,
                          &L.attn_post_norm, &L.ffn_norm, &L.w_gate, &L.w_up, &L.w_down, &L.ffn_post_norm, &L.wqkv,
                          &L.bqkv, &L.w_gate_up})
            tag(*w);
    identity_ = file_identity(f);
}

Weight model::Model::load_fused(const gguf::File& f, const std::vector<arch::TensorDesc>& table, uint32_t l,
                               std::initializer_list<arch::Role> roles, std::initializer_list<uint32_t> starts,
                               uint32_t rows) {
    Weight w;
    std::vector<uint8_t> bytes;
    uint64_t rb = 0;
    auto start = starts.begin();
    for (arch::Role r : roles) {
        const arch::TensorDesc* d = nullptr;
        uint64_t row0 = 0;  // the role's first row in its file tensor (phi3's attn_qkv holds three)
        for (const arch::TensorDesc& t : table) {
            if (t.layer != int(l)) continue;
            row0 = 0;
            for (size_t i = 0; i < t.parts.size() && !d; ++i) {
                if (t.parts[i] == r) d = &t;
                else row0 += t.part_rows[i];
            }
            if (d) break;
        }
        VKRT_CHECK(d, Status::internal, "load_fused: layer ", l, " has no ", arch::role_name(r));
        const gguf::TensorInfo* t = f.find_tensor(d->name);
        VKRT_CHECK(t, Status::bad_format, "gguf: tensor '", d->name, "' is missing");
        const size_t i = size_t(std::find(d->parts.begin(), d->parts.end(), r) - d->parts.begin());
        const uint64_t n = d->part_rows[i];
        const bool vec = d->kind == arch::Kind::bias;
        const uint64_t file_rows = vec ? 1 : (t->dims.size() > 1 ? t->dims[1] : 1);
        const uint64_t file_cols = t->dims.empty() ? 0 : t->dims[0];
        VKRT_CHECK(vec ? t->n_elements == d->cols : (t->dims.size() == 2 && file_cols == d->cols && file_rows == d->rows),
                   Status::bad_format, "gguf: tensor '", t->name, "' does not have the shape of ", d->name);
        if (bytes.empty()) {
            // The first part fixes the format; the plan fused only equal ones.
            w.type = vec ? gguf::TensorType::F32 : t->type;
            w.cols = vec ? 1 : d->cols;
            if (vec) {
                VKRT_CHECK(t->type == gguf::TensorType::F32, Status::unsupported, "vector tensor '", t->name,
                           "' must be F32, not ", fmt::name(t->type));
            } else {
                check_runnable(*t);
            }
            rb = vec ? 4 : fmt::row_bytes(t->type, d->cols);
            bytes.assign(uint64_t(rows) * rb, 0);  // zero rows decode to 0 in every format
        }
        VKRT_CHECK(t->type == (vec ? gguf::TensorType::F32 : w.type), Status::internal, "load_fused: '", t->name,
                   "' is ", fmt::name(t->type), ", not ", fmt::name(w.type));
        const uint64_t elems = vec ? d->cols : n;  // a bias: cols floats, "rows" of 4 bytes
        VKRT_CHECK(*start + elems <= rows, Status::internal, "load_fused: slice overruns the fused rows");
        std::memcpy(bytes.data() + uint64_t(*start) * rb, t->data + row0 * rb, elems * rb);
        weight_bytes_ += elems * rb;
        w.name += (w.name.empty() ? "" : "+") + d->name + (d->fused() ? std::string("[") + arch::role_name(r) + "]" : "");
        ++start;
    }
    if (w.cols == 1) {  // biases: one F32 vector
        w.rows = 1;
        w.cols = rows;
        w.buf = Buffer(*dev_, bytes.size(), MemoryKind::device, w.name);
        w.buf.upload(bytes.data(), bytes.size());
        return w;
    }
    w.rows = rows;
    w.mat = ops::upload_weight(*dev_, w.type, w.rows, w.cols, bytes.data(), w.name);
    return w;
}

std::string model::Model::describe() const {
    std::ostringstream os;
    os << hp_.arch << ": " << hp_.n_layer << " layers, dim " << hp_.n_embd << ", " << hp_.n_head << "/"
       << hp_.n_head_kv << " heads (head dim " << hp_.head_dim << "), FFN " << hp_.n_ff << ", vocab " << hp_.n_vocab;
    if (hp_.n_swa) os << ", window " << hp_.n_swa;
    os
       << ", weights " << fmt::name(layers.empty() ? tok_embd.type : layers[0].wqkv.mat.buffers.empty() ? layers[0].wq.type : layers[0].wqkv.type) << " "
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
    (void)KV;
    const uint32_t widest = std::max({hp.n_embd, hp.n_ff, hp.q_dim()});  // the K of every linear
    const std::vector<arch::LayerPlan>& lps = model.plan().layers;
    const bool post_norms = std::any_of(lps.begin(), lps.end(), [](const arch::LayerPlan& lp) {
        return lp.attn_post_norm || lp.ffn_post_norm;
    });
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
        const model::FusedRows& fr = model.fused_rows();
        const u128 acts = u128(B) * ((post_norms ? 3 : 2) * E + fr.qkv + Q + fr.gate_up + F) * 4 +
                          u128(head_rows_) * V * 4 +
                          ops::matmul_scratch_bytes(n_batch_, widest) + ops::matmul_scratch_bytes(n_batch_, F) +
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
    qkv_ = Buffer(dev, B * model.fused_rows().qkv * 4, MemoryKind::device, "qkv");
    att_ = Buffer(dev, B * Q * 4, MemoryKind::device, "attention out");
    gate_up_ = Buffer(dev, B * model.fused_rows().gate_up * 4, MemoryKind::device, "ffn gate|up");
    ffn_h_ = Buffer(dev, B * F * 4, MemoryKind::device, "ffn gated");
    if (post_norms) post_ = Buffer(dev, B * E * 4, MemoryKind::device, "post-norm input");
    logits_gpu_ = Buffer(dev, uint64_t(head_rows_) * V * 4, MemoryKind::device, "logits");
    logits_host_ = Buffer(dev, B * V * 4, MemoryKind::readback, "logits (host)");
    matmul_scratch_ = Buffer(dev, std::max<uint64_t>(4, ops::matmul_scratch_bytes(n_batch_, widest)),
                             MemoryKind::device, "matmul scratch");
    // Decode attention's split partial results (every layer's cache has at most n_ctx rows).
    const ops::AttentionShape att_full{hp.n_head, hp.n_head_kv, hp.head_dim, n_ctx_, kv.k, kv.v};
    attn_split_ = ops::attention_scratch(dev, att_full);
    if (F % 32 == 0 && dev.caps().int_dot) {
        ffn_q8_ = Buffer(dev, ops::matmul_scratch_bytes(n_batch_, uint32_t(F)), MemoryKind::device, "ffn gated q8_1");
        glu_arrivals_ = Buffer(dev, std::max<uint64_t>(4, ops::glu_q8_arrival_bytes(n_batch_, uint32_t(F))),
                               MemoryKind::device, "ffn q8_1 block counters");
        glu_arrivals_.fill_zero();  // every GLU GEMV leaves them zero again
    }
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
    memory_.activations = sum({&x_, &xb_, &qkv_, &att_, &gate_up_, &ffn_h_, &logits_gpu_, &post_});
    memory_.scratch = sum({&matmul_scratch_, &act_q_, &act_s_, &act_zp_, &attn_split_, &ffn_q8_, &glu_arrivals_});
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
        if (const uint32_t w = model_->plan().layers[l].window)
            rows[l] = uint32_t(std::min<uint64_t>(n_ctx_, uint64_t(w) + n_batch_ - 1));
    return rows;
}

// Rows of n_head_kv*head_dim elements of the cache's types per layer for K and for V.
void model::Session::alloc_kv_cache(KvCacheTypes types) {
    const HParams& hp = model_->hparams();
    kv_ = KvCache(model_->device(), kv_layer_rows(), hp.kv_dim(), types);
}

// Records one forward pass (the block of arch/arch.hpp) over M tokens whose ids and
// positions are in ids_ / positions_, layer by layer as the model's plan says (nothing
// here asks the hyper-parameters what a layer does). Logits of the last row (or of all
// rows) land in logits_host_.
//
// Decode graph of a layer (one token; fused QKV and gate|up, float-path GEMVs):
//   rmsnorm[_q8_1] -> Wqkv -> [bias] [q/k norm] -> rope(q) | rope_store(k) | kv_store(v)
//   -> attention -> Wo -> [post norm] -> add -> rmsnorm[_q8_1] -> Wgate|up -> glu -> Wdown
//   -> [post norm] -> add
// The two `add`s (without a post norm) and the `glu` (fused gate|up) are GEMV epilogues
// (ops::MatmulEpilogue: residual, glu) wherever the product runs as a GEMV (gemv_epilogue);
// the q/k/v step is one ops::rope_qkv where it runs the cache types. With a post norm
// (Gemma 3), `post norm -> add -> the next rmsnorm[_q8_1]` (the FFN's input, the next
// layer's, or the head's when it reads all M rows) is one ops::rmsnorm_add_norm. A llama
// layer on float GEMVs: 8 dispatches, 8 barriers (each reads the one before); so is Gemma's.
// A split-KV decode attention merges its splits in its own dispatch (the last split of a
// head, ops::attention). On integer GEMVs the norms write q8_1 rows, the decode attention
// its output's (head_dim % 32 == 0) and the [gate; up] GEMV its GLU rows' (F % 32 == 0) for
// Wo and Wdown: 8 and 8 as well; otherwise a quantize_q8_1 pass before Wo / Wdown (+1 each).
void model::Session::record_forward(Recorder& rec, uint32_t M, bool all_logits) {
    const model::Model& m = *model_;
    const HParams& hp = m.hparams();
    const arch::Plan& plan = m.plan();
    const model::FusedRows& fr = m.fused_rows();
    const uint32_t E = hp.n_embd, Q = hp.q_dim(), KV = hp.kv_dim(), F = hp.n_ff, V = hp.n_vocab, hd = hp.head_dim;
    const Weight& factors = plan.long_factors(n_ctx_) ? m.rope_factors_long : m.rope_factors;
    const KvCacheTypes& kvt = kv_.types();
    const uint64_t B = n_batch_;
    // This pass's rows of the per-token buffers, bound exactly (the recorder's counts see
    // what the pass reads, not the n_batch rows the buffers hold).
    const BufferView x(x_, 0, uint64_t(M) * E * 4), xb(xb_, 0, uint64_t(M) * E * 4),
        att_out(att_, 0, uint64_t(M) * Q * 4), h(ffn_h_, 0, uint64_t(M) * F * 4), ids(ids_, 0, uint64_t(M) * 4), pos(positions_, 0, uint64_t(M) * 4);

    // The norms of x_ and the matrices reading them, for a post norm's pass to write the next
    // norm (residual_linear): layer l's attention input, its FFN input, the head's input
    // (only where the head reads all M rows at once: the q8_1 rows are not a row range).
    const uint32_t head_rows = all_logits ? M : 1;
    auto attn_in = [&](uint32_t l) {
        const model::Layer& L = m.layers[l];
        NextNorm n{&L.attn_norm, plan.layers[l].eps, {}};
        if (plan.layers[l].fused.qkv) n.readers = {&L.wqkv};
        else n.readers = {&L.wq, &L.wk, &L.wv};
        return n;
    };
    auto ffn_in = [&](uint32_t l) {
        const model::Layer& L = m.layers[l];
        NextNorm n{&L.ffn_norm, plan.layers[l].eps, {}};
        if (plan.layers[l].fused.gate_up) n.readers = {&L.w_gate_up};
        else n.readers = {&L.w_gate, &L.w_up};
        return n;
    };
    const bool head_fusable = head_rows == M && head_rows_ >= M;
    const NextNorm head_in{&m.output_norm, plan.output_eps, {&m.output_weight()}};
    bool normalized = false;  // the next linears()' norm of x_ is written already

    // x (M,E) = embedding rows of ids [* embd_scale]
    ops::embed(rec, m.tok_embd.mat.view, ids, x, M);
    if (plan.embd_scale != 1.0f) ops::scale(rec, x, plan.embd_scale, x, M * E);
    for (uint32_t l = 0; l < hp.n_layer; ++l) {
        const arch::LayerPlan& lp = plan.layers[l];
        const model::Layer& L = m.layers[l];
        const bool last = l + 1 == hp.n_layer;
        const NextNorm ffn_next = ffn_in(l), layer_next = last ? head_in : attn_in(l + 1);
        // ---- q (M,Q), k/v (M,KV) = rmsnorm(x) @ Wq/Wk/Wv^T [+ b]: views of qkv_ with row
        // strides. Fused: the (M, fr.qkv) output of one matrix, q/k/v at rows 0/k0/v0 of each
        // row. Unfused: q, k, v (M,Q/KV) in the slices of the buffer (B rows each).
        struct Slice {
            BufferView v;
            uint32_t stride;
        };
        Slice q, k, v;
        // M rows of `width` floats `stride` apart from float `first` of buf.
        auto rows_view = [M](const Buffer& buf, uint64_t first, uint32_t width, uint32_t stride) {
            return Slice{BufferView(buf, first * 4, (uint64_t(M - 1) * stride + width) * 4), stride};
        };
        if (lp.fused.qkv) {
            q = rows_view(qkv_, 0, Q, fr.qkv);
            k = rows_view(qkv_, fr.k0, KV, fr.qkv);
            v = rows_view(qkv_, fr.v0, KV, fr.qkv);
            linears(rec, x, &L.attn_norm, lp.eps, M, E, {{&L.wqkv, BufferView(qkv_, 0, uint64_t(M) * fr.qkv * 4)}},
                    normalized);
        } else {
            q = rows_view(qkv_, 0, Q, Q);
            k = rows_view(qkv_, B * fr.k0, KV, KV);
            v = rows_view(qkv_, B * fr.v0, KV, KV);
            linears(rec, x, &L.attn_norm, lp.eps, M, E, {{&L.wq, q.v}, {&L.wk, k.v}, {&L.wv, v.v}}, normalized);
        }
        // The layer's cache is a ring of `rows` rows (kv_layer_rows): every position of this
        // call's window must still be in it after the call's M stores.
        const uint32_t rows = kv_.rows(l), window = lp.window;
        VKRT_CHECK(rows == n_ctx_ || (window > 0 && uint64_t(rows) >= uint64_t(window) + M - 1), Status::internal,
                   "layer ", l, ": a KV ring of ", rows, " rows cannot serve ", M, " tokens with a window of ", window);
        const ops::RopeParams rope{hp.n_head,        hd,
                                   lp.rope.n_rot,    lp.rope.base,
                                   lp.rope.neox ? ops::RopeMode::neox : ops::RopeMode::norm,
                                   lp.rope.freq_scale, lp.rope.attn_factor,
                                   lp.rope.factors && factors.buf ? BufferView(factors.buf) : BufferView{}};
        // ---- [q, k, v += bias] [per-head q/k norm] rope(q) in place, rope(k) and v into the
        // caches: one dispatch (ops::rope_qkv) where it runs the cache types and the biases are
        // one fused row; the separate passes otherwise.
        if (ops::rope_qkv_supported(kvt.k, kvt.v) && (!lp.qkv_bias || lp.fused.qkv)) {
            ops::QkvStep st;
            st.rope = rope;
            st.rope_on = lp.rope.on;
            st.n_head_kv = hp.n_head_kv;
            st.k0 = uint32_t(k.v.offset / 4), st.v0 = uint32_t(v.v.offset / 4);
            st.q_stride = q.stride, st.kv_stride = k.stride;
            if (lp.qkv_bias) st.bias = L.bqkv.buf;
            if (lp.qk_norm) st.q_norm = L.q_norm.buf, st.k_norm = L.k_norm.buf;
            st.eps = lp.eps;
            st.rows = rows, st.k_type = kvt.k, st.v_type = kvt.v;
            const uint64_t end = std::max(q.v.offset + q.v.bytes(), v.v.offset + v.v.bytes());
            ops::rope_qkv(rec, BufferView(qkv_, 0, end), pos, kv_.k(l), kv_.v(l), M, st);
        } else {
            if (lp.qkv_bias && lp.fused.qkv) {
                const BufferView all(qkv_, 0, uint64_t(M) * fr.qkv * 4);
                ops::add_bias(rec, all, L.bqkv.buf, all, M, fr.qkv);
            } else if (lp.qkv_bias) {
                ops::add_bias(rec, q.v, L.bq.buf, q.v, M, Q);
                ops::add_bias(rec, k.v, L.bk.buf, k.v, M, KV);
                ops::add_bias(rec, v.v, L.bv.buf, v.v, M, KV);
            }
            // per-head RMSNorm in place: q as M groups of n_head rows of hd, k of n_head_kv
            if (lp.qk_norm) {
                ops::rmsnorm(rec, q.v, L.q_norm.buf, q.v, M * hp.n_head, hd, lp.eps, {hp.n_head, q.stride});
                ops::rmsnorm(rec, k.v, L.k_norm.buf, k.v, M * hp.n_head_kv, hd, lp.eps, {hp.n_head_kv, k.stride});
            }
            if (lp.rope.on) {
                ops::rope(rec, q.v, pos, q.v, M, rope, q.stride, q.stride);  // in place
                ops::RopeParams rope_k = rope;
                rope_k.n_head = hp.n_head_kv;
                ops::rope_store(rec, k.v, pos, kv_.k(l), M, rope_k, rows, k.stride, kvt.k);  // -> row pos % rows
            } else {
                ops::kv_store(rec, k.v, pos, kv_.k(l), M, KV, rows, kvt.k, k.stride);
            }
            ops::kv_store(rec, v.v, pos, kv_.v(l), M, KV, rows, kvt.v, v.stride);
        }
        // Where Wo runs as an integer GEMV, the decode attention writes its rows as q8_1
        // (Wo's input) itself: no quantize_q8_1 pass.
        const ops::AttentionShape att{hp.n_head, hp.n_head_kv, hd, rows, kvt.k, kvt.v};
        const bool att_q8 = !L.wo.int8() && int_path(L.wo, M, Q) && ops::attention_q8_out(att, M);
        const BufferView att_xq = att_q8 ? BufferView(matmul_scratch_, 0, ops::matmul_scratch_bytes(M, Q)) : BufferView{};
        ops::attention(rec, q.v, kv_.k(l), kv_.v(l), pos, att_out, M, att, lp.kq_scale, q.stride, 0, window,
                       attn_split_, att_xq);
        // x += (M,Q) @ Wo^T [-> post norm]
        normalized = residual_linear(rec, att_out, L.wo, lp.attn_post_norm ? &L.attn_post_norm : nullptr, lp.eps, M, Q,
                                     &ffn_next, att_xq);
        // ---- feed-forward: x += (act(norm(x) Wg^T) * norm(x) Wu^T) Wd^T [-> post norm]
        const uint32_t act = uint32_t(lp.act);  // arch::Act: 0 SiLU, 1 GELU-tanh (ops::glu)
        BufferView h_xq;  // h's q8_1 rows where the GLU GEMV writes them for an integer Wdown
        if (lp.fused.gate_up && fr.up0 == F && gemv_epilogue(L.w_gate_up, M, E, true)) {
            // h (M,F) = act(gate) * up straight from the GEMV of [gate; up] (its GLU epilogue,
            // which finds up row i at row F + i: no alignment padding between the halves),
            // and its q8_1 rows (no quantize_q8_1 pass) where Wdown runs as an integer GEMV.
            const ops::Glu glu = lp.act == arch::Act::silu ? ops::Glu::swiglu : ops::Glu::geglu;
            ops::MatmulEpilogue epi{{}, glu};
            if (ffn_q8_ && !L.w_down.int8() && int_path(L.w_down, M, F)) {
                h_xq = epi.q8 = BufferView(ffn_q8_, 0, ops::matmul_scratch_bytes(M, F));
                epi.q8_arrivals = BufferView(glu_arrivals_, 0, ops::glu_q8_arrival_bytes(M, F));
            }
            linears(rec, x, &L.ffn_norm, lp.eps, M, E, {{&L.w_gate_up, h, epi}}, normalized);
        } else if (lp.fused.gate_up) {
            const BufferView all(gate_up_, 0, uint64_t(M) * fr.gate_up * 4);
            linears(rec, x, &L.ffn_norm, lp.eps, M, E, {{&L.w_gate_up, all}}, normalized);
            ops::glu(rec, act, rows_view(gate_up_, 0, F, fr.gate_up).v, rows_view(gate_up_, fr.up0, F, fr.gate_up).v,
                     h, M, F, fr.gate_up);
        } else {
            const BufferView gate = rows_view(gate_up_, 0, F, F).v, up = rows_view(gate_up_, B * fr.up0, F, F).v;
            linears(rec, x, &L.ffn_norm, lp.eps, M, E, {{&L.w_gate, gate}, {&L.w_up, up}}, normalized);
            ops::glu(rec, act, gate, up, h, M, F, F);
        }
        normalized = residual_linear(rec, h, L.w_down, lp.ffn_post_norm ? &L.ffn_post_norm : nullptr, lp.eps, M, F,
                                     !last || head_fusable ? &layer_next : nullptr, h_xq);
    }
    // ---- head: only the rows whose logits are wanted, head_rows_ at a time (their logits
    // fit one binding), each chunk copied to its rows of the readback buffer
    const uint32_t rows = head_rows;
    const Weight& out = m.output_weight();
    for (uint32_t r0 = 0; r0 < rows; r0 += head_rows_) {
        const uint32_t n = std::min(head_rows_, rows - r0);
        const uint64_t first = uint64_t(M - rows + r0) * E * 4;
        linears(rec, BufferView(x_, first, uint64_t(n) * E * 4), &m.output_norm, plan.output_eps, n, E,
                {{&out, BufferView(logits_gpu_, 0, uint64_t(n) * V * 4)}}, normalized);  // (n,E) @ W^T -> (n,V)
        rec.copy(logits_gpu_, BufferView(logits_host_, uint64_t(r0) * V * 4, uint64_t(n) * V * 4),
                 uint64_t(n) * V * 4);
    }
}

bool model::Session::int_path(const Weight& w, uint32_t M, uint32_t K) const {
    const Device& dev = model_->device();
    const Format t = w.mat.view.type;
    if (integer_gemv_ && M <= 8 && (fmt::traits(t).kernels & fmt::kKernelInt) && dev.caps().int_dot) return true;
    // The int8-dot GEMM (prefill) reads the same q8_1 activations as the integer GEMV.
    const ops::MatmulPath p = ops::matmul_pick_path(dev, t, M, w.rows, K, true);
    return p == ops::MatmulPath::gemv_int || p == ops::MatmulPath::mmq;
}

bool model::Session::gemv_epilogue(const Weight& w, uint32_t M, uint32_t K, bool glu) const {
    if (w.int8() || (glu && w.mat.view.parts.size() != 1)) return false;
    const Device& dev = model_->device();
    // The integer path: matmul_q8 runs the GEMV unless the int8-dot GEMM is preferred.
    if (int_path(w, M, K)) return !ops::mmq_preferred(dev, M);
    // The float path: linears() passes no scratch, so auto_ picks as here.
    const ops::MatmulPath p = ops::matmul_pick_path(dev, w.mat.view.type, M, w.rows, K, false);
    return p == ops::MatmulPath::gemv || p == ops::MatmulPath::gemv_f16;
}

// x_ (M,E) += in (M,K) @ w^T [-> rmsnorm(post_norm)]: without a post norm the GEMV adds
// x_ itself (its residual epilogue, y aliasing the residual); otherwise, or where the
// product is no GEMV, into xb_ and then the add (with the post norm: ops::rmsnorm_add).
bool model::Session::residual_linear(Recorder& rec, const BufferView& in, const Weight& w, const Weight* post_norm,
                                     float eps, uint32_t M, uint32_t K, const NextNorm* next,
                                     const BufferView& in_q8) {
    const uint32_t E = model_->hparams().n_embd;
    const BufferView x(x_, 0, uint64_t(M) * E * 4), xb(xb_, 0, uint64_t(M) * E * 4);
    if (!post_norm && gemv_epilogue(w, M, K, false)) {
        linears(rec, in, nullptr, eps, M, K, {{&w, x, {x}}}, false, in_q8);
        return false;
    }
    if (!post_norm) {
        linears(rec, in, nullptr, eps, M, K, {{&w, xb}}, false, in_q8);
        ops::add(rec, x, xb, x, M * E);
        return false;
    }
    const BufferView p(post_, 0, uint64_t(M) * E * 4);
    linears(rec, in, nullptr, eps, M, K, {{&w, p}}, false, in_q8);
    // The next norm in the same pass where linears() would write it from x_ alone: its
    // readers are not W8A8 (whose int8 rows rmsnorm_quantize_rows_* write).
    size_t n_readers = 0;
    bool fuse = next != nullptr;
    for (; fuse && n_readers < next->readers.size() && next->readers[n_readers]; ++n_readers)
        fuse = !next->readers[n_readers]->int8();
    if (!fuse) {
        ops::rmsnorm_add(rec, p, post_norm->buf, x, M, E, eps);  // x += rmsnorm(p): one pass
        return false;
    }
    const NormOutputs o = norm_outputs(std::span<const Weight* const>(next->readers.data(), n_readers), M, E);
    ops::rmsnorm_add_norm(rec, p, post_norm->buf, eps, x, next->norm->buf, next->eps, M, E,
                          o.f32 ? xb : BufferView{},
                          o.q8 ? BufferView(matmul_scratch_, 0, ops::matmul_scratch_bytes(M, E)) : BufferView{});
    return true;
}

model::Session::NormOutputs model::Session::norm_outputs(std::span<const Weight* const> readers, uint32_t M,
                                                         uint32_t K) const {
    NormOutputs o;
    for (const Weight* w : readers) (int_path(*w, M, K) ? o.q8 : o.f32) = true;
    return o;
}

void model::Session::linears(Recorder& rec, const BufferView& in, const Weight* norm, float eps, uint32_t M,
                             uint32_t K, std::initializer_list<Out> outs, bool normalized,
                             const BufferView& in_q8) {
    const Weight& first = *outs.begin()->w;
    for (const Out& o : outs)
        VKRT_CHECK(o.w->int8() == first.int8(), Status::bad_format, "tensors '", first.name, "' and '", o.w->name,
                   "' share an input but only one of them is W8A8 (I8)");
    if (!first.int8()) {
        // The paths of the matrices: integer GEMVs read x quantized once (q8_1), the
        // others the normalized float x; the norm writes what they read.
        auto int_path = [&](const Weight& w) { return this->int_path(w, M, K); };
        std::array<const Weight*, 4> readers{};
        VKRT_CHECK(outs.size() <= readers.size(), Status::internal, "linears: ", outs.size(), " outputs");
        for (size_t i = 0; i < outs.size(); ++i) readers[i] = outs.begin()[i].w;
        const NormOutputs need = norm_outputs(std::span<const Weight* const>(readers.data(), outs.size()), M, K);
        const bool need_int = need.q8, need_float = need.f32;
        const bool have_q8 = in_q8.buffer != nullptr;
        const ops::Q8Activations xq{have_q8 ? in_q8 : BufferView(matmul_scratch_, 0, ops::matmul_scratch_bytes(M, K)), M,
                                    K};
        BufferView x = in;
        VKRT_CHECK(!normalized || (norm && in.buffer == &x_ && in.offset == 0), Status::internal,
                   "linears: normalized rows without their norm");
        VKRT_CHECK(!have_q8 || (!norm && !need_float), Status::internal,
                   "linears: q8_1 input rows for a norm or a float-path matrix");
        if (norm && normalized) {
            x = BufferView(xb_, 0, uint64_t(M) * K * 4);  // written by residual_linear's rmsnorm_add_norm
        } else if (norm) {
            const BufferView xn(xb_, 0, uint64_t(M) * K * 4);  // the normalized rows (K = n_embd)
            if (need_int)
                ops::rmsnorm_q8_1(rec, in, norm->buf, eps, xq.buf, M, K, need_float ? xn : BufferView{});
            else
                ops::rmsnorm(rec, in, norm->buf, xn, M, K, eps);
            x = xn;
        } else if (need_int && !have_q8) {
            ops::quantize_q8_1(rec, in, xq);
        }
        for (const Out& o : outs) {
            if (int_path(*o.w))
                ops::matmul_q8(rec, xq, o.w->mat.view, o.y, o.epi);
            else
                ops::matmul(rec, x, o.w->mat.view, o.y, M, {}, ops::MatmulPath::auto_, o.epi);  // no scratch: a float path
        }
        return;
    }
    // W8A8: quantize the input once per token (fused with the norm when there is one),
    // then one int8 GEMM per weight with per-channel weight scales in the epilogue.
    for (const Out& o : outs)
        VKRT_CHECK(!o.epi.active(), Status::internal, "linears: W8A8 tensor '", o.w->name,
                   "' has no GEMV epilogue (gemv_epilogue says so)");
    const ActQuant& aq = model_->act_quant();
    const BufferView smooth = first.smooth ? BufferView(first.smooth) : BufferView{};
    if (aq.asymmetric) {
        // uint8 + zero point per token; the GEMM epilogue subtracts zp * rowsum(W).
        if (norm)
            ops::rmsnorm_quantize_rows_asym_i8(rec, in, norm->buf, smooth, act_q_, act_s_, act_zp_, M, K, eps);
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
        ops::rmsnorm_quantize_rows_i8(rec, in, norm->buf, smooth, act_q_, act_s_, M, K, eps, static_scale);
    else
        ops::quantize_rows_i8(rec, in, act_q_, act_s_, M, K, smooth, static_scale);
    for (const Out& o : outs)
        ops::gemm_int8(rec, act_q_, act_s_, o.w->buf, o.w->scale, BufferView{}, o.y, M, o.w->rows, K);
}

model::Session::PassCounts model::Session::count_pass(uint32_t M) {
    VKRT_CHECK(M >= 1 && M <= n_batch_, Status::invalid_argument, "count_pass: M = ", M, " outside 1..n_batch ",
               n_batch_);
    Recorder rec(model_->device());
    rec.begin();
    record_forward(rec, M, false);
    rec.end();
    return {rec.dispatch_count(), rec.barrier_count(), rec.bytes_read(ByteClass::weights),
            rec.bytes_read(ByteClass::kv), rec.bytes_read(ByteClass::activations)};
}

void model::Session::set_integer_gemv(bool on) {
    integer_gemv_ = on;
    decode_rec_.reset();  // recorded with the other paths
    batch_rec_.reset();
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
