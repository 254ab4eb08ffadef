// model::Session's state functions (model.hpp, "state"): rewind, prefix reuse, context
// overflow and saved state. They work on the token history, the position and the KV
// cache's rows; the forward pass itself stays in model.cpp.
#include <algorithm>
#include <tuple>
#include <cstring>

#include "core/error.hpp"
#include "model/model.hpp"
#include "model/session_state.hpp"
#include "ops/kv_shift.hpp"

namespace vkrt {

// ---------------------------------------------------------------- history and rings

// Rows of the sliding-window rings (all rings of a session have the same size,
// kv_layer_rows); n_ctx when no layer is a ring.
uint32_t model::Session::ring_rows() const {
    uint32_t r = n_ctx_;
    for (uint32_t l = 0; l < kv_.n_layer(); ++l) r = std::min(r, kv_.rows(l));
    return r;
}

// After a forward over `tokens` at positions pos.. : they join the history, and a ring of
// R rows now holds only the last R positions.
void model::Session::note_evaluated(std::span<const int32_t> tokens) {
    tokens_.insert(tokens_.end(), tokens.begin(), tokens.end());
    const uint32_t pos = pos_ += uint32_t(tokens.size());
    const uint32_t R = ring_rows();
    if (pos > R) ring_lo_ = std::max(ring_lo_, pos - R);
}

// The next query after a rewind to n is at position n; a window of w positions needs keys
// [n - w + 1, n), which every ring must still hold (newer positions of the discarded tail
// overwrote the rows of positions below ring_lo_).
bool model::Session::rewind_keeps_cache(uint32_t n) const {
    const HParams& hp = model_->hparams();
    if (hp.n_swa == 0) return true;
    const uint32_t need = n >= hp.n_swa ? n - hp.n_swa + 1 : 0;
    return ring_lo_ <= need;
}

void model::Session::truncate(uint32_t n) {
    VKRT_CHECK(n <= pos_, Status::invalid_argument, "truncate: cannot keep ", n, " positions, the session holds ",
               pos_.load());
    if (n == pos_) return;
    logits_.clear();  // the kept last token's logits are not stored: the next eval gives new ones
    if (rewind_keeps_cache(n)) {
        // Rows [0, n) stay as they are; rows of positions >= n are overwritten before any
        // query reads them (a query reads positions <= its own).
        tokens_.resize(n);
        pos_ = n;
        if (n == 0) ring_lo_ = 0;
        return;
    }
    // A ring lost part of the window position n needs: evaluate the kept tokens again, in
    // the same batches as the first time when they were evaluated in one call.
    std::vector<int32_t> keep(tokens_.begin(), tokens_.begin() + n);
    tokens_.clear();
    pos_ = 0;
    ring_lo_ = 0;
    if (!keep.empty()) eval(keep);
}

uint32_t model::Session::eval_prompt(std::span<const int32_t> prompt) {
    VKRT_CHECK(!prompt.empty(), Status::invalid_argument, "eval_prompt: empty prompt");
    const size_t limit = std::min(tokens_.size(), prompt.size() - 1);  // the last prompt token is always evaluated
    uint32_t common = 0;
    while (common < limit && tokens_[common] == prompt[common]) ++common;
    if (!rewind_keeps_cache(common)) common = 0;  // the ring would be rebuilt: evaluate it all once
    truncate(common);
    eval(prompt.subspan(common));
    return common;
}

// ---------------------------------------------------------------- context overflow

// llama.cpp's context shift: keep the first n_keep tokens, drop half of the rest (again
// while the new tokens still do not fit), and move the kept tail down: its cached K
// re-rotated to the new positions (shift_rerope), or, where that is not exact or with
// Overflow::shift_recompute, the kept tail evaluated again at its new positions, which
// gives exactly the cache of a fresh session over those tokens for every architecture
// (sliding-window rings, whose rows are not at their positions) and cache type (a q8_0 K
// cannot be re-rotated without a second rounding).
void model::Session::shift_context(uint32_t n_new) {
    const uint32_t keep = std::min(n_keep_, pos_.load());
    VKRT_CHECK(uint64_t(keep) + n_new < n_ctx_, Status::limit_exceeded, "context shift: ", n_new,
               " new tokens do not fit n_ctx ", n_ctx_, " next to the ", keep, " kept ones");
    std::vector<int32_t> t = tokens_;
    while (t.size() + n_new > n_ctx_) {
        const size_t discard = std::max<size_t>(1, (t.size() - keep) / 2);
        t.erase(t.begin() + keep, t.begin() + keep + ptrdiff_t(discard));
    }
    shifts_.fetch_add(1, std::memory_order_relaxed);
    if (overflow_ == Overflow::shift && shift_rerope(keep, uint32_t(tokens_.size() - t.size()))) return;
    tokens_.clear();
    pos_ = 0;
    ring_lo_ = 0;
    logits_.clear();
    if (!t.empty()) eval(t);
}

bool model::Session::shift_rerope(uint32_t keep, uint32_t discard) {
    const HParams& hp = model_->hparams();
    if (hp.n_swa > 0) return false;  // ring rows are not at their positions
    const KvCacheTypes& kt = kv_.types();
    // The rotation each layer's forward gave its K (record_forward: the layer's plan).
    const arch::Plan& plan = model_->plan();
    const Weight& factors = plan.long_factors(n_ctx_) ? model_->rope_factors_long : model_->rope_factors;
    auto rope_of = [&](uint32_t l) {
        const arch::RopePlan& r = plan.layers[l].rope;
        return ops::RopeParams{hp.n_head_kv,  hp.head_dim, r.n_rot, r.base,
                               r.neox ? ops::RopeMode::neox : ops::RopeMode::norm,
                               r.freq_scale, r.attn_factor,
                               r.factors && factors.buf ? BufferView(factors.buf) : BufferView{}};
    };
    // A layer without rotary embedding would need a plain move, not a re-rotation: recompute.
    for (uint32_t l = 0; l < kv_.n_layer(); ++l)
        if (!plan.layers[l].rope.on) return false;
    for (uint32_t l = 0; l < kv_.n_layer(); ++l)
        if (!ops::kv_shift_supported(kt.k, rope_of(l))) return false;
    const uint32_t from = keep + discard, tail = pos_ - from;
    if (tail > 0) {
        // Source and target rows overlap (and a copy within one buffer must not), so every
        // row goes through a scratch buffer: K re-rotated into it, V copied into it.
        const uint64_t rk = ops::kv_row_bytes(kt.k, kv_.width()), rv = ops::kv_row_bytes(kt.v, kv_.width());
        Device& dev = model_->device();
        Buffer scratch(dev, (uint64_t(tail) * std::max(rk, rv) + 3) / 4 * 4, MemoryKind::device,
                       "context shift scratch");
        Recorder rec(dev);
        rec.begin();
        for (uint32_t l = 0; l < kv_.n_layer(); ++l) {
            ops::kv_shift(rec, kv_.k(l), scratch, tail, from, -int32_t(discard), rope_of(l), kt.k);
            rec.copy(BufferView(scratch, 0, tail * rk), BufferView(kv_.k(l), keep * rk, tail * rk), tail * rk);
            rec.copy(BufferView(kv_.v(l), from * rv, tail * rv), BufferView(scratch, 0, tail * rv), tail * rv);
            rec.copy(BufferView(scratch, 0, tail * rv), BufferView(kv_.v(l), keep * rv, tail * rv), tail * rv);
        }
        rec.end();
        rec.submit();
    }
    // The last logits stay: they are the last token's, whose position moved (as llama.cpp).
    tokens_.erase(tokens_.begin() + keep, tokens_.begin() + from);
    pos_ = keep + tail;
    return true;
}

// ---------------------------------------------------------------- saved state

namespace {

// Positions [first, pos) of a cache of `rows` rows (position p in row p % rows) as at most
// two runs of consecutive rows: f(row, count, index of the first position from `first`).
template <typename F>
void for_row_runs(uint32_t first, uint32_t pos, uint32_t rows, F&& f) {
    for (uint32_t p = first; p < pos;) {
        const uint32_t row = p % rows, n = std::min(pos - p, rows - row);
        f(row, n, p - first);
        p += n;
    }
}

}  // namespace

// Lowest saved position of layer l: a ring holds positions from ring_lo_ on.
static uint32_t first_saved(const KvCache& kv, uint32_t l, uint32_t n_ctx, uint32_t ring_lo) {
    return kv.rows(l) < n_ctx ? ring_lo : 0;
}

uint64_t model::Session::state_size(uint64_t extra_bytes) const {
    const KvCacheTypes& kt = kv_.types();
    const uint64_t rk = ops::kv_row_bytes(kt.k, kv_.width()), rv = ops::kv_row_bytes(kt.v, kv_.width());
    const uint64_t n_logits = logits_.size() >= model_->hparams().n_vocab ? model_->hparams().n_vocab : 0;
    uint64_t bytes = sizeof(StateHeader) + uint64_t(pos_) * 4 + n_logits * 4 + uint64_t(kv_.n_layer()) * 4 + extra_bytes;
    for (uint32_t l = 0; l < kv_.n_layer(); ++l) bytes += uint64_t(pos_ - first_saved(kv_, l, n_ctx_, ring_lo_)) * (rk + rv);
    return bytes;
}

std::vector<uint8_t> model::Session::save_state(std::span<const uint8_t> extra) const {
    const HParams& hp = model_->hparams();
    const KvCacheTypes& kt = kv_.types();
    StateHeader h{};
    std::memcpy(h.magic, kStateMagic, sizeof h.magic);
    h.version = kStateVersion;
    h.header_bytes = sizeof h;
    h.model_id = model_->identity();
    h.n_layer = kv_.n_layer();
    h.width = kv_.width();
    h.n_vocab = hp.n_vocab;
    h.type_k = uint32_t(kt.k);
    h.type_v = uint32_t(kt.v);
    h.n_ctx = n_ctx_;
    h.pos = pos_;
    h.ring_lo = ring_lo_;
    h.n_logits = logits_.size() >= hp.n_vocab ? hp.n_vocab : 0;
    h.extra_bytes = extra.size();
    const uint64_t rk = ops::kv_row_bytes(kt.k, h.width), rv = ops::kv_row_bytes(kt.v, h.width);
    std::vector<uint32_t> first(h.n_layer);
    for (uint32_t l = 0; l < h.n_layer; ++l) first[l] = first_saved(kv_, l, n_ctx_, ring_lo_);
    h.payload_bytes = state_size(extra.size()) - sizeof h;

    std::vector<uint8_t> out(sizeof h + h.payload_bytes);
    uint8_t* p = out.data() + sizeof h;
    auto put = [&](const void* src, uint64_t n) {
        if (n) std::memcpy(p, src, n);
        p += n;
    };
    put(tokens_.data(), uint64_t(h.pos) * 4);
    put(logits_.data() + (logits_.size() - h.n_logits), uint64_t(h.n_logits) * 4);  // the last row's
    put(first.data(), uint64_t(h.n_layer) * 4);
    for (uint32_t l = 0; l < h.n_layer; ++l) {
        for (const auto& kv : {std::pair{&kv_.k(l), rk}, std::pair{&kv_.v(l), rv}}) {
            auto* const buf = kv.first;  // not a structured binding: clang 14 cannot capture one
            const uint64_t rb = kv.second;
            for_row_runs(first[l], h.pos, kv_.rows(l), [&](uint32_t row, uint32_t n, uint32_t) {
                buf->download(p, uint64_t(n) * rb, uint64_t(row) * rb);
                p += uint64_t(n) * rb;
            });
        }
    }
    put(extra.data(), extra.size());
    VKRT_CHECK(p == out.data() + out.size(), Status::internal, "save_state: wrote ", p - out.data(), " of ",
               out.size(), " bytes");
    h.checksum = 0;
    StateHash hash;
    hash.update(&h, sizeof h);
    hash.update(out.data() + sizeof h, h.payload_bytes);
    h.checksum = hash.digest();
    std::memcpy(out.data(), &h, sizeof h);
    return out;
}

std::vector<uint8_t> model::Session::load_state(std::span<const uint8_t> blob) {
    const StateView s = parse_state(blob);
    const StateHeader& h = s.h;
    const HParams& hp = model_->hparams();
    const KvCacheTypes& kt = kv_.types();
    // Everything is checked before anything changes: a refused state leaves the session as it was.
    VKRT_CHECK(h.model_id == model_->identity() && h.n_layer == kv_.n_layer() && h.width == kv_.width() &&
                   h.n_vocab == hp.n_vocab,
               Status::invalid_argument, "session state: saved from another model (identity ", h.model_id, ", ",
               h.n_layer, " layers, KV width ", h.width, ", vocab ", h.n_vocab, "; this session's model '",
               model_->path(), "' is ", model_->identity(), ", ", kv_.n_layer(), " layers, KV width ", kv_.width(),
               ", vocab ", hp.n_vocab, ")");
    VKRT_CHECK(h.type_k == uint32_t(kt.k) && h.type_v == uint32_t(kt.v), Status::invalid_argument,
               "session state: saved with a ", ops::kv_type_name(ops::KvType(h.type_k)), " K / ",
               ops::kv_type_name(ops::KvType(h.type_v)), " V cache, this session has ", ops::kv_type_name(kt.k),
               " / ", ops::kv_type_name(kt.v));
    VKRT_CHECK(h.n_ctx <= n_ctx_, Status::invalid_argument, "session state: saved with n_ctx ", h.n_ctx,
               ", this session's n_ctx ", n_ctx_, " is smaller");
    uint32_t ring_lo = 0;
    for (uint32_t l = 0; l < h.n_layer; ++l) {
        VKRT_CHECK(s.first[l] == 0 || hp.is_swa(l), Status::invalid_argument, "session state: layer ", l,
                   " has full attention but the state holds its positions from ", s.first[l], " only");
        // A ring here keeps the last rows(l) positions of what was saved.
        if (hp.is_swa(l)) ring_lo = std::max({ring_lo, s.first[l], h.pos > kv_.rows(l) ? h.pos - kv_.rows(l) : 0u});
    }
    for (uint32_t l = 0; l < h.n_layer; ++l) {
        const uint32_t rows = kv_.rows(l), from = std::max(s.first[l], h.pos > rows ? h.pos - rows : 0u);
        for (const auto& kv : {std::tuple{&kv_.k(l), s.k[l], s.row_bytes_k},
                               std::tuple{&kv_.v(l), s.v[l], s.row_bytes_v}}) {
            auto* const buf = std::get<0>(kv);  // not a structured binding: clang 14 cannot capture one
            const auto& src = std::get<1>(kv);
            const uint64_t rb = std::get<2>(kv);
            const uint8_t* base = src.data() + uint64_t(from - s.first[l]) * rb;
            for_row_runs(from, h.pos, rows, [&](uint32_t row, uint32_t n, uint32_t i) {
                buf->upload(base + uint64_t(i) * rb, uint64_t(n) * rb, uint64_t(row) * rb);
            });
        }
    }
    tokens_ = s.tokens;
    pos_ = h.pos;
    ring_lo_ = ring_lo;
    logits_ = s.logits;
    return std::vector<uint8_t>(s.extra.begin(), s.extra.end());
}

}  // namespace vkrt
