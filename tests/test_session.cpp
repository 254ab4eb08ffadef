// model::Session's state functions (runtime/model/session_control.cpp): rewind, prefix
// reuse, cancellation, context shift and saved state, on every architecture of
// ../shared/models/arch/*-f32.gguf and stories260K with every KV cache type.
//
// "Bit for bit" here compares two sessions whose kept rows were computed by the same calls
// (the same batches of the same tokens): truncate must give back exactly that state, never
// a stale ring row. A rewind to the middle of a batch keeps rows computed at another batch
// size than a fresh session's, which the GEMM/GEMV paths need not reproduce bit for bit.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <thread>

#include "gpu.hpp"
#include "model/model.hpp"
#include "core/fp16.hpp"
#include "model/session_state.hpp"
#include "ops/kv_shift.hpp"
#include "ref/reference.hpp"
#include "test_util.hpp"
#include "vkrt/vkrt.hpp"

using namespace vkrt;

namespace {

const char* const kModels[] = {"stories260K.gguf",           "arch/gemma3-f32.gguf", "arch/llama_ropefreqs-f32.gguf",
                               "arch/phi3-f32.gguf",         "arch/qwen2-f32.gguf",  "arch/qwen3-f32.gguf"};
constexpr KvCacheTypes kCacheTypes[] = {{ops::KvType::f32, ops::KvType::f32},
                                        {ops::KvType::f16, ops::KvType::f16},
                                        {ops::KvType::q8_0, ops::KvType::q8_0},
                                        {ops::KvType::q8_0, ops::KvType::f16}};

std::string model_path(const std::string& name) { return test::models_dir() + "/" + name; }

// Seeded ids in [1, 200): every test model's vocabulary is larger.
std::vector<int32_t> ids(size_t n, uint32_t seed) {
    std::vector<int32_t> v(n);
    uint32_t x = seed * 2654435761u + 1;
    for (auto& t : v) t = int32_t(1 + (x = x * 1664525u + 1013904223u) % 199u);
    return v;
}

std::vector<int32_t> cat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * 4) == 0;
}

// The cache types this model can hold (q8_0 needs rows of a multiple of 32 elements).
std::vector<KvCacheTypes> cache_types(const model::Model& m) {
    std::vector<KvCacheTypes> out;
    for (const KvCacheTypes& t : kCacheTypes)
        if (m.hparams().kv_dim() % 32 == 0 || (t.k != ops::KvType::q8_0 && t.v != ops::KvType::q8_0)) out.push_back(t);
    return out;
}

std::string kv_name(const KvCacheTypes& t) {
    return std::string(ops::kv_type_name(t.k)) + "/" + ops::kv_type_name(t.v);
}

// n_ctx 64 and batches of 4: gemma3's window of 16 gets a ring of 19 rows.
constexpr uint32_t kCtx = 64, kBatch = 4;

// A greedy conversation of 3 x n_ctx tokens after `prompt` on a session with a shift
// policy: it must keep going within n_ctx with the first n_keep tokens in place;
// `first_shift(t)` runs right after the eval of token t that shifted first. Returns the
// number of shifts.
uint32_t run_past_context(model::Session& s, const std::vector<int32_t>& prompt,
                          const std::function<void(int32_t)>& first_shift) {
    s.eval(prompt);
    uint32_t shifts_seen = 0;
    for (int i = 0; i < int(3 * s.n_ctx()); ++i) {
        const auto& l = s.logits();
        const int32_t t = int32_t(std::max_element(l.begin(), l.end()) - l.begin());
        const uint32_t before = s.shifts();
        s.eval(std::span(&t, 1));
        REQUIRE(s.pos() <= s.n_ctx());
        REQUIRE(std::equal(prompt.begin(), prompt.begin() + s.n_keep(), s.tokens().begin()));  // n_keep stays
        if (s.shifts() != before && shifts_seen++ == 0) first_shift(t);
    }
    return s.shifts();
}

}  // namespace

TEST_CASE("truncate and continue = a fresh session fed the same tokens, bit for bit (every architecture, cache type)") {
    Device& dev = test::gpu();
    const auto P = ids(20, 1), X = ids(24, 2), T = ids(3, 3);
    for (const char* name : kModels) {
        model::Model m(dev, model_path(name));
        const bool rings = m.hparams().n_swa > 0;
        const auto types = cache_types(m);
        const std::string what = std::string(name) + ": " + std::to_string(types.size()) + " cache type pairs" +
                                 (rings ? " (sliding-window rings)" : "");
        MESSAGE(what);
        for (const KvCacheTypes& kv : types) {
            CAPTURE(name);
            CAPTURE(kv_name(kv));
            model::Session fresh(m, kCtx, kBatch, kv);
            fresh.eval(P);
            const std::vector<float> want = fresh.eval(T);

            // A long rewind: 24 newer positions overwrote every ring row of the window of 20.
            model::Session a(m, kCtx, kBatch, kv);
            a.eval(P);
            a.eval(X);
            CHECK(a.rewind_keeps_cache(20) == !rings);
            a.truncate(20);
            CHECK(a.pos() == 20);
            CHECK(a.tokens() == P);
            CHECK(same_bits(a.eval(T), want));

            // A short rewind: the rings still hold the window, nothing is evaluated again.
            model::Session b(m, kCtx, kBatch, kv);
            b.eval(P);
            b.eval(std::span(X).first(2));
            CHECK(b.rewind_keeps_cache(20));
            b.truncate(20);
            CHECK(b.logits().empty());  // not stored for the kept last token
            CHECK(same_bits(b.eval(T), want));

            // Prefix reuse: only what follows the common prefix is evaluated.
            model::Session c(m, kCtx, kBatch, kv);
            c.eval_prompt(cat(P, X));
            const uint32_t reused = c.eval_prompt(cat(P, T));
            CHECK(reused == (rings ? 0u : 20u));
            CHECK(same_bits(c.logits(), want));
            CHECK(c.tokens() == cat(P, T));
        }
        CHECK_NO_VALIDATION(dev);
    }
}

TEST_CASE("truncate and eval_prompt refuse bad counts") {
    Device& dev = test::gpu();
    model::Model m(dev, model_path("stories260K.gguf"));
    model::Session s(m, kCtx, kBatch);
    s.eval(ids(5, 4));
    CHECK_THROWS_WITH_AS(s.truncate(6), doctest::Contains("cannot keep 6 positions, the session holds 5"), Error);
    CHECK(s.pos() == 5);
    CHECK_THROWS_AS(s.eval_prompt({}), Error);
    s.truncate(0);
    CHECK(s.pos() == 0);
    CHECK(s.tokens().empty());
}

TEST_CASE("cancel: eval stops before its next batch, the cache holds the batches run, the session stays usable") {
    Device& dev = test::gpu();
    model::Model m(dev, model_path("stories260K.gguf"));
    const auto P = ids(16, 5);
    model::Session s(m, kCtx, kBatch);
    s.eval(std::span(P).first(4));
    s.cancel();
    try {
        s.eval(std::span(P).subspan(4));  // its first batch runs, the second is refused
        FAIL("a cancelled eval returned");
    } catch (const Error& e) {
        CHECK(e.status() == Status::cancelled);
    }
    CHECK(s.pos() == 8);
    CHECK(s.tokens() == std::vector<int32_t>(P.begin(), P.begin() + 8));
    s.clear_cancel();
    s.eval(std::span(P).subspan(8));
    model::Session fresh(m, kCtx, kBatch);
    fresh.eval(P);
    CHECK(same_bits(s.logits(), fresh.logits()));

    // From another thread while a long prefill runs: it ends at a batch boundary.
    model::Session r(m, 512, kBatch);
    const auto L = ids(400, 6);
    std::thread t([&] { r.cancel(); });
    uint32_t evaluated = 0;
    try {
        r.eval(L);
        evaluated = uint32_t(L.size());
    } catch (const Error& e) {
        CHECK(e.status() == Status::cancelled);
        evaluated = r.pos();
    }
    t.join();
    CHECK(r.pos() == evaluated);
    CHECK(evaluated % kBatch == 0);
    CHECK(r.tokens() == std::vector<int32_t>(L.begin(), L.begin() + evaluated));
    CHECK_NO_VALIDATION(dev);
}

TEST_CASE("context shift (recompute): a conversation of 3x n_ctx keeps going; the cache is the one built from scratch") {
    Device& dev = test::gpu();
    model::Model m(dev, model_path("stories260K.gguf"));
    model::Session s(m, kCtx, 16);
    s.set_overflow(model::Session::Overflow::shift_recompute, 4);
    const uint32_t shifts = run_past_context(s, ids(10, 7), [&](int32_t t) {
        // The kept tokens were evaluated again at their new positions: the cache and the
        // logits equal a fresh session's over the same tokens (bound 0: the same
        // computation in the same batches).
        model::Session fresh(m, kCtx, 16);
        std::vector<int32_t> kept(s.tokens().begin(), s.tokens().end() - 1);
        fresh.eval(kept);
        fresh.eval(std::span(&t, 1));
        CHECK(same_bits(fresh.logits(), s.logits()));
        const KvCache& a = s.kv_cache();
        const KvCache& b = fresh.kv_cache();
        const uint64_t bytes = ops::kv_row_bytes(a.types().k, a.width()) * s.pos();
        for (uint32_t layer = 0; layer < a.n_layer(); ++layer)
            CHECK(a.k(layer).download_as<uint8_t>(bytes) == b.k(layer).download_as<uint8_t>(bytes));
    });
    CHECK(shifts >= 3);
    model::Session strict(m, kCtx, 16);
    strict.eval(ids(kCtx, 8));
    CHECK_THROWS_WITH_AS(strict.eval(ids(1, 9)), doctest::Contains("context is full"), Error);
    CHECK_NO_VALIDATION(dev);
}

// llama.cpp's shift: the kept tail's rows move down and their K is re-rotated (ops::kv_shift).
// Layer 0's K and V depend on the token alone, so there the shifted cache must equal a fresh
// session's at the new positions: K within the kv_shift bound (below) plus both sides'
// rounding to the cache type (f16: 2^-11 relative each) and the float difference of the two
// sessions' matmul paths (their batches differ: ~K * 2^-24 relative, K = 64, below 1e-5);
// V, only moved, within the rounding and matmul terms. Deeper layers saw the dropped tokens:
// no bound, as in llama.cpp.
TEST_CASE("context shift (re-rotate): 3x n_ctx keeps going; layer 0 equals a fresh session's at the new positions") {
    Device& dev = test::gpu();
    model::Model m(dev, model_path("stories260K.gguf"));
    const HParams& hp = m.hparams();
    for (const KvCacheTypes& kv : {KvCacheTypes{ops::KvType::f16, ops::KvType::f16},
                                   KvCacheTypes{ops::KvType::f32, ops::KvType::q8_0}}) {
        CAPTURE(kv_name(kv));
        model::Session s(m, kCtx, 16, kv);
        s.set_overflow(model::Session::Overflow::shift, 4);
        const uint32_t shifts = run_past_context(s, ids(10, 7), [&](int32_t) {
            model::Session fresh(m, kCtx, 16, kv);
            fresh.eval(s.tokens());
            const uint32_t W = s.kv_cache().width(), n = s.pos();
            const auto load = [&](const model::Session& x, bool k) {
                const Buffer& b = k ? x.kv_cache().k(0) : x.kv_cache().v(0);
                const ops::KvType type = k ? kv.k : kv.v;
                std::vector<float> out(size_t(n) * W);
                if (type == ops::KvType::f32) return b.download_as<float>(out.size());
                const auto h = b.download_as<uint16_t>(out.size());
                for (size_t e = 0; e < out.size(); ++e) out[e] = fp16_to_fp32(h[e]);
                return out;
            };
            const auto ks = load(s, true), kf = load(fresh, true);
            const double round = kv.k == ops::KvType::f16 ? 0x1p-11 : 0x1p-24;
            const double max_theta = double(kCtx);  // |delta| and positions < n_ctx, inv freq <= 1
            size_t bad = 0;
            for (uint32_t p = 0; p < n; ++p)
                for (uint32_t h = 0; h < hp.n_head_kv; ++h)
                    for (uint32_t d = 0; d < hp.head_dim; ++d) {
                        const size_t b = (size_t(p) * hp.n_head_kv + h) * hp.head_dim;
                        const uint32_t pr = hp.rope_neox ? d % (hp.head_dim / 2) : d / 2;
                        const uint32_t i0 = hp.rope_neox ? pr : 2 * pr;
                        const uint32_t i1 = hp.rope_neox ? pr + hp.head_dim / 2 : 2 * pr + 1;
                        const double ab = std::fabs(kf[b + i0]) + std::fabs(kf[b + i1]);
                        const double bound = ab * (2 * 4e-6 * max_theta + 2 * 4e-6 + 3 * round + 1e-5) + 1e-6;
                        bad += std::fabs(ks[b + d] - kf[b + d]) > bound;
                    }
            CHECK(bad == 0);
            if (kv.v != ops::KvType::q8_0) {
                const auto vs = load(s, false), vf = load(fresh, false);
                size_t vbad = 0;
                for (size_t e = 0; e < vs.size(); ++e)
                    vbad += std::fabs(vs[e] - vf[e]) > std::fabs(vf[e]) * (2 * 0x1p-11 + 1e-5) + 1e-6;
                CHECK(vbad == 0);
            }
        });
        CHECK(shifts >= 3);
    }
    CHECK_NO_VALIDATION(dev);
}

TEST_CASE("saved state: restore into a fresh session continues with the same logits (every architecture, cache type)") {
    Device& dev = test::gpu();
    const auto P = ids(30, 10), T = ids(3, 11);
    for (const char* name : kModels) {
        model::Model m(dev, model_path(name));
        for (const KvCacheTypes& kv : cache_types(m)) {
            CAPTURE(name);
            CAPTURE(kv_name(kv));
            model::Session a(m, kCtx, kBatch, kv);
            a.eval(P);
            const uint8_t extra[3] = {1, 2, 3};
            const std::vector<uint8_t> blob = a.save_state(extra);
            const std::vector<float> want = a.eval(T);
            model::Session b(m, kCtx * 2, kBatch, kv);  // a larger n_ctx is fine
            CHECK(b.load_state(blob) == std::vector<uint8_t>(extra, extra + 3));
            CHECK(b.pos() == P.size());
            CHECK(b.tokens() == P);
            CHECK(same_bits(b.eval(T), want));
        }
    }
    CHECK_NO_VALIDATION(dev);
}

TEST_CASE("saved state: another model, other cache types, a smaller n_ctx, cut or flipped blobs are refused") {
    Device& dev = test::gpu();
    model::Model m(dev, model_path("stories260K.gguf"));
    model::Model other(dev, model_path("arch/qwen2-f32.gguf"));
    model::Session a(m, kCtx, kBatch);
    a.eval(ids(40, 12));
    const std::vector<uint8_t> blob = a.save_state({});
    REQUIRE(blob.size() > 8192);

    model::Session wrong_model(other, kCtx, kBatch);
    CHECK_THROWS_WITH_AS(wrong_model.load_state(blob), doctest::Contains("another model"), Error);
    model::Session wrong_types(m, kCtx, kBatch, {ops::KvType::f32, ops::KvType::f16});
    CHECK_THROWS_WITH_AS(wrong_types.load_state(blob), doctest::Contains("saved with a f16 K / f16 V cache"), Error);
    model::Session small(m, kCtx / 2, kBatch);
    CHECK_THROWS_WITH_AS(small.load_state(blob), doctest::Contains("n_ctx 32 is smaller"), Error);

    // The target keeps its own state through every refusal.
    model::Session b(m, kCtx, kBatch);
    const auto mine = ids(7, 13);
    b.eval(mine);
    const std::vector<float> before = b.logits();
    auto refused = [&](std::span<const uint8_t> bytes) {
        try {
            b.load_state(bytes);
        } catch (const Error& e) {
            return e.status() == Status::bad_format;
        }
        return false;
    };
    for (size_t cut = 0; cut < blob.size(); cut += 4096) CHECK(refused(std::span(blob).first(cut)));
    CHECK(refused(std::span(blob).first(blob.size() - 1)));
    for (size_t at = 0; at < blob.size(); at += std::max<size_t>(1, blob.size() / 97)) {
        std::vector<uint8_t> flipped = blob;
        flipped[at] ^= uint8_t(1u << (at % 8));
        CAPTURE(at);
        CHECK(refused(flipped));
    }
    CHECK(b.pos() == mine.size());
    CHECK(b.tokens() == mine);
    CHECK(same_bits(b.logits(), before));
    CHECK_NO_VALIDATION(dev);
}

TEST_CASE("C++ API (vkrt.hpp): truncate, tokens, eval_prompt, cancel, events, state round trip, bad input") {
    vkrt::Context ctx;
    vkrt::Model m(ctx, model_path("stories260K.gguf"));
    vkrt_session_params p = vkrt_session_default_params();
    p.n_ctx = int32_t(kCtx);
    p.n_batch = int32_t(kBatch);
    vkrt::Session s(m, p), fresh(m, p);
    const auto P = ids(12, 20), T = ids(4, 21);
    fresh.eval(P);
    fresh.eval(T);
    s.eval(P);
    s.eval(ids(8, 22));
    s.truncate(12);
    CHECK(s.tokens() == P);
    s.eval(T);
    CHECK(same_bits(s.logits(), fresh.logits()));
    CHECK(s.events() == 0);
    try {
        s.truncate(s.pos() + 1);
        FAIL("truncate past pos");
    } catch (const vkrt::Exception& e) {
        CHECK(e.status() == VKRT_ERROR_INVALID_ARGUMENT);
    }
    CHECK(s.eval_prompt(cat(P, T)) == int32_t(P.size() + T.size() - 1));
    const std::vector<uint8_t> blob = s.state();
    vkrt::Session r(m, p);
    r.set_state(blob);
    CHECK(r.tokens() == cat(P, T));
    CHECK(same_bits(r.logits(), s.logits()));
    std::vector<uint8_t> cut(blob.begin(), blob.end() - 4);
    try {
        r.set_state(cut);
        FAIL("a cut state was restored");
    } catch (const vkrt::Exception& e) {
        CHECK(e.status() == VKRT_ERROR_BAD_FORMAT);
    }
    s.cancel();  // nothing running: forgotten by the next call
    s.eval(T);
    CHECK(s.events() == 0);
}

TEST_CASE("C++ API (vkrt.hpp): the rest of the wrapper: describe, tokenize, sample, save/load files, generate") {
    vkrt::Context ctx;
    CHECK(!ctx.describe().empty());
    vkrt::Model m(ctx, model_path("stories260K.gguf"));
    CHECK(m.n_vocab() == 512);
    CHECK(m.bos() == 1);
    CHECK(m.eos() == 2);
    CHECK(m.is_eog(m.eos()));
    CHECK(!m.is_eog(m.bos()));
    const std::vector<int32_t> prompt = m.tokenize("Once upon a time");
    REQUIRE(prompt.size() > 2);
    CHECK(prompt[0] == m.bos());
    CHECK(m.detokenize(std::vector<int32_t>(prompt.begin() + 1, prompt.end())) == "Once upon a time");
    CHECK(m.tokenize(std::string(300, 'a'), false).size() > 8);  // the retry with the needed size

    vkrt_session_params p = vkrt_session_default_params();
    p.n_ctx = 128;
    vkrt::Session s(m, p), other(m, p);
    CHECK(s.n_ctx() == 128);
    CHECK(s.kv_bytes() > 0);
    s.eval(prompt);
    CHECK(s.pos() == int32_t(prompt.size()));
    vkrt_sampler_params greedy = vkrt_sampler_default_params();
    greedy.temperature = 0.0f;
    const int32_t next = s.sample(greedy);
    const std::vector<float> l = s.logits();
    CHECK(next == int32_t(std::max_element(l.begin(), l.end()) - l.begin()));

    // save/load through files: the same logits; a missing file or a directory is refused, the
    // session unchanged
    const std::string file = std::string(VKRT_TEST_TMP_DIR) + "/cpp_api_session.bin";
    s.save(file);
    other.load(file);
    CHECK(other.tokens() == s.tokens());
    CHECK(same_bits(other.logits(), l));
    CHECK_THROWS_AS(other.load(file + ".missing"), vkrt::Exception);
    CHECK_THROWS_AS(s.save(std::string(VKRT_TEST_TMP_DIR)), vkrt::Exception);
    CHECK(other.pos() == int32_t(prompt.size()));
    other.reset();
    CHECK(other.pos() == 0);

    // generate with logprobs, a penalty, bias and a grammar through GenerateOptions
    vkrt::GenerateOptions o;
    o.sampler = greedy;
    o.max_tokens = 8;
    o.logprobs = true;
    o.top_logprobs = 2;
    o.frequency_penalty = 0.5f;
    o.logit_bias = {{m.eos(), -INFINITY}};
    int steps = 0;
    const vkrt::GenerateResult r = vkrt::generate(other, "Once", o, [&](const vkrt_token_info& info) {
        if (info.token >= 0) {
            ++steps;
            CHECK(info.n_top == 2);
            CHECK(info.top_tokens[0] == info.token);
            CHECK(info.logprob == doctest::Approx(info.top_logprobs[0]));
        }
        return true;
    });
    CHECK(r.finish == VKRT_FINISH_LENGTH);
    CHECK(steps == 8);
    other.reset();
    o = {};
    o.grammar = "root ::= \"a\" [a-z]{2,4} \".\"\n";
    o.max_tokens = 20;
    const vkrt::GenerateResult g = vkrt::generate(other, "Once", o);
    CHECK(g.finish == VKRT_FINISH_EOG);
    CHECK(g.text.size() >= 4);
    CHECK(g.text.front() == 'a');
    CHECK(g.text.back() == '.');
    o.grammar = "root ::= root \"a\"\n";
    try {
        (void)vkrt::generate(other, "Once", o);
        FAIL("a left-recursive grammar was used");
    } catch (const vkrt::Exception& e) {
        CHECK(e.status() == VKRT_ERROR_INVALID_ARGUMENT);
        CHECK(std::string(e.what()).find("left-recursive") != std::string::npos);
    }
}

// ---- the context shift's K re-rotation (ops::kv_shift) against ref::rope ------------------
// Bound per rotated pair (a, b), as rope's in test_kernels_block.cpp: theta in float through
// pow (~4e-6 relative) and lavapipe's sin/cos (~4e-6 absolute for |theta| < 1e3):
// (|a| + |b|) * (4e-6 |theta| + 4e-6) + 1e-7; an f16 cache adds the rounding of the result
// (half an ulp: 2^-11 relative) on both sides; dims >= n_rot are copied exactly.
TEST_CASE("kv_shift: cached K rows re-rotated by delta = ref::rope of the rows at delta, and = rope at the new position") {
    Device& dev = test::gpu();
    struct Case {
        uint32_t n_head, hd, n_rot;
        bool neox, factors;
        float freq_scale;
    };
    const Case cases[] = {{4, 8, 8, false, false, 1.f}, {2, 16, 8, true, false, 1.f}, {3, 32, 32, true, true, 0.5f},
                          {1, 64, 48, false, true, 1.f}};
    const uint32_t M = 13, row0 = 5, p0 = 200;
    const int32_t delta = -117;
    for (const Case& c : cases)
        for (ops::KvType type : {ops::KvType::f32, ops::KvType::f16}) {
            CAPTURE(c.n_head);
            CAPTURE(c.hd);
            CAPTURE(c.neox);
            CAPTURE(ops::kv_type_name(type));
            const uint32_t width = c.n_head * c.hd, rows = row0 + M;
            const auto x = test::random_floats(size_t(M) * width, 77);
            const auto factors = test::random_floats(c.n_rot / 2, 78, 1.f, 4.f);
            ref::RopeExtra extra;
            if (c.factors) extra.factors = factors;
            extra.freq_scale = c.freq_scale;
            const auto mode = c.neox ? ref::RopeMode::neox : ref::RopeMode::norm;
            std::vector<int32_t> pos(M), moved(M), at_delta(M, delta);
            for (uint32_t m = 0; m < M; ++m) pos[m] = int32_t(p0 + m), moved[m] = pos[m] + delta;
            // The cache as rope_store leaves it (rows row0.., the type's rounding).
            std::vector<float> k = ref::rope(x, pos, M, c.n_head, c.hd, c.n_rot, 10000.f, mode, extra);
            std::vector<uint8_t> cache(ops::kv_cache_bytes(type, width, rows), 0);
            for (size_t e = 0; e < k.size(); ++e) {
                const size_t at = size_t(row0) * width + e;
                if (type == ops::KvType::f16) {
                    const uint16_t h = fp32_to_fp16(k[e]);
                    k[e] = fp16_to_fp32(h);
                    std::memcpy(cache.data() + 2 * at, &h, 2);
                } else {
                    std::memcpy(cache.data() + 4 * at, &k[e], 4);
                }
            }
            Buffer src = make_buffer(dev, std::span<const uint8_t>(cache), "k cache");
            Buffer dst(dev, ops::kv_cache_bytes(type, width, M), MemoryKind::device, "shifted");
            Buffer ff = make_buffer(dev, std::span<const float>(factors), "factors");
            ops::RopeParams rp{c.n_head, c.hd, c.n_rot, 10000.f, c.neox ? ops::RopeMode::neox : ops::RopeMode::norm,
                               c.freq_scale, 1.f, c.factors ? BufferView(ff) : BufferView{}};
            test::run(dev, [&](Recorder& r) { ops::kv_shift(r, src, dst, M, row0, delta, rp, type); });
            std::vector<float> got(size_t(M) * width);
            if (type == ops::KvType::f16) {
                const auto h = dst.download_as<uint16_t>(got.size());
                for (size_t e = 0; e < got.size(); ++e) got[e] = fp16_to_fp32(h[e]);
            } else {
                got = dst.download_as<float>(got.size());
            }
            const auto want = ref::rope(k, at_delta, M, c.n_head, c.hd, c.n_rot, 10000.f, mode, extra);
            const auto fresh = ref::rope(x, moved, M, c.n_head, c.hd, c.n_rot, 10000.f, mode, extra);
            const double round = type == ops::KvType::f16 ? 0x1p-11 : 0x1p-24;
            size_t bad = 0, bad_fresh = 0;
            for (uint32_t m = 0; m < M; ++m)
                for (uint32_t h = 0; h < c.n_head; ++h)
                    for (uint32_t d = 0; d < c.hd; ++d) {
                        const size_t e = (size_t(m) * c.n_head + h) * c.hd + d;
                        if (d >= c.n_rot) {
                            bad += got[e] != k[e];
                            continue;
                        }
                        const uint32_t pr = c.neox ? d % (c.n_rot / 2) : d / 2;
                        const uint32_t i0 = c.neox ? pr : 2 * pr, i1 = c.neox ? pr + c.n_rot / 2 : 2 * pr + 1;
                        const size_t b = (size_t(m) * c.n_head + h) * c.hd;
                        const double inv = std::pow(10000.0, -2.0 * pr / c.n_rot) * c.freq_scale /
                                           (c.factors ? factors[pr] : 1.0);
                        const double ab = std::fabs(k[b + i0]) + std::fabs(k[b + i1]);
                        const double bound =
                            ab * (4e-6 * std::fabs(delta * inv) + 4e-6) + 1e-7 + round * std::fabs(want[e]);
                        bad += std::fabs(got[e] - want[e]) > bound;
                        // Against rope at the new position from the unrotated x: the cached rows
                        // carry their own rounding (one more `round` of |x| each side) and the
                        // first rope's error at p (theta up to p0 + M).
                        const double xab = std::fabs(x[b + i0]) + std::fabs(x[b + i1]);
                        const double bound_fresh = bound + xab * (2 * round + 4e-6 * (p0 + M) * inv + 4e-6);
                        bad_fresh += std::fabs(got[e] - fresh[e]) > bound_fresh;
                    }
            CHECK(bad == 0);
            CHECK(bad_fresh == 0);
        }
    CHECK_NO_VALIDATION(dev);
}
