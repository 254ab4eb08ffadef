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
#include "model/llama.hpp"
#include "model/perplexity.hpp"
#include "ref_model.hpp"
#include "test_util.hpp"

using namespace vkrt;

namespace {

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

// llama.cpp's llama-perplexity -c 512 --chunks 20 on stories260K (arch/README.md): 3.7600
// with its default F16 cache, 3.7602 with -ctk f32 -ctv f32. llama.cpp refuses a q8_0 K
// cache for this model (head_dim 8 is not a multiple of its 32-element blocks); vkrt's
// blocks run along the cache row (n_head_kv * head_dim = 32), so it has a figure of its own.
TEST_CASE("stories260K: perplexity with F16 (default), F32 and Q8_0 KV caches matches llama.cpp's, 20 chunks") {
    Device& dev = test::gpu();
    const std::string text = read_text(model_path("tinystories_valid_head.txt"));
    LlamaModel model(dev, model_path("stories260K.gguf"));
    using ops::KvType;
    struct Case {
        KvCacheTypes kv;
        double llama_cpp;  // 0: no llama.cpp figure
    };
    const Case cases[] = {{{}, 3.7600},
                          {{KvType::f32, KvType::f32}, 3.7602},
                          {{KvType::q8_0, KvType::q8_0}, 0},
                          {{KvType::q8_0, KvType::f16}, 0}};
    double ppl_f32 = 0;
    for (const Case& c : cases) {
        const std::string types = std::string(ops::kv_type_name(c.kv.k)) + "/" + ops::kv_type_name(c.kv.v);
        CAPTURE(types);
        PerplexityResult r = perplexity(model, text, 512, 20, 0, {}, c.kv);
        MESSAGE("KV " << types << ": perplexity " << r.ppl << " (llama.cpp " << c.llama_cpp << ")");
        CHECK(r.chunks == 20);
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
    using ops::KvType;
    const KvCacheTypes types[] = {{KvType::f32, KvType::f32},
                                  {KvType::f16, KvType::f16},
                                  {KvType::q8_0, KvType::q8_0},
                                  {KvType::q8_0, KvType::f16}};
    const std::vector<int32_t> prompt = {1, 17, 200, 5, 99, 300, 42, 7, 8, 260, 31};
    for (Device* dev : {&test::gpu(), &test::gpu_with(true, true, true)}) {
        CAPTURE(dev->caps().int_dot);
        CAPTURE(dev->caps().subgroup);
        LlamaModel model(*dev, path);
        for (const KvCacheTypes& t : types) {
            const std::string name = std::string(ops::kv_type_name(t.k)) + "/" + ops::kv_type_name(t.v);
            CAPTURE(name);
            test::RefModel ref(path, 64, uint32_t(t.k), uint32_t(t.v));
            LlamaSession session(model, 64, 8, t);  // 11 tokens = batches of 8 + 3
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
        LlamaModel m48(dev, odd_path);
        CHECK_THROWS_WITH_AS(LlamaSession(m48, 16, 8, KvCacheTypes{ops::KvType::f16, ops::KvType::q8_0}),
                             doctest::Contains("V cache (-ctv): a q8_0 cache needs rows"), vkrt::Error);
        LlamaSession f16(m48, 16, 8);  // the default F16 cache is fine
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
    LlamaModel model(dev, model_path("stories260K.gguf"));
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
        LlamaSession batch(model, 256, 64, t), step(model, 256, 64, t);  // 100 tokens: batches of 64 + 36
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
