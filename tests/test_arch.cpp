// Architecture descriptions (runtime/arch): the keys and tensor tables of the real
// files in ../shared/models/arch, and the GPU model against the CPU reference on
// synthetic models of every architecture (written from the same description), prefill
// and decode. CTest runs this file twice: as is and on the fallback paths
// (VKRT_DISABLE=dot,fp16,subgroup; tests/arch.cmake).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <set>

#include "arch/arch.hpp"
#include "gguf/gguf.hpp"
#include "gguf/synthetic.hpp"
#include "gpu.hpp"
#include "model/model.hpp"
#include "ops/attention.hpp"
#include "ref_model.hpp"
#include "test_util.hpp"

using namespace vkrt;

namespace {

std::string arch_path(const std::string& name) { return test::models_dir() + "/arch/" + name; }

int32_t argmax(std::span<const float> v) { return int32_t(std::max_element(v.begin(), v.end()) - v.begin()); }

// max |a - b| over max(|b|, 1): the GPU accumulates in fp32 in another order than the
// reference (float/double), with the same dequantized weights.
float rel_err(std::span<const float> a, std::span<const float> b) {
    REQUIRE(a.size() == b.size());
    float err = 0, scale = 1;
    for (size_t i = 0; i < a.size(); ++i) {
        err = std::max(err, std::fabs(a[i] - b[i]));
        scale = std::max(scale, std::fabs(b[i]));
    }
    return err / scale;
}

}  // namespace

TEST_CASE("arch: the real files' hyper-parameters and tensors are the description's") {
    struct Case {
        std::string file;
        const char* arch;
        uint32_t head_dim, q_dim;
        bool neox;
        size_t tensors;
    };
    const Case cases[] = {
        {"llama_ropefreqs-f32.gguf", "llama", 8, 64, false, 48}, {"qwen2-f32.gguf", "qwen2", 8, 64, true, 62},
        {"qwen3-f32.gguf", "qwen3", 16, 128, true, 58},          {"gemma3-f32.gguf", "gemma3", 8, 64, true, 67},
        {"phi3-f32.gguf", "phi3", 8, 64, true, 33},              {"padded256-f32.gguf", "llama", 8, 64, false, 48},
    };
    for (const Case& c : cases) {
        CAPTURE(c.file);
        gguf::File f = gguf::File::open(arch_path(c.file));
        const arch::HParams hp = arch::read_hparams(f);
        CHECK(hp.arch == c.arch);
        CHECK(hp.n_layer == 5);
        CHECK(hp.head_dim == c.head_dim);
        CHECK(hp.q_dim() == c.q_dim);
        CHECK(hp.rope_neox == c.neox);
        CHECK(hp.n_vocab == 512);
        // Every tensor of the file is in the table and every required one of the table in the file.
        std::set<std::string> in_file, in_table;
        for (const auto& t : f.tensors()) in_file.insert(t.name);
        for (const arch::TensorDesc& t : arch::tensor_table(hp)) {
            if (t.required || in_file.count(t.name)) in_table.insert(t.name);
            if (const gguf::TensorInfo* ti = f.find_tensor(t.name)) {
                std::vector<uint64_t> dims = ti->dims;
                CHECK(dims == t.dims());
            }
        }
        CHECK(in_file == in_table);
        CHECK(in_file.size() == c.tensors);
    }
    // What each architecture file says.
    const arch::HParams llama = arch::read_hparams(gguf::File::open(arch_path("llama_ropefreqs-f32.gguf")));
    CHECK(llama.rope_factors);
    const arch::HParams qwen2 = arch::read_hparams(gguf::File::open(arch_path("qwen2-f32.gguf")));
    CHECK(qwen2.qkv_bias);
    const arch::HParams qwen3 = arch::read_hparams(gguf::File::open(arch_path("qwen3-f32.gguf")));
    CHECK(qwen3.qk_norm);
    CHECK(qwen3.n_rot == 16);
    const arch::HParams gemma = arch::read_hparams(gguf::File::open(arch_path("gemma3-f32.gguf")));
    CHECK(gemma.embd_scale == 8.0f);
    CHECK(gemma.act == arch::Act::gelu_tanh);
    CHECK(gemma.post_norms);
    CHECK(gemma.n_swa == 16);
    CHECK(gemma.swa_layers == std::vector<bool>{true, true, false, true, true});  // pattern 3
    CHECK(gemma.layer_rope_base(0) == 10000.0f);
    CHECK(gemma.layer_rope_base(2) == 1000000.0f);
    CHECK(gemma.kq_scale() == doctest::Approx(1.0 / std::sqrt(8.0)));
    const arch::HParams phi = arch::read_hparams(gguf::File::open(arch_path("phi3-f32.gguf")));
    CHECK(phi.fused_qkv);
    CHECK(phi.fused_gate_up);
    const arch::HParams padded = arch::read_hparams(gguf::File::open(arch_path("padded256-f32.gguf")));
    CHECK(padded.n_embd == 256);
    CHECK(padded.q_dim() == 64);  // query width != n_embd

    // Unknown architectures are refused by name.
    gguf::Writer w;
    w.set_string("general.architecture", "mamba");
    const std::string bad = test::tmp_dir() + "/arch_mamba.gguf";
    w.write(bad);
    CHECK_THROWS_WITH_AS(arch::read_hparams(gguf::File::open(bad)), doctest::Contains("architecture 'mamba'"),
                         vkrt::Error);
    std::filesystem::remove(bad);
}

TEST_CASE("arch: phi3 and padded256 compute the stories260K function (greedy ids)") {
    Device& dev = test::gpu();
    std::vector<int32_t> want;
    {
        std::ifstream in(test::models_dir() + "/stories260K.greedy256.ids.txt");
        REQUIRE(in.good());
        std::string line;
        while (std::getline(in, line)) {
            if (line.empty() || line[0] == '#') continue;
            std::istringstream ls(line);
            int32_t x;
            while (ls >> x) want.push_back(x);
        }
    }
    REQUIRE(want.size() == 256);
    for (const char* file : {"phi3-f32.gguf", "padded256-f32.gguf"}) {
        CAPTURE(file);
        model::Model model(dev, arch_path(file));
        model::Session session(model, 512);
        int32_t t = model.tokenizer().bos();
        size_t same = 0;
        for (int i = 0; i < 256; ++i) {
            t = argmax(session.eval(std::span<const int32_t>(&t, 1)));
            if (same == size_t(i) && t == want[size_t(i)]) ++same;
        }
        CHECK_MESSAGE(same == 256, "first difference at token " << same);
    }
    CHECK_NO_VALIDATION(dev);
}

TEST_CASE("arch: synthetic models of every architecture match the CPU reference (prefill and decode)") {
    Device& dev = test::gpu();
    using TT = gguf::TensorType;
    struct Case {
        std::string name;
        gguf::SyntheticLlama cfg;
    };
    auto base = [](const char* arch, TT t) {
        gguf::SyntheticLlama c;
        c.arch = arch;
        c.n_layer = 3, c.n_embd = 64, c.n_head = 4, c.n_head_kv = 2, c.n_ff = 96, c.n_vocab = 320;
        c.wtype = t;
        c.seed = 11;
        return c;
    };
    std::vector<Case> cases;
    {
        auto c = base("llama", TT::F32);  // Llama 3.x: rope_freqs factors, tied output, optional biases
        c.rope_factors = true, c.tie_output = true, c.qkv_bias = true, c.rope_base = 500000.f;
        cases.push_back({"llama rope_freqs + biases", c});
    }
    cases.push_back({"qwen2 Q8_0", base("qwen2", TT::Q8_0)});
    {
        auto c = base("qwen3", TT::F32);  // head dim 32: query width 128 != n_embd 64
        c.head_dim = 32;
        cases.push_back({"qwen3 head_dim 32", c});
        c.wtype = TT::Q4_0;
        cases.push_back({"qwen3 Q4_0", c});
    }
    {
        auto c = base("gemma3", TT::F32);  // window 5, pattern 3: layers 0, 1 SWA, 2 global
        c.n_swa = 5, c.swa_pattern = 3, c.rope_base = 1000000.f, c.tie_output = true, c.head_dim = 32;
        cases.push_back({"gemma3 SWA", c});
        c.wtype = TT::F16;
        cases.push_back({"gemma3 F16", c});
    }
    cases.push_back({"phi3 fused", base("phi3", TT::F32)});
    {
        auto c = base("phi3", TT::F32);  // LongRoPE: a 64-token session is above the original 32: long factors
        c.rope_factors_ls = true, c.n_ctx_orig = 32, c.rope_attn_factor = 1.19f;
        cases.push_back({"phi3 long rope factors", c});
        c.n_ctx_orig = 4096;  // below: short factors
        cases.push_back({"phi3 short rope factors", c});
    }
    cases.push_back({"phi3 W8A8", base("phi3", TT::I8)});
    {
        auto c = base("qwen3", TT::I8);  // W8A8 with the query width != n_embd
        c.head_dim = 32;
        cases.push_back({"qwen3 W8A8", c});
    }
    for (const Case& c : cases) {
        CAPTURE(c.name);
        const std::string path = test::tmp_dir() + "/arch_" + std::string(c.cfg.arch) + "_" +
                                 std::to_string(int(c.cfg.wtype)) + ".gguf";
        gguf::write_synthetic_llama(c.cfg, path);
        model::Model model(dev, path);
        // W8A8 is compared with its float twin (same seed: the weights it quantized).
        const bool w8a8 = c.cfg.wtype == TT::I8;
        const std::string ref_path = w8a8 ? path + ".f32.gguf" : path;
        if (w8a8) {
            gguf::SyntheticLlama twin = c.cfg;
            twin.wtype = TT::F32;
            gguf::write_synthetic_llama(twin, ref_path);
        }
        test::RefModel ref(ref_path, 64);
        // 19 tokens: a prefill batch of 16 (the blocked attention kernel) + 3 (per-query
        // kernel), longer than the gemma3 window; then decode steps.
        const std::vector<int32_t> prompt = {1, 17, 200, 5, 99, 300, 42, 7, 8, 260, 31, 3, 4, 77, 78, 79, 120, 5, 6};
        const size_t V = model.hparams().n_vocab, M = prompt.size();
        model::Session session(model, 64, 16);
        const std::vector<float> gpu = session.eval(prompt, true);
        const std::vector<float> cpu = ref.forward(prompt, 0);
        // W8A8 quantizes weights and activations to int8: a looser bound.
        const float tol = w8a8 ? 5e-2f : 2e-3f;
        for (size_t m = 0; m < M; ++m) {
            const float e = rel_err(std::span<const float>(gpu).subspan(m * V, V),
                                    std::span<const float>(cpu).subspan(m * V, V));
            CHECK_MESSAGE(e <= tol, "prefill row " << m << ": relative error " << e);
        }
        int32_t t = argmax(std::span<const float>(cpu).subspan((M - 1) * V, V));
        for (int i = 0; i < 6; ++i) {
            const std::vector<float> g = session.eval(std::span<const int32_t>(&t, 1));
            const std::vector<float> r = ref.forward(std::span<const int32_t>(&t, 1), int32_t(M) + i);
            const float e = rel_err(g, r);
            CHECK_MESSAGE(e <= tol, "decode step " << i << ": relative error " << e);
            t = argmax(r);
        }
        std::filesystem::remove(path);
        if (w8a8) std::filesystem::remove(ref_path);
    }
    CHECK_NO_VALIDATION(dev);
}

// The fused decode graph (docs/BENCHMARKS.md): a layer of float GEMVs is rmsnorm, Wqkv,
// rope_qkv, attention, Wo (+x), rmsnorm, Wgate|up (GLU), Wdown (+x): 8 dispatches, each
// after a barrier; the embedding, output norm and head add 3. Gemma 3's post norms take a
// pass after Wo and Wdown that also writes the next norm (ops::rmsnorm_add_norm: the FFN's
// input, the next layer's or the head's), so its layers are 8 too; outside them the
// embedding, its scale, layer 0's input norm and the head. A q8_0 KV cache (head_dim a
// multiple of 32) is stored by rope_qkv as the F16 one; the GPU shapes' split-KV attention
// merges its splits in its own dispatch. Counted from the recorded work (nothing runs).
TEST_CASE("arch: decode graph of every architecture: dispatches and barriers per layer") {
    Device& dev = test::gpu();
    DeviceOptions o = DeviceOptions::from_env();
    o.disable_cpu_tuning = true;
    if (o.pipeline_cache.empty()) o.pipeline_cache = "off";
    Device gpu_shapes(o);
    struct Case {
        std::string arch;
        uint32_t per_layer, outside;  // outside the layers
    };
    for (const Case& c : {Case{"llama", 8, 3}, Case{"qwen2", 8, 3}, Case{"qwen3", 8, 3}, Case{"phi3", 8, 3},
                          Case{"gemma3", 8, 4}}) {
        CAPTURE(c.arch);
        gguf::SyntheticLlama cfg;
        cfg.arch = c.arch;
        cfg.n_layer = 3, cfg.n_embd = 64, cfg.n_head = 4, cfg.n_head_kv = 2, cfg.n_ff = 96, cfg.n_vocab = 320;
        cfg.head_dim = 32;
        cfg.wtype = gguf::TensorType::F32;
        if (c.arch == "gemma3") cfg.n_swa = 5, cfg.swa_pattern = 3;
        const std::string path = test::tmp_dir() + "/arch_counts_" + c.arch + ".gguf";
        gguf::write_synthetic_llama(cfg, path);
        model::Model model(dev, path);
        model::Session session(model, 64, 16);
        // F16 cache (rope_qkv), the float GEMVs of lavapipe (integer GEMVs: + 2 quantizations).
        const model::Session::PassCounts pc = session.count_pass(1);
        CHECK(pc.dispatches == c.per_layer * cfg.n_layer + c.outside);
        CHECK(pc.barriers == c.per_layer * cfg.n_layer + c.outside);
        model::Session q8(model, 64, 16, {ops::KvType::q8_0, ops::KvType::q8_0});
        const model::Session::PassCounts pq = q8.count_pass(1);
        CHECK(pq.dispatches == pc.dispatches);
        CHECK(pq.barriers == pc.barriers);
        // The GPU shapes (cpu_tuning off): the decode attention splits the 512-position cache
        // and its last split merges the splits in the same dispatch: the same counts.
        model::Model gm(gpu_shapes, path);
        model::Session gs(gm, 512, 16);
        const ops::AttentionShape att{uint32_t(cfg.n_head), uint32_t(cfg.n_head_kv), uint32_t(cfg.head_dim), 512,
                                      ops::KvType::f16, ops::KvType::f16};
        CHECK(ops::attention_splits(gpu_shapes.caps(), att, 1) > 1);
        const model::Session::PassCounts pg = gs.count_pass(1);
        CHECK(pg.dispatches == pc.dispatches);
        CHECK(pg.barriers == pc.barriers);
        std::filesystem::remove(path);
    }
    CHECK_NO_VALIDATION(dev);
    CHECK_NO_VALIDATION(gpu_shapes);
}

TEST_CASE("arch: token_embd / output above the binding limit run split into row ranges") {
    // A device whose binding limit is forced down (as a small maxStorageBufferRange would:
    // lavapipe's 128 MiB is below Llama 3.2 1B's and Gemma 3 1B's embedding tables) splits
    // the tables into parts (ops::upload_weight); tied and untied heads give the same logits.
    Device& dev = test::gpu();
    DeviceOptions o = DeviceOptions::from_env();
    if (o.pipeline_cache.empty()) o.pipeline_cache = "off";
    o.max_binding_bytes = 40000;  // 156 rows of 256 bytes a part: 3 parts
    Device small(o);
    for (bool tied : {false, true}) {
        CAPTURE(tied);
        gguf::SyntheticLlama c;
        c.arch = "qwen3";
        c.n_layer = 2, c.n_embd = 64, c.n_head = 4, c.n_head_kv = 2, c.head_dim = 32, c.n_ff = 96, c.n_vocab = 320;
        c.tie_output = tied;
        c.seed = 5;
        const std::string path = test::tmp_dir() + "/arch_split.gguf";
        gguf::write_synthetic_llama(c, path);
        const std::vector<int32_t> prompt = {1, 300, 2, 159, 160, 161, 319, 0, 155, 156, 157};
        model::Model whole(dev, path);
        model::Session sw(whole, 32, 16);
        const std::vector<float> want = sw.eval(prompt, true);
        model::Model split(small, path);
        CHECK(split.tok_embd.mat.view.parts.size() == 3);
        CHECK(split.output_weight().mat.view.parts.size() == 3);
        model::Session ss(split, 32, 16);
        CHECK(rel_err(ss.eval(prompt, true), want) <= 1e-5f);
        // Decode through the replayed command buffer too.
        const int32_t t = 158;
        const std::vector<float> a = sw.eval(std::span<const int32_t>(&t, 1));
        CHECK(rel_err(ss.eval(std::span<const int32_t>(&t, 1)), a) <= 1e-5f);
        std::filesystem::remove(path);
    }
    CHECK_NO_VALIDATION(dev);
    CHECK_NO_VALIDATION(small);
}
