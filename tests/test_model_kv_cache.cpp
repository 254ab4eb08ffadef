// KV cache types in whole models: perplexity of stories260K with F16 (llama.cpp's
// default), F32 and Q8_0 caches against llama.cpp's figures, and a synthetic llama with
// each cache type against the CPU reference that rounds K and V the same way.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gguf/synthetic.hpp"
#include "gpu.hpp"
#include "model/model.hpp"
#include "model/perplexity.hpp"
#include "ref_model.hpp"
#include "test_util.hpp"

using namespace vkrt;

namespace {

// The cache type pairs the model tests run: every type, and K and V of different types.
constexpr KvCacheTypes kCacheTypes[] = {{ops::KvType::f32, ops::KvType::f32},
                                        {ops::KvType::f16, ops::KvType::f16},
                                        {ops::KvType::q8_0, ops::KvType::q8_0},
                                        {ops::KvType::q8_0, ops::KvType::f16}};

std::string model_path(const std::string& name) { return test::models_dir() + "/" + name; }

int32_t argmax(std::span<const float> v) {
    return int32_t(std::max_element(v.begin(), v.end()) - v.begin());  // first maximum = lowest id
}

std::string read_text(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    REQUIRE_MESSAGE(f.good(), "cannot open " << path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

}  // namespace

// llama.cpp's llama-perplexity -c 512 on stories260K over the same chunks
// (tests/data/llama_cpp_perplexity.txt): its default F16 cache and -ctk f32 -ctv f32 -fa off.
// llama.cpp refuses a q8_0 K cache for this model (head_dim 8 is not a multiple of its
// 32-element blocks); vkrt's blocks run along the cache row (n_head_kv * head_dim = 32), so
// those are checked against vkrt's own F32-cache figure.
TEST_CASE("stories260K: perplexity with F16 (default), F32 and Q8_0 KV caches matches llama.cpp's") {
    Device& dev = test::gpu();
    const std::string text = read_text(model_path("tinystories_valid_head.txt"));
    model::Model model(dev, model_path("stories260K.gguf"));
    using ops::KvType;
    const test::LlamaCppPpl want16 = test::llama_cpp_ppl("stories260K.gguf", "default");
    const test::LlamaCppPpl want32 = test::llama_cpp_ppl("stories260K.gguf", "f32");
    REQUIRE(want16.chunks == want32.chunks);
    const int chunks = want32.chunks;
    struct Case {
        KvCacheTypes kv;
        double llama_cpp;  // 0: no llama.cpp figure
    };
    const Case cases[] = {{{}, want16.ppl},
                          {{KvType::f32, KvType::f32}, want32.ppl},
                          {{KvType::q8_0, KvType::q8_0}, 0},
                          {{KvType::q8_0, KvType::f16}, 0}};
    double ppl_f32 = 0;
    for (const Case& c : cases) {
        const std::string types = std::string(ops::kv_type_name(c.kv.k)) + "/" + ops::kv_type_name(c.kv.v);
        CAPTURE(types);
        PerplexityResult r = perplexity(model, text, 512, chunks, 0, {}, c.kv);
        MESSAGE("KV " << types << ": perplexity " << r.ppl << " (llama.cpp " << c.llama_cpp << "), " << chunks
                      << " chunks");
        CHECK(r.chunks == chunks);
        if (c.llama_cpp > 0) CHECK(std::fabs(r.ppl - c.llama_cpp) / c.llama_cpp < 1e-3);
        if (c.kv.k == KvType::f32) ppl_f32 = r.ppl;
        // An 8-bit cache costs this model little (measured: +0.3% q8_0/q8_0, +0.4% q8_0/f16;
        // its q8_0 blocks span four heads of 8, so a block's scale follows the largest head):
        // within 1% of the F32 cache.
        if (c.kv.k == KvType::q8_0) CHECK(std::fabs(r.ppl - ppl_f32) / ppl_f32 < 1e-2);
    }
    CHECK_NO_VALIDATION(dev);
}

// The session's KV cache types against the reference rounding K and V the same way
// (ref::kv_store), with every capability path on and with all of them off.
TEST_CASE("synthetic llama with F32 / F16 / Q8_0 KV caches matches the reference with the same cache, every path") {
    gguf::SyntheticLlama cfg;
    cfg.n_layer = 2;
    cfg.n_embd = 128;
    cfg.n_head = 4;
    cfg.n_head_kv = 2;  // head dim 32, K/V rows of 64: two q8_0 blocks
    cfg.n_ff = 160;
    cfg.n_vocab = 320;
    cfg.wtype = gguf::TensorType::Q8_0;  // int-dot GEMV where the device has it
    cfg.seed = 77;
    const std::string path = test::tmp_dir() + "/synthetic_kv_types.gguf";
    gguf::write_synthetic_llama(cfg, path);
    const std::vector<int32_t> prompt = {1, 17, 200, 5, 99, 300, 42, 7, 8, 260, 31};
    for (Device* dev : {&test::gpu(), &test::gpu_with(true, true, true)}) {
        CAPTURE(dev->caps().int_dot);
        CAPTURE(dev->caps().subgroup);
        model::Model model(*dev, path);
        for (const KvCacheTypes& t : kCacheTypes) {
            const std::string name = std::string(ops::kv_type_name(t.k)) + "/" + ops::kv_type_name(t.v);
            CAPTURE(name);
            test::RefModel ref(path, 64, uint32_t(t.k), uint32_t(t.v));
            model::Session session(model, 64, 8, t);  // 11 tokens = batches of 8 + 3
            CHECK(session.kv_cache().types().k == t.k);
            CHECK(session.memory().kv == 2 * 64 * (ops::kv_row_bytes(t.k, 64) + ops::kv_row_bytes(t.v, 64)));
            std::vector<float> gpu = session.eval(prompt);
            std::vector<float> cpu = ref.forward(prompt, 0);
            cpu.erase(cpu.begin(), cpu.end() - 320);  // logits of the last prompt token
            int32_t tok = argmax(cpu);
            for (int step = 0; step <= 4; ++step) {
                float scale = 0, err = 0;
                for (size_t v = 0; v < 320; ++v) {
                    scale = std::max(scale, std::fabs(cpu[v]));
                    err = std::max(err, std::fabs(gpu[v] - cpu[v]));
                }
                // As for the F32 cache above: fp32 accumulation order only (a q8_0 value may
                // also round the other way at a tie, moving a logit by far less than this).
                constexpr float kLogitRelTol = 2e-3f;
                CHECK_MESSAGE(err <= kLogitRelTol * std::max(scale, 1.0f), "step " << step << " err " << err);
                if (step == 4) break;
                gpu = session.eval(std::span<const int32_t>(&tok, 1));
                cpu = ref.forward(std::span<const int32_t>(&tok, 1), int32_t(prompt.size()) + step);
                tok = argmax(cpu);
            }
        }
        CHECK_NO_VALIDATION(*dev);
    }
    std::filesystem::remove(path);
}

TEST_CASE("a q8_0 cache needs K/V rows of a multiple of 32 values: other models are refused, naming the flag") {
    Device& dev = test::gpu();
    gguf::SyntheticLlama odd;  // 2 heads of 24: rows of 48
    odd.n_layer = 1, odd.n_embd = 48, odd.n_head = 2, odd.n_head_kv = 2, odd.n_ff = 64, odd.n_vocab = 300;
    const std::string odd_path = test::tmp_dir() + "/synthetic_kv48.gguf";
    gguf::write_synthetic_llama(odd, odd_path);
    {
        model::Model m48(dev, odd_path);
        CHECK_THROWS_WITH_AS(model::Session(m48, 16, 8, KvCacheTypes{ops::KvType::f16, ops::KvType::q8_0}),
                             doctest::Contains("V cache (-ctv): a q8_0 cache needs rows"), vkrt::Error);
        model::Session f16(m48, 16, 8);  // the default F16 cache is fine
        CHECK(f16.memory().kv == 16 * 48 * 2 * 2);
    }
    std::filesystem::remove(odd_path);
    CHECK_NO_VALIDATION(dev);
}

// test_model.cpp holds batch and step to 2e-3 with an F32 cache. With F16 and Q8_0 a K/V
// value that the GEMM (batch) and the GEMV (step) compute a few ulp apart may round to
// neighbouring cache values: a half-ulp (2^-11 relative) or one q8_0 step of one element.
// The logits then move by a fraction of that: held to kLogitRelTol of their scale (as the
// GPU against the reference), and greedy picks the same token at every position.
TEST_CASE("stories260K: prefill batches and token-by-token decode agree with each cache type") {
    Device& dev = test::gpu();
    model::Model model(dev, model_path("stories260K.gguf"));
    std::vector<int32_t> ids = {1};
    {
        std::ifstream f(model_path("stories260K.greedy256.ids.txt"));
        REQUIRE(f.good());
        std::string line;
        int32_t x;
        while (std::getline(f, line) && ids.size() < 100) {
            if (line.empty() || line[0] == '#') continue;
            std::istringstream ls(line);
            while (ls >> x && ids.size() < 100) ids.push_back(x);
        }
    }
    REQUIRE(ids.size() == 100);
    constexpr float kLogitRelTol = 2e-3f;
    using ops::KvType;
    for (KvCacheTypes t : {KvCacheTypes{}, KvCacheTypes{KvType::q8_0, KvType::q8_0}}) {
        const std::string name = std::string(ops::kv_type_name(t.k)) + "/" + ops::kv_type_name(t.v);
        CAPTURE(name);
        model::Session batch(model, 256, 64, t), step(model, 256, 64, t);  // 100 tokens: batches of 64 + 36
        std::vector<float> all = batch.eval(ids, true);
        float worst = 0;
        for (size_t i = 0; i < ids.size(); ++i) {
            CAPTURE(i);
            const auto& l = step.eval(std::span<const int32_t>(&ids[i], 1));
            const std::span<const float> b(all.data() + i * 512, 512);
            float scale = 0, err = 0;
            for (uint32_t v = 0; v < 512; ++v) {
                scale = std::max(scale, std::fabs(b[v]));
                err = std::max(err, std::fabs(l[v] - b[v]));
            }
            REQUIRE(err <= kLogitRelTol * std::max(scale, 1.0f));
            REQUIRE(argmax(l) == argmax(b));
            worst = std::max(worst, err);
        }
        MESSAGE(name << ": max |batch - step| " << worst);
    }
    CHECK_NO_VALIDATION(dev);
}

// Sliding-window layers keep a ring of window + n_batch - 1 rows (model::Session::kv_layer_rows),
// full layers all n_ctx. A synthetic gemma3 (window 5, pattern 3: layers 0, 1 SWA, layer 2
// global) runs a prompt, a long decode and more prefill batches (several straddle the ring's
// wrap), ~8 times around its 12-row ring, against the reference (which keeps every position
// and masks the window), with every cache type, every capability path on and all off.
TEST_CASE("gemma3: sliding-window layers keep only their window; long decode and batches across the ring's wrap "
          "match the reference, every KV type and path") {
    gguf::SyntheticLlama cfg;
    cfg.arch = "gemma3";
    cfg.n_layer = 3, cfg.n_embd = 64, cfg.n_head = 4, cfg.n_head_kv = 2, cfg.head_dim = 32;  // K/V rows of 64
    cfg.n_ff = 96, cfg.n_vocab = 320, cfg.n_swa = 5, cfg.swa_pattern = 3, cfg.rope_base = 1000000.f;
    cfg.tie_output = true, cfg.wtype = gguf::TensorType::Q8_0, cfg.seed = 23;
    const std::string path = test::tmp_dir() + "/synthetic_gemma3_ring.gguf";
    gguf::write_synthetic_llama(cfg, path);
    constexpr uint32_t n_ctx = 128, n_batch = 8, ring = 5 + n_batch - 1;
    // Tokens fed per call: a 13-token prompt (batches of 8 + 5), decode steps, batches.
    std::vector<uint32_t> calls = {13};
    for (int r = 0; r < 4; ++r)
        for (uint32_t n : {1u, 1u, 1u, 1u, 1u, 1u, 1u, 1u, 1u, 1u, 1u, 8u, 1u, 1u, 3u, 1u})
            calls.push_back(n);
    for (Device* dev : {&test::gpu(), &test::gpu_with(true, true, true)}) {
        CAPTURE(dev->caps().int_dot);
        CAPTURE(dev->caps().subgroup);
        model::Model model(*dev, path);
        for (const KvCacheTypes& t : kCacheTypes) {
            const std::string name = std::string(ops::kv_type_name(t.k)) + "/" + ops::kv_type_name(t.v);
            CAPTURE(name);
            model::Session session(model, n_ctx, n_batch, t);
            uint64_t kv = 0;
            for (uint32_t l = 0; l < 3; ++l) {
                CHECK(session.kv_cache().rows(l) == (l == 2 ? n_ctx : ring));
                kv += uint64_t(session.kv_cache().rows(l)) * (ops::kv_row_bytes(t.k, 64) + ops::kv_row_bytes(t.v, 64));
            }
            CHECK(session.memory().kv == kv);
            test::RefModel ref(path, n_ctx, uint32_t(t.k), uint32_t(t.v));
            std::vector<int32_t> history = {1, 17, 200, 5, 99, 300, 42, 7, 8, 260, 31, 3, 4};
            int32_t next = 0;
            float worst = 0;
            for (uint32_t n : calls) {
                std::vector<int32_t> toks;
                if (session.pos() == 0) toks = history;
                for (uint32_t i = 0; toks.size() < n; ++i) toks.push_back(i == 0 ? next : (next * 7 + int32_t(i) * 31) % 320);
                const int32_t p0 = int32_t(session.pos());
                CAPTURE(p0);
                CAPTURE(n);
                const std::vector<float> gpu = session.eval(toks, n > 1);  // n = 1: the replayed decode
                const std::vector<float> cpu = ref.forward(toks, p0);
                REQUIRE(gpu.size() == cpu.size());
                for (size_t m = 0; m < n; ++m) {
                    const std::span<const float> g(gpu.data() + m * 320, 320), c(cpu.data() + m * 320, 320);
                    float scale = 0, err = 0;
                    for (size_t v = 0; v < 320; ++v) {
                        scale = std::max(scale, std::fabs(c[v]));
                        err = std::max(err, std::fabs(g[v] - c[v]));
                    }
                    CAPTURE(m);
                    // As above: fp32 accumulation order (and a q8_0 tie) only.
                    CHECK(err <= 2e-3f * std::max(scale, 1.0f));
                    worst = std::max(worst, err / std::max(scale, 1.0f));
                }
                next = argmax(std::span<const float>(cpu).subspan((n - 1) * 320, 320));
            }
            CHECK(session.pos() > 8 * ring);  // the ring went round about 8 times
            MESSAGE(name << ": " << session.pos() << " positions through a ring of " << ring
                         << " rows, max relative logit error " << worst);
        }
        CHECK_NO_VALIDATION(*dev);
    }
    std::filesystem::remove(path);
}

// The real gemma3 file (window 16 on layers 0, 1, 3, 4; arch/README.md) with prefill
// batches of 8: its SWA layers keep rings of 23 rows. A story's tokens run as a 40-token
// prompt, then 160 decode steps (about 8 times round the ring), against the reference.
// An F32 cache: the rounding of F16 / Q8_0 caches is the synthetic test's business above
// (with F16, a K value the GPU and the CPU compute an ulp apart can round to neighbouring
// halves: measured 1.3e-3 of the logits' scale here, against 8e-6 with F32).
TEST_CASE("gemma3-f32.gguf: sliding-window rings of 23 rows match the reference over 200 positions") {
    Device& dev = test::gpu();
    const std::string path = model_path("arch/gemma3-f32.gguf");
    model::Model model(dev, path);
    REQUIRE(model.hparams().n_swa == 16);
    std::vector<int32_t> ids = model.tokenizer().encode(read_text(model_path("tinystories_valid_head.txt")), true, false);
    REQUIRE(ids.size() >= 200);
    ids.resize(200);
    const size_t V = model.hparams().n_vocab;
    model::Session session(model, 256, 8, KvCacheTypes{ops::KvType::f32, ops::KvType::f32});
    for (uint32_t l = 0; l < model.hparams().n_layer; ++l)
        CHECK(session.kv_cache().rows(l) == (model.hparams().is_swa(l) ? 16u + 8u - 1u : 256u));
    test::RefModel ref(path, 256);
    const std::vector<float> gpu = session.eval(std::span<const int32_t>(ids).first(40), true);
    const std::vector<float> cpu = ref.forward(std::span<const int32_t>(ids).first(40), 0);
    float worst = 0;
    auto compare = [&](std::span<const float> g, std::span<const float> c) {
        float scale = 0, err = 0;
        for (size_t v = 0; v < V; ++v) {
            scale = std::max(scale, std::fabs(c[v]));
            err = std::max(err, std::fabs(g[v] - c[v]));
        }
        CHECK(err <= 2e-3f * std::max(scale, 1.0f));
        CHECK(argmax(g) == argmax(c));
        worst = std::max(worst, err / std::max(scale, 1.0f));
    };
    for (size_t m = 0; m < 40; ++m) {
        CAPTURE(m);
        compare(std::span<const float>(gpu).subspan(m * V, V), std::span<const float>(cpu).subspan(m * V, V));
    }
    for (size_t i = 40; i < ids.size(); ++i) {
        CAPTURE(i);
        const std::span<const int32_t> t(&ids[i], 1);
        compare(session.eval(t), ref.forward(t, int32_t(i)));
    }
    MESSAGE("max relative logit error over 200 positions: " << worst);
    CHECK_NO_VALIDATION(dev);
}
