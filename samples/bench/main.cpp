// vkrt-bench: devices, kernels, models, perplexity.
//
//   vkrt-bench --devices                         every Vulkan device and its capability report
//   vkrt-bench --kernels [--filter NAME] [--reps N]
//                                                per kernel and shape: time, GB/s, GOPS
//   vkrt-bench -m MODEL.gguf [-p 512] [-n 128] [-r 3]
//   vkrt-bench --synthetic PRESET [--type q4_0|q8_0|f16|f32|w8a8] [-p 512] [-n 128]
//                                                PRESET: tiny, 125M, 1B, 7B (llama shapes), llama3.2-1b,
//                                                qwen2.5-0.5b, qwen3-0.6b, gemma3-1b, phi3-mini
//                                                prefill (ppN) and decode (tgN) tokens/s, like llama-bench
//   vkrt-bench --perplexity TEXT.txt [-m MODEL] [-c 512] [--chunks 100]
//                                                perplexity as llama-perplexity computes it
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
#include "model/llama.hpp"
#include "model/perplexity.hpp"

using namespace vkrt;

namespace {

const char* kUsage =
    "usage: vkrt-bench --devices\n"
    "       vkrt-bench --kernels [--filter NAME] [--reps N]\n"
    "       vkrt-bench [-m MODEL.gguf | --synthetic PRESET [--type q4_0|q8_0|f16|f32|w8a8]] [-p 512] [-n 128] [-r 3]\n"
    "       (PRESET: tiny, 125M, 1B, 7B, llama3.2-1b, qwen2.5-0.5b, qwen3-0.6b, gemma3-1b, phi3-mini)\n"
    "       vkrt-bench --perplexity TEXT [-m MODEL.gguf] [-c 512] [--chunks 100]\n"
    "environment: VKRT_DEVICE=index|name, VKRT_DISABLE=dot,fp16,subgroup\n";

int devices() {
    auto list = Device::list();
    for (const auto& d : list) std::printf("device %u: %s\n", d.index, d.name.c_str());
    for (const auto& d : list) {
        DeviceOptions o = DeviceOptions::from_env();
        o.select = std::to_string(d.index);
        o.pipeline_cache = "off";
        Device dev(o);
        std::printf("\n---- device %u\n%s", d.index, dev.caps().report().c_str());
    }
    return 0;
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

int model_bench(const std::string& path, const std::string& label, int n_prompt, int n_gen, int reps) {
    Device dev;
    double t0 = cli::now_seconds();
    LlamaModel model(dev, path, [](float f) {
        std::fprintf(stderr, "\rloading %3d%%", int(f * 100 + 0.5f));
    });
    std::fprintf(stderr, "\rloaded in %.2f s: %s\n", cli::now_seconds() - t0, model.describe().c_str());
    const auto& hp = model.hparams();
    const uint32_t n_ctx = uint32_t(std::max(n_prompt, n_gen) + 1);
    LlamaSession session(model, n_ctx, uint32_t(std::max(n_prompt, 1)));
    std::mt19937 rng(42);
    std::uniform_int_distribution<int32_t> tok(0, int32_t(hp.n_vocab) - 1);
    std::printf("| model | size | device | test | t/s |\n| --- | --- | --- | --- | --- |\n");
    const double mib = double(model.weight_bytes()) / (1024.0 * 1024.0);
    char size[32];
    if (mib >= 1024) std::snprintf(size, sizeof size, "%.2f GiB", mib / 1024);
    else std::snprintf(size, sizeof size, "%.2f MiB", mib);
    auto row = [&](const std::string& test, const std::vector<double>& tps) {
        MeanSd m = stats(tps);
        std::printf("| %s | %s | %s | %s | %.2f ± %.2f |\n", label.c_str(), size, dev.caps().name.c_str(),
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

int perplexity_mode(const std::string& text_path, const std::string& model_path, int n_ctx, int max_chunks) {
    std::ifstream f(text_path, std::ios::binary);
    VKRT_CHECK(f.good(), Status::io_error, "cannot open ", text_path);
    std::stringstream ss;
    ss << f.rdbuf();
    Device dev;
    LlamaModel model(dev, model_path);
    std::fprintf(stderr, "%s\n", model.describe().c_str());
    double t0 = cli::now_seconds();
    PerplexityResult r = perplexity(model, ss.str(), n_ctx, max_chunks, 0, [](int c, int n, double ppl) {
        std::fprintf(stderr, "\r[%d/%d] ppl %.4f", c, n, ppl);
    });
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
        int reps = int(args.integer("--reps", "-r", 5));
        args.finish();
        Device dev;
        return bench::run_kernels(dev, filter, reps);
    }
    std::string ppl = args.str("--perplexity", "", "");
    std::string model = args.str("-m", "--model", "");
    if (!ppl.empty()) {
        int n_ctx = int(args.integer("-c", "--ctx-size", 512));
        int chunks = int(args.integer("--chunks", "", 100));
        args.finish();
        return perplexity_mode(ppl, model.empty() ? cli::default_model_path() : model, n_ctx, chunks);
    }
    std::string synth = args.str("--synthetic", "", "");
    std::string type = args.str("--type", "", "q4_0");
    int n_prompt = int(args.integer("-p", "--n-prompt", 512));
    int n_gen = int(args.integer("-n", "--n-gen", 128));
    int reps = int(args.integer("-r", "--repetitions", 3));
    std::string out_dir = args.str("--synthetic-dir", "", std::filesystem::temp_directory_path().string());
    args.finish();
    VKRT_CHECK(reps > 0 && n_prompt >= 0 && n_gen >= 0, Status::invalid_argument, "bad -p/-n/-r");
    if (!synth.empty()) {
        gguf::TensorType t = parse_type(type);
        const gguf::SyntheticLlama cfg = gguf::preset(synth, t);
        // "v2": files of the architecture-description writer (head_dim and arch keys).
        std::string path = out_dir + "/vkrt-synthetic-v2-" + synth + "-" + type + ".gguf";
        if (!std::filesystem::exists(path)) {
            std::fprintf(stderr, "writing %s ...\n", path.c_str());
            gguf::write_synthetic_llama(cfg, path);
        }
        const std::string tname = t == gguf::TensorType::I8 ? "W8A8" : gguf::type_name(t);
        return model_bench(path, cfg.arch + " " + synth + " " + tname + " (synthetic)", n_prompt, n_gen, reps);
    }
    if (model.empty()) model = cli::default_model_path();
    return model_bench(model, std::filesystem::path(model).filename().string(), n_prompt, n_gen, reps);
}

}  // namespace

int main(int argc, char** argv) { return vkrt::cli::guarded_main("vkrt-bench", run, argc, argv); }
