// llama models end to end: the real stories260K model (greedy ids, perplexity
// as llama.cpp measures it, llama.cpp's own Q8_0/Q4_0 files), synthetic models
// of other shapes against the CPU reference forward pass, and bad input.
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
#include "ops/attention.hpp"
#include "ref_model.hpp"
#include "test_util.hpp"

using namespace vkrt;

namespace {

std::string model_path(const std::string& name) { return test::models_dir() + "/" + name; }

int32_t argmax(std::span<const float> v) {
    return int32_t(std::max_element(v.begin(), v.end()) - v.begin());  // first maximum = lowest id
}

std::vector<int32_t> read_ids(const std::string& path) {
    std::ifstream f(path);
    REQUIRE_MESSAGE(f.good(), "cannot open " << path);
    std::vector<int32_t> ids;
    int32_t x;
    std::string line;
    while (std::getline(f, line)) {
        if (line.empty() || line[0] == '#') continue;  // comment header
        std::istringstream ls(line);
        while (ls >> x) ids.push_back(x);
    }
    return ids;
}

}  // namespace

TEST_CASE("stories260K: greedy generation from BOS reproduces all 256 reference ids") {
    Device& dev = test::gpu();
    model::Model model(dev, model_path("stories260K.gguf"));
    const auto& hp = model.hparams();
    CHECK(hp.n_layer == 5);
    CHECK(hp.n_embd == 64);
    CHECK(hp.n_head == 8);
    CHECK(hp.n_head_kv == 4);
    CHECK(hp.n_ff == 172);
    CHECK(hp.n_vocab == 512);
    auto want = read_ids(model_path("stories260K.greedy256.ids.txt"));
    REQUIRE(want.size() == 256);

    model::Session session(model, 512);
    int32_t t = model.tokenizer().bos();
    std::vector<int32_t> got;
    for (int i = 0; i < 256; ++i) {
        t = argmax(session.eval(std::span<const int32_t>(&t, 1)));
        got.push_back(t);
    }
    size_t same = 0;
    while (same < got.size() && got[same] == want[same]) ++same;
    CHECK_MESSAGE(same == 256, "first difference at token " << same);
    MESSAGE("text: " << model.tokenizer().decode(got).substr(0, 120));
    CHECK_NO_VALIDATION(dev);
}

TEST_CASE("stories260K: a prefill batch and token-by-token decode give the same logits") {
    Device& dev = test::gpu();
    model::Model model(dev, model_path("stories260K.gguf"));
    auto ids = read_ids(model_path("stories260K.greedy256.ids.txt"));
    ids.insert(ids.begin(), model.tokenizer().bos());
    ids.resize(100);
    // F32 cache: the bound below is float summation order only. With the default F16 cache a
    // K/V value that the GEMM and the GEMV compute a few ulp apart can round to neighbouring
    // halves (test_model_kv_cache.cpp checks that case).
    const KvCacheTypes f32{ops::KvType::f32, ops::KvType::f32};
    model::Session batch(model, 256, 64, f32), step(model, 256, 64, f32);
    // 100 tokens = a batch of 64 + a batch of 36 (exercises continuing a cache)
    std::vector<float> all = batch.eval(ids, true);
    for (size_t i = 0; i < ids.size(); ++i) {
        const auto& l = step.eval(std::span<const int32_t>(&ids[i], 1));
        float max_diff = 0;
        for (uint32_t v = 0; v < 512; ++v) max_diff = std::max(max_diff, std::fabs(l[v] - all[i * 512 + v]));
        REQUIRE_MESSAGE(max_diff < 2e-3f, "token " << i << ": max |diff| " << max_diff);
    }
    CHECK_NO_VALIDATION(dev);
}

// llama.cpp's llama-perplexity on the same text and chunks (tests/data/llama_cpp_perplexity.txt,
// its default F16 KV cache; docs/BENCHMARKS.md has the 100-chunk figures). llama.cpp's own
// Q8_0 and Q4_0 files of stories260K (head_dim 8: blocks of 32 span heads); the F32 file's
// figure with the same cache and chunks is test_model_kv_cache's first case.
TEST_CASE("stories260K: perplexity on TinyStories matches llama.cpp (llama.cpp's Q8_0 / Q4_0 files)") {
    Device& dev = test::gpu();
    const std::string text = test::read_file(model_path("tinystories_valid_head.txt"));
    const char* files[] = {"llama.cpp/stories260K-q8_0.gguf", "llama.cpp/stories260K-q4_0.gguf"};
    // VKRT_PPL_FILES (test::ppl_file_selected): only those files; unset: both.
    int checked = 0;
    for (const char* f : files) {
        const std::string file = f;
        if (!test::ppl_file_selected(file)) continue;
        ++checked;
        CAPTURE(file);
        const test::LlamaCppPpl want = test::llama_cpp_ppl(file, "default");
        model::Model model(dev, model_path(file));
        PerplexityResult r = perplexity(model, text, 512, want.chunks);
        MESSAGE(file << ": perplexity " << r.ppl << " (llama.cpp " << want.ppl << "), " << r.chunks << " chunks");
        CHECK(r.chunks == want.chunks);
        // Same tokens, same math, different summation order: agree to 0.1%.
        CHECK(std::fabs(r.ppl - want.ppl) / want.ppl < 1e-3);
    }
    CHECK(checked > 0);  // a VKRT_PPL_FILES that names none of the files checks nothing
    CHECK_NO_VALIDATION(dev);
}

TEST_CASE("synthetic llamas of several shapes and weight types match the CPU reference forward pass") {
    Device& dev = test::gpu();
    struct Shape {
        int n_layer, n_embd, n_head, n_head_kv, n_ff;
        gguf::TensorType type;
        bool tied;
    };
    using TT = gguf::TensorType;
    const Shape shapes[] = {
        {1, 128, 2, 1, 96, TT::F32, false},   // head dim 64, GQA 2:1
        {3, 256, 2, 2, 352, TT::Q4_0, false}, // head dim 128, FFN 352
        {2, 256, 4, 2, 256, TT::Q8_0, true},  // head dim 64, tied output
        {2, 128, 1, 1, 160, TT::F16, false},  // head dim 128, one head
    };
    for (const Shape& s : shapes) {
        gguf::SyntheticLlama cfg;
        cfg.n_layer = s.n_layer;
        cfg.n_embd = s.n_embd;
        cfg.n_head = s.n_head;
        cfg.n_head_kv = s.n_head_kv;
        cfg.n_ff = s.n_ff;
        cfg.n_vocab = 320;
        cfg.wtype = s.type;
        cfg.tie_output = s.tied;
        cfg.seed = uint32_t(s.n_layer * 7 + s.n_embd);
        const std::string path = test::tmp_dir() + "/synthetic_" + std::to_string(s.n_layer) + "_" +
                                 std::to_string(s.n_embd) + "_" + fmt::name(s.type) + ".gguf";
        gguf::write_synthetic_llama(cfg, path);
        CAPTURE(path);

        model::Model model(dev, path);
        test::RefModel ref(path);
        std::vector<int32_t> prompt = {1, 17, 200, 5, 99, 300, 42, 7, 8, 260, 31};
        model::Session session(model, 64, 8);  // 11 tokens = batches of 8 + 3
        auto gpu_prefill = session.eval(prompt);
        auto cpu_prefill = ref.forward(prompt, 0);
        // logits of the last prompt token
        std::span<const float> cpu_last(cpu_prefill.data() + (prompt.size() - 1) * 320, 320);
        float scale = 0, err = 0;
        for (int v = 0; v < 320; ++v) {
            scale = std::max(scale, std::fabs(cpu_last[size_t(v)]));
            err = std::max(err, std::fabs(gpu_prefill[size_t(v)] - cpu_last[size_t(v)]));
        }
        // The reference uses the same dequantized weights in float/double, the GPU
        // accumulates in fp32 in another order: errors stay far below the logit scale.
        constexpr float kLogitRelTol = 2e-3f;
        CHECK_MESSAGE(err <= kLogitRelTol * std::max(scale, 1.0f), "prefill max err " << err << " scale " << scale);
        // A few decode steps.
        int32_t t = argmax(cpu_last);
        for (int i = 0; i < 4; ++i) {
            auto g = session.eval(std::span<const int32_t>(&t, 1));
            auto c = ref.forward(std::span<const int32_t>(&t, 1), int32_t(prompt.size()) + i);
            float e = 0, sc = 0;
            for (int v = 0; v < 320; ++v) {
                sc = std::max(sc, std::fabs(c[size_t(v)]));
                e = std::max(e, std::fabs(g[size_t(v)] - c[size_t(v)]));
            }
            CHECK_MESSAGE(e <= kLogitRelTol * std::max(sc, 1.0f), "decode step " << i << " err " << e);
            t = argmax(c);
        }
        std::filesystem::remove(path);
    }
    CHECK_NO_VALIDATION(dev);
}

// The integer decode graph: each norm writes x quantized to q8_1 once (rmsnorm_q8_1) and
// every GEMV of that input reads it (matmul_q8), the fused [q; k; v] and [gate; up] matrices
// included. Forced on (lavapipe's integer dot products are not "accelerated", so the default
// pick is the float GEMV). Bound: q8_1 rounds each activation by at most d/2 = max|x_block|/254,
// a relative error of ~0.4% of a block's largest value per element, in every linear of every
// layer; the logits stay within 3% of their scale (the float path: 0.2%).
// The attention writes its rows as q8_1 for Wo and the [gate; up] GEMV its GLU rows for
// Wdown (no quantize_q8_1 pass); llama also runs on the GPU shapes (cpu_tuning off: the
// decode attention splits the 256-position cache, its last split merging in the same
// dispatch; the GEMVs' GPU rows per workgroup), with the same counts.
TEST_CASE("synthetic llamas: integer GEMVs on x quantized once per norm match the CPU reference") {
    DeviceOptions gpu_opts = DeviceOptions::from_env();
    gpu_opts.disable_cpu_tuning = true;
    if (gpu_opts.pipeline_cache.empty()) gpu_opts.pipeline_cache = "off";
    Device gpu_shapes(gpu_opts);
    for (Device* devp : {&test::gpu(), &gpu_shapes}) {
        Device& dev = *devp;
        CAPTURE(dev.caps().cpu_tuning);
        if (!dev.caps().int_dot) {
            MESSAGE("device has no integer dot products: the integer GEMV path cannot run");
            return;
        }
        using TT = gguf::TensorType;
        // Gemma 3: its post norms write the next norm's q8_1 rows (ops::rmsnorm_add_norm).
        struct Case {
            const char* arch;
            TT type;
        };
        for (const Case& k : {Case{"llama", TT::Q4_0}, Case{"llama", TT::Q8_0}, Case{"gemma3", TT::Q8_0}}) {
            if (&dev == &gpu_shapes && (k.type != TT::Q4_0)) continue;
            const TT type = k.type;
            CAPTURE(k.arch);
            gguf::SyntheticLlama cfg;
            cfg.arch = k.arch;
            cfg.n_layer = 2;
            cfg.n_embd = 256;
            cfg.n_head = 4;
            cfg.n_head_kv = 2;
            cfg.n_ff = 320;
            cfg.n_vocab = 320;
            cfg.wtype = type;
            cfg.seed = 91;
            const std::string path = test::tmp_dir() + "/synthetic_int_" + k.arch + "_" + fmt::name(type) + ".gguf";
            gguf::write_synthetic_llama(cfg, path);
            CAPTURE(path);
            model::Model model(dev, path);
            REQUIRE(model.plan().layers[0].fused.qkv);
            REQUIRE(model.plan().layers[0].fused.gate_up);
            test::RefModel ref(path);
            model::Session session(model, 256, 8);
            session.set_integer_gemv(true);
            const ops::AttentionShape att{uint32_t(cfg.n_head), uint32_t(cfg.n_head_kv), uint32_t(cfg.n_embd / cfg.n_head),
                                          256, ops::KvType::f16, ops::KvType::f16};
            if (!dev.caps().cpu_tuning) CHECK(ops::attention_splits(dev.caps(), att, 1) > 1);
            std::vector<int32_t> prompt = {1, 17, 200, 5};
            for (size_t i = 0; i < prompt.size(); ++i) {
                auto g = session.eval(std::span<const int32_t>(&prompt[i], 1));  // decode steps (M = 1)
                auto c = ref.forward(std::span<const int32_t>(&prompt[i], 1), int32_t(i));
                float e = 0, sc = 0;
                for (int v = 0; v < 320; ++v) {
                    sc = std::max(sc, std::fabs(c[size_t(v)]));
                    e = std::max(e, std::fabs(g[size_t(v)] - c[size_t(v)]));
                }
                CHECK_MESSAGE(e <= 3e-2f * std::max(sc, 1.0f), "step " << i << " err " << e << " scale " << sc);
            }
            const auto counts = session.count_pass(1);
            // Per layer (docs/BENCHMARKS.md): rmsnorm_q8_1, Wqkv, rope_qkv, attention (split
            // or not: the last split merges; its rows written as q8_1 for Wo, head_dim 64),
            // Wo (+x), rmsnorm_q8_1, Wgate|up (GLU, its rows also as q8_1 for Wdown, F % 32 ==
            // 0), Wdown (+x), each after a barrier; the embedding, the head's rmsnorm_q8_1 and
            // the head outside the layers. Gemma 3: each post norm's pass writes the next norm
            // (its rmsnorm_q8_1s), layer 0's norm and the embedding scale are outside.
            const uint32_t per_layer = 8;
            const uint32_t outside = std::string(k.arch) == "gemma3" ? 4 : 3;
            CHECK(counts.dispatches == cfg.n_layer * per_layer + outside);
            CHECK(counts.barriers == cfg.n_layer * per_layer + outside);
            std::filesystem::remove(path);
        }
        CHECK_NO_VALIDATION(dev);
    }
}

// Issue 7, item 5: a tensor above the binding limit is bound as row ranges over several
// bindings. A device whose limit is forced down to 4 KiB splits every matrix of a mixed
// K-quant file (token_embd Q4_K: 19 parts, output Q6_K: 32 parts); the logits of a prefill
// and of decode steps must equal those of the same model bound whole.
TEST_CASE("weights split over many bindings (forced 4 KiB limit) give the same logits as whole weights") {
    Device& dev = test::gpu();
    DeviceOptions o = DeviceOptions::from_env();
    if (o.pipeline_cache.empty()) o.pipeline_cache = "off";
    o.max_binding_bytes = 4096;
    Device small(o);
    REQUIRE(small.caps().max_binding_bytes == 4096);
    const std::string path = model_path("arch/padded256-q4_k_m.gguf");
    model::Model whole(dev, path), split(small, path);
    CHECK(whole.tok_embd.mat.view.parts.size() == 1);
    CHECK(split.tok_embd.mat.view.parts.size() == 19);  // 512 rows of 144 bytes (Q4_K), 28 rows a part
    // 512 rows of 210 bytes (Q6_K), 16 rows a part: in the grouped layout (ops/weights.hpp) a
    // part's short last group of n blocks takes 656 + 128 n bytes, so 17..19 rows exceed 4 KiB.
    CHECK(split.output.mat.view.parts.size() == 32);
    CHECK(split.layers[0].w_down.mat.view.parts.size() > 1);

    const std::vector<int32_t> prompt = whole.tokenizer().encode("Once upon a time, there was a little girl", true, false);
    model::Session a(whole, 64), b(split, 64);
    const std::vector<float> la = a.eval(prompt, true);
    CHECK(la == b.eval(prompt, true));
    int32_t next = argmax(std::span<const float>(la).last(whole.hparams().n_vocab));
    for (int step = 0; step < 4; ++step) {
        CAPTURE(step);
        const std::vector<float> da = a.eval(std::span<const int32_t>(&next, 1));
        CHECK(da == b.eval(std::span<const int32_t>(&next, 1)));
        next = argmax(da);
    }

    // A limit below one row: the error names the tensor, the row size and the limit.
    o.max_binding_bytes = 512;
    Device tiny(o);
    CHECK_THROWS_WITH_AS(model::Model(tiny, model_path("arch/padded256-f32.gguf")),
                         doctest::Contains("tensor 'token_embd.weight': one row (1024 bytes) is larger than the "
                                           "binding limit (512 bytes)"),
                         vkrt::Error);
    CHECK_NO_VALIDATION(small);
    CHECK_NO_VALIDATION(tiny);
    CHECK_NO_VALIDATION(dev);
}

TEST_CASE("bad input: context overflow, token ids, missing tensors and bad files give named errors") {
    Device& dev = test::gpu();
    model::Model model(dev, model_path("stories260K.gguf"));
    model::Session session(model, 16, 8);
    std::vector<int32_t> ids(16, 5);
    session.eval(ids);
    int32_t one = 5;
    CHECK_THROWS_WITH_AS(session.eval(std::span<const int32_t>(&one, 1)), doctest::Contains("context is full"),
                         vkrt::Error);
    session.reset();
    int32_t bad = 512;
    CHECK_THROWS_WITH_AS(session.eval(std::span<const int32_t>(&bad, 1)), doctest::Contains("outside the vocabulary"),
                         vkrt::Error);

    // A model file without one of its tensors.
    gguf::File full = gguf::File::open(model_path("stories260K.gguf"));
    gguf::Writer w;
    for (const auto& [k, v] : full.metadata())
        if (k != "general.alignment") w.copy_value(k, v);
    for (const auto& t : full.tensors())
        if (t.name != "blk.3.ffn_up.weight")
            w.add_tensor(t.name, t.type, t.dims, std::vector<uint8_t>(t.data, t.data + t.n_bytes));
    const std::string missing = test::tmp_dir() + "/missing_tensor.gguf";
    w.write(missing);
    CHECK_THROWS_WITH_AS(model::Model(dev, missing), doctest::Contains("blk.3.ffn_up.weight"), vkrt::Error);

    // A weight in a ggml type vkrt has no kernels for (Q8_1: 32-element blocks, so it fits the
    // 64-wide rows): the file opens and lists; binding the weight is refused, naming it.
    gguf::Writer wq;
    for (const auto& [k, v] : full.metadata())
        if (k != "general.alignment") wq.copy_value(k, v);
    for (const auto& t : full.tensors()) {
        if (t.name != "blk.3.ffn_up.weight") {
            wq.add_tensor(t.name, t.type, t.dims, std::vector<uint8_t>(t.data, t.data + t.n_bytes));
            continue;
        }
        const uint64_t bytes = fmt::row_bytes(Format::Q8_1, t.dims[0]) * (t.n_elements / t.dims[0]);
        wq.add_tensor(t.name, Format::Q8_1, t.dims, std::vector<uint8_t>(bytes, 0));
    }
    const std::string q8_1 = test::tmp_dir() + "/q8_1_weight.gguf";
    wq.write(q8_1);
    CHECK(gguf::File::open(q8_1).tensor("blk.3.ffn_up.weight").type == Format::Q8_1);
    CHECK_THROWS_WITH_AS(model::Model(dev, q8_1),
                         doctest::Contains("tensor 'blk.3.ffn_up.weight' has type Q8_1 (id 9), which vkrt does not run"),
                         vkrt::Error);
    std::filesystem::remove(q8_1);

    // A truncated file.
    const std::string trunc = test::tmp_dir() + "/truncated.gguf";
    {
        std::ifstream in(model_path("stories260K.gguf"), std::ios::binary);
        std::vector<char> bytes((std::istreambuf_iterator<char>(in)), {});
        std::ofstream out(trunc, std::ios::binary);
        out.write(bytes.data(), std::streamsize(bytes.size() / 2));
    }
    CHECK_THROWS_AS(model::Model(dev, trunc), vkrt::Error);
    CHECK_THROWS_WITH_AS(model::Model(dev, test::tmp_dir() + "/no_such_file.gguf"), doctest::Contains("no_such_file"),
                         vkrt::Error);
    std::filesystem::remove(missing);
    std::filesystem::remove(trunc);
    CHECK_NO_VALIDATION(dev);
}
