// vkrt-bench: devices, kernels, models, perplexity.
//
//   vkrt-bench --devices                         every Vulkan device and its capability report
//   vkrt-bench --kernels [--filter NAME] [--reps N]
//                                                per kernel and shape: time, GB/s, GOPS
//   vkrt-bench -m MODEL.gguf [-p 512] [-n 128] [-r 3] [-c N]
//   vkrt-bench --synthetic PRESET [--type q4_0|q8_0|f16|f32|w8a8] [-p 512] [-n 128] [-c N]
//                                                PRESET: tiny, 125M, 1B, 7B (llama shapes), llama3.2-1b,
//                                                qwen2.5-0.5b, qwen3-0.6b, gemma3-1b, phi3-mini
//                                                prefill (ppN) and decode (tgN) tokens/s, like llama-bench,
//                                                after the device memory of the model and the session
//                                                (-c: the session's context, default p + n)
//   vkrt-bench --perplexity TEXT.txt [-m MODEL] [-c 512] [--chunks 100]
//                                                perplexity as llama-perplexity computes it
//   vkrt-bench --grammar [--vocab 151936] [-r 3]  constrained sampling (JSON Schema) mask cost per token
//   -ctk / -ctv f16|q8_0|f32                     KV cache types (f16 by default, as llama.cpp)
//   vkrt-bench --shader-stats [--target NAME] [--tsv FILE] [--gate] [--compile-timeout 30] [--verbose]
//              [--all-paths] [--units REGEX] [--allow-vulkan-1.0]
//                                                every pipeline the runtime chooses on the device,
//                                                compiled, with the driver's registers, spills,
//                                                scratch, shared memory, instructions, occupancy
//                                                (--gate: exit 1 on a compile failure, hang, spill
//                                                or scratch; docs/GPU.md; --units: only the units
//                                                whose name matches; --allow-vulkan-1.0: compile on a
//                                                device the runtime refuses for its Vulkan version,
//                                                for the compiler's figures only)
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "bench.hpp"
#include "cli.hpp"
#include "core/error.hpp"
#include "gguf/synthetic.hpp"
#include "model/model.hpp"
#include "model/perplexity.hpp"

using namespace vkrt;

namespace {

const char* kUsage =
    "usage: vkrt-bench --devices\n"
    "       vkrt-bench --kernels [--filter NAME] [--reps N]\n"
    "       vkrt-bench [-m MODEL.gguf | --synthetic PRESET [--type q4_0|q8_0|f16|f32|w8a8]] [-p 512] [-n 128] [-r 3] [-c CTX]\n"
    "       (PRESET: tiny, 125M, 1B, 7B, llama3.2-1b, qwen2.5-0.5b, qwen3-0.6b, gemma3-1b, phi3-mini)\n"
    "       vkrt-bench --perplexity TEXT [-m MODEL.gguf] [-c 512] [--chunks 100]\n"
    "       vkrt-bench --grammar [--vocab 151936] [-r 3]\n"
    "       with -ctk / -ctv f16|q8_0|f32: KV cache types (default f16)\n"
    "       vkrt-bench --shader-stats [--target NAME] [--tsv FILE] [--gate] [--compile-timeout S] [--verbose] [--all-paths]\n"
    "                    [--units REGEX] [--allow-vulkan-1.0]\n"
    "environment: VKRT_DEVICE=index|name, VKRT_DISABLE=dot,fp16,subgroup\n";

int devices() {
    // One instance for all devices (Device::describe_all): panvk crashed on the second one.
    DeviceOptions o = DeviceOptions::from_env();
    o.pipeline_cache = "off";
    const auto all = Device::describe_all(o);
    VKRT_CHECK(!all.empty(), Status::device_error,
               "no Vulkan device found (on Debian, mesa-vulkan-drivers provides the CPU device lavapipe)");
    for (const auto& d : all) std::printf("device %u: %s\n", d.info.index, d.info.name.c_str());
    bool any = false;
    for (const auto& d : all) {
        std::printf("\n---- device %u\n%s", d.info.index, d.report.c_str());
        any = any || d.usable;
    }
    return any ? 0 : 1;
}

gguf::TensorType parse_type(const std::string& s) {
    if (s == "q4_0" || s == "Q4_0") return gguf::TensorType::Q4_0;
    if (s == "q8_0" || s == "Q8_0") return gguf::TensorType::Q8_0;
    if (s == "f16" || s == "F16") return gguf::TensorType::F16;
    if (s == "f32" || s == "F32") return gguf::TensorType::F32;
    if (s == "w8a8" || s == "W8A8") return gguf::TensorType::I8;  // per-channel int8, per-token int8 activations
    fail(Status::invalid_argument, "--type: unknown type '", s, "' (q4_0, q8_0, f16, f32, w8a8)");
}

struct MeanSd {
    double mean = 0, sd = 0;
};
MeanSd stats(const std::vector<double>& v) {
    MeanSd m;
    for (double x : v) m.mean += x;
    m.mean /= double(v.size());
    for (double x : v) m.sd += (x - m.mean) * (x - m.mean);
    m.sd = v.size() > 1 ? std::sqrt(m.sd / double(v.size() - 1)) : 0;
    return m;
}

// llama.cpp's KV cache bytes for the same model, context and types, as its tools
// (llama-cli, llama-server, llama-bench, llama-perplexity: swa_full off, one sequence,
// n_ubatch 512) allocate them (src/llama-context.cpp, src/llama-kv-cache-iswa.cpp):
// n_ctx is padded to a multiple of 256 cells; a full-attention layer has n_ctx cells, a
// sliding-window layer GGML_PAD(min(n_ctx, n_swa + n_ubatch), 256) with n_ubatch =
// min(512, n_ctx); a cell is n_head_kv * head_dim elements of K and of V, f32 4, f16 2,
// q8_0 34/32 bytes an element.
double llama_cpp_kv_bytes(const HParams& hp, uint32_t n_ctx, const KvCacheTypes& t) {
    auto per_element = [](ops::KvType k) {
        return k == ops::KvType::f32 ? 4.0 : k == ops::KvType::f16 ? 2.0 : 34.0 / 32.0;
    };
    auto pad256 = [](uint64_t n) { return (n + 255) / 256 * 256; };
    const uint64_t ctx = pad256(n_ctx), n_ubatch = std::min<uint64_t>(512, ctx);
    double cells = 0;
    for (uint32_t l = 0; l < hp.n_layer; ++l)
        cells += double(hp.is_swa(l) ? pad256(std::min<uint64_t>(ctx, uint64_t(hp.n_swa) + n_ubatch)) : ctx);
    return cells * hp.n_head_kv * hp.head_dim * (per_element(t.k) + per_element(t.v));
}

// "memory: weights ... | KV cache ... | ..." and the same context's KV size in llama.cpp.
void print_memory(const model::Model& model, const model::Session& session) {
    std::printf("memory: %s | total %s\n", cli::memory_report(model, session).c_str(),
                cli::format_bytes(double(model.weight_bytes() + session.memory().total())).c_str());
    std::printf("llama.cpp KV cache at n_ctx %u, same types: %s%s\n", session.n_ctx(),
                cli::format_bytes(llama_cpp_kv_bytes(model.hparams(), session.n_ctx(), session.kv_cache().types()))
                    .c_str(),
                model.hparams().n_swa ? " (sliding-window layers: n_swa + n_ubatch 512 cells, padded to 256)" : "");
    std::fflush(stdout);
}

// The recorded work of a decode step and of a prompt batch (model::Session::count_pass):
// dispatches and barriers per layer, bytes read by class against what the token must read:
// every weight once (the embedding: one row unless the head reads it too) and the KV cache
// of a full context (the recorder counts the whole bound cache; a step at position p reads
// min(p + 1, window) rows of each layer).
void print_counts(const model::Model& model, model::Session& session, uint32_t n_prompt) {
    const auto& hp = model.hparams();
    const uint64_t embd = uint64_t(fmt::row_bytes(model.tok_embd.type, hp.n_embd)) * hp.n_vocab;
    const bool tied = &model.output_weight() == &model.tok_embd;
    const uint64_t must_w = model.weight_bytes() - (tied ? 0 : embd - embd / hp.n_vocab);
    const uint64_t must = must_w + session.kv_cache().bytes();
    auto line = [&](const char* what, uint32_t M, const model::Session::PassCounts& c) {
        const uint64_t read = c.weights + c.kv + c.activations;
        std::printf("counts %s (M=%u): %u dispatches, %u barriers (%.1f, %.1f per layer); read %s weights + %s KV + %s "
                    "activations = %s, %.3fx the weights + KV it must touch (%s)\n",
                    what, M, c.dispatches, c.barriers, double(c.dispatches) / hp.n_layer,
                    double(c.barriers) / hp.n_layer, cli::format_bytes(double(c.weights)).c_str(),
                    cli::format_bytes(double(c.kv)).c_str(), cli::format_bytes(double(c.activations)).c_str(),
                    cli::format_bytes(double(read)).c_str(), double(read) / double(must),
                    cli::format_bytes(double(must)).c_str());
    };
    line("decode token", 1, session.count_pass(1));
    if (session.model().device().caps().int_dot) {
        // The graph of GPUs with accelerated int8 dot products (x quantized once per norm).
        session.set_integer_gemv(true);
        line("decode token, integer GEMVs", 1, session.count_pass(1));
        session.set_integer_gemv(false);
    }
    if (n_prompt > 1) line("prefill batch", n_prompt, session.count_pass(n_prompt));
    std::fflush(stdout);
}

int model_bench(const std::string& path, const std::string& label, int n_prompt, int n_gen, int reps, int n_ctx_arg,
                const KvCacheTypes& kv) {
    Device dev;
    double t0 = cli::now_seconds();
    model::Model model(dev, path, [](float f) {
        std::fprintf(stderr, "\rloading %3d%%", int(f * 100 + 0.5f));
    });
    std::fprintf(stderr, "\rloaded in %.2f s: %s\n", cli::now_seconds() - t0, model.describe().c_str());
    const auto& hp = model.hparams();
    const uint32_t n_ctx = n_ctx_arg > 0 ? uint32_t(n_ctx_arg) : uint32_t(std::max(n_prompt + n_gen, 1));
    VKRT_CHECK(uint32_t(std::max(n_prompt, n_gen)) <= n_ctx, Status::invalid_argument, "-c ", n_ctx,
               " is smaller than -p / -n");
    model::Session session(model, n_ctx, uint32_t(std::max(n_prompt, 1)), kv);
    print_memory(model, session);
    print_counts(model, session, uint32_t(std::max(n_prompt, 1)));
    std::mt19937 rng(42);
    std::uniform_int_distribution<int32_t> tok(0, int32_t(hp.n_vocab) - 1);
    std::printf("| model | size | device | test | t/s |\n| --- | --- | --- | --- | --- |\n");
    const std::string size = cli::format_bytes(double(model.weight_bytes()));
    auto row = [&](const std::string& test, const std::vector<double>& tps) {
        MeanSd m = stats(tps);
        std::printf("| %s | %s | %s | %s | %.2f ± %.2f |\n", label.c_str(), size.c_str(), dev.caps().name.c_str(),
                    test.c_str(), m.mean, m.sd);
        std::fflush(stdout);
    };
    if (n_prompt > 0) {
        std::vector<int32_t> ids(static_cast<size_t>(n_prompt));
        for (auto& t : ids) t = tok(rng);
        session.reset();
        session.eval(ids);  // warm-up: pipelines, recording
        std::vector<double> tps;
        for (int r = 0; r < reps; ++r) {
            session.reset();
            double t = cli::now_seconds();
            session.eval(ids);
            tps.push_back(n_prompt / (cli::now_seconds() - t));
        }
        row("pp" + std::to_string(n_prompt), tps);
    }
    if (n_gen > 0) {
        std::vector<double> tps;
        for (int r = 0; r < reps + 1; ++r) {
            session.reset();
            int32_t t = tok(rng);
            double t1 = cli::now_seconds();
            for (int i = 0; i < n_gen; ++i) session.eval(std::span<const int32_t>(&t, 1));
            if (r > 0) tps.push_back(n_gen / (cli::now_seconds() - t1));  // first run warms up
        }
        row("tg" + std::to_string(n_gen), tps);
    }
    return 0;
}

int perplexity_mode(const std::string& text_path, const std::string& model_path, int n_ctx, int max_chunks,
                    const KvCacheTypes& kv) {
    std::ifstream f(text_path, std::ios::binary);
    VKRT_CHECK(f.good(), Status::io_error, "cannot open ", text_path);
    std::stringstream ss;
    ss << f.rdbuf();
    Device dev;
    model::Model model(dev, model_path);
    std::fprintf(stderr, "%s\n", model.describe().c_str());
    double t0 = cli::now_seconds();
    std::fprintf(stderr, "KV cache: K %s, V %s\n", ops::kv_type_name(kv.k), ops::kv_type_name(kv.v));
    PerplexityResult r = perplexity(
        model, ss.str(), n_ctx, max_chunks, 0,
        [](int c, int n, double ppl) { std::fprintf(stderr, "\r[%d/%d] ppl %.4f", c, n, ppl); }, kv);
    std::fprintf(stderr, "\n");
    std::printf("perplexity: %.4f over %d chunks of %d tokens (%llu scored), %.1f s on %s\n", r.ppl, r.chunks, n_ctx,
                (unsigned long long)r.scored, cli::now_seconds() - t0, dev.caps().name.c_str());
    return 0;
}

int run(int argc, char** argv) {
    cli::Args args(argc, argv);
    if (args.flag("-h") || args.flag("--help")) {
        std::fputs(kUsage, stdout);
        return 0;
    }
    if (args.flag("--devices")) {
        args.finish();
        return devices();
    }
    if (args.flag("--kernels")) {
        std::string filter = args.str("--filter", "", "");
        int reps = int(args.integer("--reps", "-r", 5, 1, INT32_MAX));
        args.finish();
        Device dev;
        return bench::run_kernels(dev, filter, reps);
    }
    if (args.flag("--grammar")) {
        const int32_t n_vocab = int32_t(args.integer("--vocab", "", 151936, 512, INT32_MAX));
        const int reps = int(args.integer("-r", "--reps", 3, 1, 1000));
        args.finish();
        return bench::run_grammar(n_vocab, reps);
    }
    if (args.flag("--shader-stats")) {
        bench::ShaderStatsOptions o;
        o.target = args.str("--target", "", "");
        o.tsv = args.str("--tsv", "", "");
        o.gate = args.flag("--gate");
        o.verbose = args.flag("--verbose");
        o.all_paths = args.flag("--all-paths");
        o.compile_timeout_s = double(args.integer("--compile-timeout", "", 30, 1, 3600));
        o.units = args.str("--units", "", "");
        o.allow_old_api = args.flag("--allow-vulkan-1.0");
        args.finish();
        return bench::run_shader_stats(o);
    }
    std::string ppl = args.str("--perplexity", "", "");
    std::string model = args.str("-m", "--model", "");
    if (!ppl.empty()) {
        int n_ctx = int(args.integer("-c", "--ctx-size", 512, 2, INT32_MAX));
        int chunks = int(args.integer("--chunks", "", 100, 1, INT32_MAX));
        const KvCacheTypes kv = cli::kv_cache_types(args);
        args.finish();
        return perplexity_mode(ppl, model.empty() ? cli::default_model_path() : model, n_ctx, chunks, kv);
    }
    std::string synth = args.str("--synthetic", "", "");
    std::string type = args.str("--type", "", "q4_0");
    int n_prompt = int(args.integer("-p", "--n-prompt", 512, 0, INT32_MAX - 1));
    int n_gen = int(args.integer("-n", "--n-gen", 128, 0, INT32_MAX - 1));
    int reps = int(args.integer("-r", "--repetitions", 3, 1, INT32_MAX));
    int n_ctx = int(args.integer("-c", "--ctx-size", 0, 0, INT32_MAX));
    const KvCacheTypes kv = cli::kv_cache_types(args);
    std::string out_dir = args.str("--synthetic-dir", "", std::filesystem::temp_directory_path().string());
    args.finish();
    VKRT_CHECK(reps > 0 && n_prompt >= 0 && n_gen >= 0 && n_ctx >= 0, Status::invalid_argument, "bad -p/-n/-r/-c");
    if (!synth.empty()) {
        gguf::TensorType t = parse_type(type);
        const gguf::SyntheticLlama cfg = gguf::preset(synth, t);
        // "v2": files of the architecture-description writer (head_dim and arch keys).
        std::string path = out_dir + "/vkrt-synthetic-v2-" + synth + "-" + type + ".gguf";
        if (!std::filesystem::exists(path)) {
            std::fprintf(stderr, "writing %s ...\n", path.c_str());
            gguf::write_synthetic_llama(cfg, path);
        }
        const std::string tname = t == gguf::TensorType::I8 ? "W8A8" : fmt::name(t);
        return model_bench(path, cfg.arch + " " + synth + " " + tname + " (synthetic)", n_prompt, n_gen, reps, n_ctx, kv);
    }
    if (model.empty()) model = cli::default_model_path();
    return model_bench(model, std::filesystem::path(model).filename().string(), n_prompt, n_gen, reps, n_ctx, kv);
}

}  // namespace

int main(int argc, char** argv) { return vkrt::cli::guarded_main("vkrt-bench", run, argc, argv); }
