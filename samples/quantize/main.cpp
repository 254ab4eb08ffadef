// vkrt-quantize: F32/F16 GGUF -> any llama-quantize preset (Q4_0 .. Q6_K, Q3_K_S/M/L,
// Q4_K_S/M, Q5_K_S/M, IQ4_NL, IQ4_XS, BF16, F16) with llama.cpp's per-tensor mix and
// optionally importance-weighted scales, W8A8 (SmoothQuant, dynamic or static activations)
// or a mixed file (a format per linear tensor) under a bits budget.
// Runs on the CPU (no GPU needed): calibration uses the reference forward pass.
#include <cstdio>
#include <map>
#include <string>

#include <unistd.h>

#include "cli.hpp"
#include "core/error.hpp"
#include "gguf/gguf.hpp"
#include "io/safe_write.hpp"
#include "quant/quantize.hpp"

using namespace vkrt;

namespace {

const char* kUsage =
    "usage: vkrt-quantize -m IN.gguf -o OUT.gguf --type PRESET|w8a8|w8a8_static [options]\n"
    "  -m, --model FILE        F32/F16 GGUF: llama, qwen2, qwen3, gemma3 or phi3 (default: stories260K)\n"
    "  -o, --output FILE       output GGUF (a new path or a regular file; written to a temporary\n"
    "                          FILE.part-XXXXXX, fsync'd, then renamed; removed on Ctrl-C)\n"
    "  --type T                a llama-quantize preset: q4_0 q4_1 q5_0 q5_1 q8_0 q2_k q3_k_s\n"
    "                          q3_k_m q3_k_l q4_k_s q4_k_m q5_k_s q5_k_m q6_k iq4_nl iq4_xs\n"
    "                          bf16 f16, with llama.cpp's per-tensor mix (attn_v, ffn_down,\n"
    "                          output by layer) and its fallbacks for rows that fit no block\n"
    "                          (to F16 where nothing fits);\n"
    "                          w8a8: int8 per-channel weights, dynamic per-token int8 activations;\n"
    "                          w8a8_static: plus a calibrated per-tensor activation scale\n"
    "  --scales S              default: llama-quantize's bytes without an imatrix, or vkrt's\n"
    "                          importance search when there is one (--imatrix);\n"
    "                          imatrix: calibrate (--calib-text) for each input column's mean x^2\n"
    "                          and search every block's scales (and mins, K-quant sub-block\n"
    "                          scales) for the least importance-weighted error;\n"
    "                          ggml (also: minmax): ggml's encoders exactly as llama-quantize runs\n"
    "                          them (with --imatrix: its imatrix path, byte for byte);\n"
    "                          mse: Q4_0 scales searched for least squared error\n"
    "  --gptq                  with an importance matrix: GPTQ error feedback (each column's\n"
    "                          rounding error compensated on the columns after it through the\n"
    "                          calibration's x x^T); needs x x^T (calibration, or an --imatrix\n"
    "                          from --imatrix-out)\n"
    "  --awq                   with an importance matrix holding x x^T: activation-aware scaling\n"
    "                          (AWQ) folded exactly into the float model before quantization\n"
    "                          (norm weights, attn_v and ffn_up rows divided by s, the columns\n"
    "                          they feed multiplied by s), s chosen per input by the weighted\n"
    "                          output error of each linear's preset format; combinable with --gptq\n"
    "  --gptq-damp D           GPTQ's dampening: D * mean(diag x x^T) added to the diagonal\n"
    "                          (default 0.01)\n"
    "  --gptq-sequential M     with --gptq and --scales imatrix: GPTQ's sequential mode, each\n"
    "                          block's linears weighted by the statistics of their inputs through\n"
    "                          the linears quantized before them; block: one calibration pass per\n"
    "                          layer; site: one per layer input (attn_output after q/k/v, ffn_down\n"
    "                          after gate/up are quantized); off (default)\n"
    "  --gptq-order O          act (default): file order and act order inside each block;\n"
    "                          group: also GPTQ's order by 32-column group (blocks and their groups\n"
    "                          by summed x^2, act order inside a group)\n"
    "  -t, --threads N         encoding threads (default: one per hardware thread)\n"
    "  --imatrix FILE          llama.cpp importance matrix FILE (GGUF or legacy .dat, e.g. from\n"
    "                          llama-imatrix, or --imatrix-out); must match the model\n"
    "  --imatrix-out FILE      write the calibration's importance matrix (llama.cpp GGUF format,\n"
    "                          readable by llama-quantize --imatrix)\n"
    "  --alpha A               SmoothQuant migration strength (default 0.5)\n"
    "  --no-smooth             W8A8 without SmoothQuant\n"
    "  --calibrator C          w8a8_static: max (default), percentile, mse, entropy\n"
    "  --percentile P          for --calibrator percentile (default 99.99)\n"
    "  --asym                  asymmetric (uint8 + zero point) activations\n"
    "  --calib-text FILE       calibration text (default: tinystories_valid_head.txt; tokens\n"
    "                          after the first 100*512, which perplexity evaluation uses)\n"
    "  --calib-tokens N        calibration tokens, in sequences of 512 (default 4096)\n"
    "  --calib-skip-tokens N   tokens at the start of the text left to evaluation (default 51200)\n"
    "  --sensitivity FILE      write a per-tensor error report (markdown)\n"
    "  --budget-bits B         mixed file: any format vkrt writes and runs (Q2_K .. Q8_0, IQ4_*,\n"
    "                          BF16, F16) per linear tensor, chosen greedily by sensitivity so\n"
    "                          that the linears average <= B bits/weight (--type PRESET sets\n"
    "                          token_embd/output as that preset does, default q8_0)\n";

std::string models_dir() {
    const std::string m = cli::default_model_path();
    const size_t slash = m.find_last_of('/');
    return slash == std::string::npos ? std::string(".") : m.substr(0, slash);
}

int run(int argc, char** argv) {
    cli::Args args(argc, argv);
    if (args.flag("-h") || args.flag("--help")) {
        std::fputs(kUsage, stdout);
        return 0;
    }
    const std::string in = args.str("-m", "--model", cli::default_model_path());
    const std::string out = args.str("-o", "--output", "");
    const std::string type = args.str("--type", "", "");
    const std::string scales = args.str("--scales", "", "");
    const std::string imatrix = args.str("--imatrix", "", "");
    const std::string imatrix_out = args.str("--imatrix-out", "", "");
    const double alpha = args.number("--alpha", "", 0.5);
    const bool no_smooth = args.flag("--no-smooth");
    const std::string calibrator = args.str("--calibrator", "", "");
    const double percentile = args.number("--percentile", "", 99.99);
    const bool asym = args.flag("--asym");
    const std::string calib_text = args.str("--calib-text", "", models_dir() + "/tinystories_valid_head.txt");
    const int64_t calib_tokens = args.integer("--calib-tokens", "", 4096, 2, INT32_MAX);
    const int64_t calib_skip = args.integer("--calib-skip-tokens", "", 100 * 512, 0, INT32_MAX);
    const std::string sens = args.str("--sensitivity", "", "");
    const double budget = args.number("--budget-bits", "", 0.0);
    const bool gptq = args.flag("--gptq");
    const bool awq = args.flag("--awq");
    const double gptq_damp = args.number("--gptq-damp", "", 0.01);
    const std::string gptq_seq = args.str("--gptq-sequential", "", "off");
    const std::string gptq_order = args.str("--gptq-order", "", "act");
    const int64_t threads = args.integer("-t", "--threads", 0, 0, 1024);
    args.finish();

    VKRT_CHECK(!out.empty(), Status::invalid_argument, "no output file (-o OUT.gguf); see --help");
    // Refuse a bad output before minutes of work (the writer checks again before it renames).
    io::check_output_path(out);
    VKRT_CHECK(!io::same_file(in, out), Status::invalid_argument, "input '", in, "' and output '", out,
               "' are the same file");
    if (!sens.empty()) io::check_output_path(sens);
    if (!imatrix_out.empty()) io::check_output_path(imatrix_out);
    VKRT_CHECK(!type.empty() || budget > 0, Status::invalid_argument,
               "no quantization type (--type q4_0|q8_0|w8a8|w8a8_static); see --help");
    VKRT_CHECK(scales.empty() || scales == "ggml" || scales == "minmax" || scales == "mse" || scales == "imatrix",
               Status::invalid_argument, "--scales '", scales, "' is not known (ggml, mse, imatrix)");
    VKRT_CHECK(calib_tokens >= 2, Status::invalid_argument, "--calib-tokens ", calib_tokens, " is too small");
    VKRT_CHECK(budget >= 0, Status::invalid_argument, "--budget-bits ", budget, " is negative");

    quant::QuantizeOptions o;
    o.type = type.empty() ? quant::QuantType::q8_0 : quant::parse_quant_type(type);
    if (o.type == quant::QuantType::preset) o.preset = type;
    o.mse_scales = scales == "mse";
    o.importance = scales == "imatrix";
    o.ggml_scales = scales == "ggml" || scales == "minmax";
    o.imatrix_in = imatrix;
    o.imatrix_out = imatrix_out;
    o.smooth = !no_smooth;
    o.alpha = float(alpha);
    VKRT_CHECK(calibrator.empty() || o.type == quant::QuantType::w8a8_static, Status::invalid_argument,
               "--calibrator sets static activation scales: use it with --type w8a8_static");
    if (!calibrator.empty()) o.calibrator = quant::parse_calibrator(calibrator);
    o.percentile = percentile;
    o.asym = asym;
    o.calib_text = calib_text;
    o.calib_tokens = size_t(calib_tokens);
    o.calib_skip_tokens = size_t(calib_skip);
    o.sensitivity_report = sens;
    o.budget_bits = budget;
    o.gptq = gptq;
    o.gptq_damp = gptq_damp;
    o.awq = awq;
    o.gptq_sequential = quant::parse_gptq_sequential(gptq_seq);
    VKRT_CHECK(gptq_order == "act" || gptq_order == "group", Status::invalid_argument, "--gptq-order '", gptq_order,
               "' is not known (act, group)");
    o.gptq_group_order = gptq_order == "group";
    o.threads = unsigned(threads);

    std::fprintf(stderr, "vkrt-quantize: %s -> %s (%s%s)\n", in.c_str(), out.c_str(),
                 budget > 0 ? "mixed, base " : "", type.empty() ? "q8_0" : type.c_str());
    const double t0 = cli::now_seconds();
    std::string last_stage;
    int last_pct = -1;
    std::string done_stage;
    quant::QuantizeCallbacks cb;
    cb.log = [&](const std::string& s) {
        if (last_pct >= 0) std::fputc('\n', stderr);
        last_pct = -1;
        std::fprintf(stderr, "%s\n", s.c_str());
    };
    // A terminal gets a live percentage; a log file one line per finished stage.
    const bool tty = isatty(2) != 0;
    cb.progress = [&](const std::string& stage, double frac) {
        const int pct = int(frac * 100.0 + 1e-9);
        if (stage == last_stage && pct == last_pct) return;
        if (!tty) {
            if (pct == 100 && stage != done_stage) std::fprintf(stderr, "  %s: done\n", stage.c_str());
            if (pct == 100) done_stage = stage;
            return;
        }
        if (stage != last_stage && last_pct >= 0) std::fputc('\n', stderr);
        last_stage = stage;
        last_pct = pct;
        std::fprintf(stderr, "\r  %-22s %3d%%", stage.c_str(), pct);
        std::fflush(stderr);
    };
    quant::QuantizeResult r = quant::quantize_gguf(in, out, o, cb);
    if (last_pct >= 0) std::fputc('\n', stderr);

    std::map<std::string, size_t> n;  // tensors per type, by ggml's name
    for (const auto& [name, t] : r.tensors) ++n[fmt::name(t)];
    std::string counts;
    for (const auto& [tn, c] : n)
        counts += (counts.empty() ? "" : ", ") + std::to_string(c) + " " + tn + (tn == "I8" ? " (W8A8)" : "");
    std::fprintf(stderr, "tensors: %s\n", counts.c_str());
    if (!r.fallbacks.empty()) {
        std::fprintf(stderr, "%zu tensor(s) fell back to another type:\n", r.fallbacks.size());
        for (const auto& s : r.fallbacks) std::fprintf(stderr, "  %s\n", s.c_str());
    }
    std::fprintf(stderr, "linear weights: %.3f bits/weight; %.2f MiB -> %.2f MiB in %.1f s\n", r.linear_bits,
                 double(r.bytes_in) / 1048576.0, double(r.bytes_out) / 1048576.0, cli::now_seconds() - t0);
    return 0;
}

}  // namespace

int main(int argc, char** argv) { return vkrt::cli::guarded_main("vkrt-quantize", run, argc, argv); }
