#include "quant/quantize.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>

#include "core/error.hpp"
#include "core/quant.hpp"
#include "arch/arch.hpp"
#include "io/safe_write.hpp"
#include "quant/awq.hpp"
#include "quant/gptq.hpp"
#include "quant/imatrix.hpp"
#include "quant/presets.hpp"
#include "quant/scale_search.hpp"
#include "quant/sensitivity.hpp"
#include "quant/smoothquant.hpp"
#include "ref/reference.hpp"

namespace vkrt::quant {

using gguf::TensorType;

QuantType parse_quant_type(const std::string& s) {
    if (s == "q4_0" || s == "Q4_0") return QuantType::q4_0;
    if (s == "q8_0" || s == "Q8_0") return QuantType::q8_0;
    if (s == "w8a8" || s == "W8A8") return QuantType::w8a8;
    if (s == "w8a8_static" || s == "W8A8_static") return QuantType::w8a8_static;
    if (find_preset(s)) return QuantType::preset;
    std::string known;
    for (const Preset& p : presets()) known += std::string(known.empty() ? "" : ", ") + p.name;
    fail(Status::invalid_argument, "quantization type '", s, "' is not known (", known, ", w8a8, w8a8_static)");
}

GptqSequential parse_gptq_sequential(const std::string& s) {
    if (s == "off") return GptqSequential::off;
    if (s == "block") return GptqSequential::block;
    if (s == "site") return GptqSequential::site;
    fail(Status::invalid_argument, "--gptq-sequential '", s, "' is not known (block, site, off)");
}

const char* quant_type_name(QuantType t) {
    switch (t) {
        case QuantType::q4_0: return "q4_0";
        case QuantType::q8_0: return "q8_0";
        case QuantType::w8a8: return "w8a8";
        case QuantType::w8a8_static: return "w8a8_static";
        case QuantType::preset: return "preset";
    }
    return "?";
}

void quantize_w8a8_rows(const float* w, size_t N, size_t K, int8_t* q, float* scale) {
    for (size_t o = 0; o < N; ++o) scale[o] = ref::quantize_row_i8(w + o * K, K, q + o * K);
}

void parallel_rows(uint64_t n, unsigned threads, const std::function<void(uint64_t, uint64_t)>& fn) {
    const uint64_t parts = std::min<uint64_t>(std::max(1u, threads), n);
    if (parts <= 1) return fn(0, n);
    std::vector<std::exception_ptr> errors(parts);
    std::vector<std::thread> pool;
    for (uint64_t p = 0; p < parts; ++p)
        pool.emplace_back([&, p] {
            try {
                fn(n * p / parts, n * (p + 1) / parts);
            } catch (...) {
                errors[p] = std::current_exception();
            }
        });
    for (std::thread& th : pool) th.join();
    for (const std::exception_ptr& e : errors)
        if (e) std::rethrow_exception(e);
}

namespace {
// One row of a block-format tensor -> its bytes, by the scales chosen for the file (the writer's
// and --gptq-sequential's encoder).
struct RowCoder {
    TensorType type;
    size_t K;
    bool mse, search, gptq;
    const float* imp;           // (K) mean x^2, or nullptr
    const float* hess;          // (K,K) mean x x^T, or nullptr
    const GptqFactors* factor;  // with gptq
    void operator()(const float* row, uint8_t* o) const {
        if (mse)
            quantize_row_q4_0_mse(row, o, K);
        else if (gptq)
            quantize_row_gptq(type, row, o, K, imp, hess, *factor);
        else if (search)
            quantize_row_importance(type, row, o, K, imp, hess);
        else
            fmt::quantize_row_weighted(type, row, o, K, imp);
    }
};

// A linear input's statistics as llama.cpp's imatrix entry (sum x^2, tokens; vkrt's sum x x^T,
// mirrored from the upper triangle collect_stats sums).
ImatrixEntry imatrix_entry(const ActStats& a) {
    ImatrixEntry e;
    e.sum2.assign(a.chan_sumsq.begin(), a.chan_sumsq.end());
    e.count = float(a.rows);
    if (!a.xtx.empty()) {
        const size_t K = a.K;
        e.xxt.resize(K * K);
        for (size_t i = 0; i < K; ++i)
            for (size_t j = i; j < K; ++j) e.xxt[i * K + j] = e.xxt[j * K + i] = float(a.xtx[i * K + j]);
    }
    return e;
}

// An entry's mean x x^T (K,K) (empty without x x^T).
std::shared_ptr<const std::vector<float>> mean_xxt(const ImatrixEntry& e) {
    if (e.xxt.empty() || e.count <= 0) return nullptr;
    auto H = std::make_shared<std::vector<float>>(e.xxt);
    for (float& v : *H) v /= e.count;
    return H;
}

std::vector<uint8_t> f32_bytes(const std::vector<float>& v) {
    std::vector<uint8_t> b(v.size() * 4);
    if (!v.empty()) std::memcpy(b.data(), v.data(), b.size());
    return b;
}

}  // namespace

QuantizeResult quantize_gguf(const std::string& in_path, const std::string& out_path, const QuantizeOptions& opt,
                             const QuantizeCallbacks& cb) {
    auto log = [&](const std::string& s) {
        if (cb.log) cb.log(s);
    };
    auto progress = [&](const std::string& stage, double frac) {
        if (cb.progress) cb.progress(stage, frac);
    };
    const bool w8a8 = opt.type == QuantType::w8a8 || opt.type == QuantType::w8a8_static;
    const bool is_static = opt.type == QuantType::w8a8_static;
    const bool mixed = opt.budget_bits > 0;
    VKRT_CHECK(!(mixed && w8a8), Status::invalid_argument, "--budget-bits writes a mixed block-format file (a registry "
               "format per linear); it cannot be combined with --type ", quant_type_name(opt.type));
    VKRT_CHECK(!opt.mse_scales || !w8a8, Status::invalid_argument,
               "--scales mse applies to Q4_0 block scales, not to --type ", quant_type_name(opt.type));
    VKRT_CHECK(!opt.asym || w8a8, Status::invalid_argument, "--asym applies to W8A8 activations only");
    const bool use_imatrix = opt.importance || !opt.imatrix_in.empty();
    VKRT_CHECK(!(use_imatrix || !opt.imatrix_out.empty()) || !w8a8, Status::invalid_argument,
               "an importance matrix weights block scales; W8A8 has none (--type ", quant_type_name(opt.type), ")");
    VKRT_CHECK(!(use_imatrix && opt.mse_scales), Status::invalid_argument,
               "--scales mse and an importance matrix are two scale searches: choose one");
    VKRT_CHECK(!opt.gptq || (use_imatrix && !opt.ggml_scales), Status::invalid_argument,
               "--gptq feeds back errors over vkrt's importance search: it needs an importance matrix "
               "(--scales imatrix, or --imatrix FILE from vkrt-quantize --imatrix-out) and not --scales ggml");
    VKRT_CHECK(!opt.awq || (use_imatrix && !opt.ggml_scales && !w8a8 && !mixed), Status::invalid_argument,
               "--awq chooses its scales by the importance search's error on a preset's block formats: it needs an "
               "importance matrix with x x^T (--scales imatrix, or --imatrix FILE from vkrt-quantize --imatrix-out), "
               "not --scales ggml, W8A8 or --budget-bits");
    VKRT_CHECK(std::isfinite(opt.gptq_damp) && opt.gptq_damp > 0, Status::invalid_argument, "--gptq-damp ",
               opt.gptq_damp, " is not a positive number");
    const bool sequential = opt.gptq_sequential != GptqSequential::off;
    VKRT_CHECK(!sequential || (opt.gptq && opt.importance && opt.imatrix_in.empty() && !mixed), Status::invalid_argument,
               "--gptq-sequential calibrates each block on the blocks quantized before it: it needs --gptq with "
               "calibration (--scales imatrix, not an --imatrix file) and no --budget-bits");
    VKRT_CHECK(!opt.gptq_group_order || opt.gptq, Status::invalid_argument, "--gptq-order group needs --gptq");
    const Preset* preset = nullptr;
    if (!w8a8) {
        const std::string pn = opt.type == QuantType::preset ? opt.preset : quant_type_name(opt.type);
        preset = find_preset(pn);
        VKRT_CHECK(preset, Status::invalid_argument, "quantization preset '", pn, "' is not known");
    }
    for (const std::string* p : {&opt.imatrix_in, &opt.imatrix_out})
        VKRT_CHECK(p->empty() || (*p != in_path && !io::same_file(in_path, *p)), Status::invalid_argument,
                   "imatrix file '", *p, "' is the input model");
    VKRT_CHECK(opt.alpha >= 0 && opt.alpha <= 1, Status::invalid_argument, "--alpha ", opt.alpha,
               " is outside [0, 1]");
    VKRT_CHECK(opt.percentile > 0 && opt.percentile <= 100, Status::invalid_argument, "--percentile ",
               opt.percentile, " is outside (0, 100]");
    // The same file under any spelling (DIR/./m.gguf, a hard link): device and inode.
    VKRT_CHECK(in_path != out_path && !io::same_file(in_path, out_path), Status::invalid_argument, "input '", in_path,
               "' and output '", out_path, "' are the same file");

    gguf::File f = gguf::File::open(in_path);
    const io::InputGuard input_guard(in_path);  // no output (GGUF, report) may replace the input
    QuantizeResult res;
    res.bytes_in = f.file_size();

    // ---- what needs calibration
    const bool want_sens = !opt.sensitivity_report.empty() || mixed;
    const bool need_stats = want_sens || is_static || (w8a8 && opt.smooth) ||
                            (opt.importance && opt.imatrix_in.empty()) || !opt.imatrix_out.empty();
    std::map<std::string, std::vector<float>> importance;  // weight tensor name -> (K) mean x^2
    std::map<std::string, std::shared_ptr<const std::vector<float>>> hessians;  // -> (K,K) mean x x^T
    auto add_importance = [&](const std::string& name, const ImatrixEntry& e) {
        importance[name] = e.importance();
        if (auto H = mean_xxt(e)) hessians[name] = std::move(H);
    };
    std::optional<FloatLlama> fm;
    std::optional<Smoothing> sm;        // factors (computed whenever stats exist and smoothing is on)
    bool smoothing_applied = false;
    std::optional<CalibStats> st_act;   // stats of the inputs as the file's runtime sees them (static scales)
    std::optional<BudgetChoice> choice;
    std::optional<CalibData> calib;     // the calibration sequences (--gptq-sequential runs them again)
    if (need_stats) {
        VKRT_CHECK(!opt.calib_text.empty(), Status::invalid_argument, "calibration needs a text (--calib-text)");
        progress("tokenize", 0);
        const std::string text = read_text_file(opt.calib_text);
        const CalibData& data = calib.emplace(
            calibration_sequences(f, text, opt.calib_tokens, opt.calib_skip_tokens, opt.calib_seq_len));
        res.calib_tokens = data.tokens();
        {
            std::ostringstream os;
            os << "calibration: " << data.seqs.size() << " sequence(s) of " << data.seqs[0].size()
               << " tokens from token " << data.skipped_tokens << " of '" << opt.calib_text << "' ("
               << data.text_tokens << " tokens; the first " << data.skipped_tokens << " are left to evaluation)";
            log(os.str());
        }
        fm = load_float_llama(f, uint32_t(opt.calib_seq_len));
        CalibOptions co;
        co.capture_rows = want_sens ? opt.capture_rows : 0;
        if ((opt.importance && opt.imatrix_in.empty() && !opt.ggml_scales) || !opt.imatrix_out.empty()) {
            // The full mean x x^T per input lets the scale search see the columns' correlations;
            // K^2 doubles per (layer, input): only where that stays small (else the diagonal alone).
            const arch::HParams h = arch::read_hparams(f);
            const double bytes = 8.0 * h.n_layer *
                                 (2.0 * h.n_embd * h.n_embd + double(h.q_dim()) * h.q_dim() + double(h.n_ff) * h.n_ff);
            co.hessian = bytes <= 512.0 * 1024 * 1024;
            log(co.hessian ? "importance: full x x^T per linear input (scale search with correlations)"
                           : "importance: diagonal only (x x^T would need more than 512 MiB)");
        }
        CalibStats st = collect_stats(*fm, nullptr, data, co, [&](size_t d, size_t t) {
            progress("calibrate", double(d) / double(t));
        });
        if (opt.smooth && (w8a8 || want_sens)) sm = compute_smoothing(fm->cfg, fm->w, st, opt.alpha);
        if ((opt.importance && opt.imatrix_in.empty()) || !opt.imatrix_out.empty()) {
            // llama.cpp's importance matrix from the same run: each linear's input, mean x^2 per column.
            Imatrix im;
            im.datasets.push_back(opt.calib_text);
            im.chunk_count = uint32_t(data.seqs.size());
            im.chunk_size = uint32_t(opt.calib_seq_len);
            for (const arch::TensorDesc& t : arch::tensor_table(arch::read_hparams(f))) {
                if (t.kind != arch::Kind::linear || !f.find_tensor(t.name)) continue;
                const ImatrixEntry& e = im.entries[t.name] = imatrix_entry(st.at(uint32_t(t.layer), t.site));
                if (opt.importance && opt.imatrix_in.empty()) add_importance(t.name, e);
            }
            if (!opt.imatrix_out.empty()) {
                write_imatrix(opt.imatrix_out, im);
                log("imatrix: " + opt.imatrix_out + " (" + std::to_string(im.entries.size()) + " entries)");
            }
        }
        if (want_sens) {
            SensitivityEncoding enc;
            enc.importance = use_imatrix && !opt.ggml_scales;
            enc.mse_q4 = opt.mse_scales;
            std::vector<SensitivityEntry> entries = analyze_sensitivity(
                *fm, st, sm ? &*sm : nullptr, enc, [&](size_t d, size_t t) { progress("sensitivity", double(d) / double(t)); });
            if (mixed) choice = choose_formats(entries, opt.budget_bits);
            std::ostringstream info;
            info << "Model `" << in_path << "`; " << res.calib_tokens << " calibration tokens, up to "
                 << opt.capture_rows << " captured input rows per tensor; SmoothQuant for W8A8: "
                 << (sm ? "alpha " + std::to_string(opt.alpha) : std::string("off")) << ".";
            res.sensitivity_md = sensitivity_markdown(entries, choice ? &*choice : nullptr, info.str());
            if (!opt.sensitivity_report.empty()) {
                io::write_file(opt.sensitivity_report, res.sensitivity_md);
                log("sensitivity report: " + opt.sensitivity_report);
            }
        }
        if (w8a8 && sm) {
            apply_smoothing(fm->w, fm->cfg, *sm);
            smoothing_applied = true;
        }
        if (is_static) {
            if (smoothing_applied) {
                co.capture_rows = 0;
                st_act = collect_stats(*fm, &*sm, data, co, [&](size_t d, size_t t) {
                    progress("calibrate (smoothed)", double(d) / double(t));
                });
            } else {
                st_act = std::move(st);
            }
        }
    }

    // ---- the model's tensors (runtime/arch): which are block linears, and their inputs
    const arch::HParams hp = arch::read_hparams(f);
    std::map<std::string, arch::TensorDesc> desc;
    for (arch::TensorDesc& t : arch::tensor_table(hp)) desc[t.name] = std::move(t);

    // ---- an importance matrix from a file: it must be this model's (names and row lengths)
    if (!opt.imatrix_in.empty()) {
        const Imatrix im = read_imatrix(opt.imatrix_in);
        for (const auto& [name, e] : im.entries) {
            const gguf::TensorInfo* t = f.find_tensor(name);
            VKRT_CHECK(t, Status::invalid_argument, "imatrix '", opt.imatrix_in, "' is for another model: it has an entry for '",
                       name, "', which '", in_path, "' does not have");
            VKRT_CHECK(e.sum2.size() == t->dims[0], Status::invalid_argument, "imatrix '", opt.imatrix_in,
                       "' is for another model: '", name, "' has ", e.sum2.size(), " columns, the tensor ", t->dims[0]);
            add_importance(name, e);
        }
        for (const auto& [name, d] : desc)
            VKRT_CHECK(d.kind != arch::Kind::linear || !f.find_tensor(name) || importance.count(name),
                       Status::invalid_argument, "imatrix '", opt.imatrix_in, "' has no entry for '", name,
                       "' (made for another model, or truncated)");
        log("imatrix: " + opt.imatrix_in + " (" + std::to_string(importance.size()) + " entries)");
    }
    std::vector<std::string> names;
    for (const gguf::TensorInfo& t : f.tensors()) names.push_back(t.name);
    std::optional<PresetPlan> plan;
    if (preset) plan.emplace(*preset, names, hp.n_layer, hp.n_head_kv ? hp.n_head / hp.n_head_kv : 1, use_imatrix);
    // Choose a tensor's type: the preset's per-tensor mix (its counters advance on every tensor,
    // in file order, as llama-quantize's do: `pp` is the writer's plan or a copy for a pre-pass),
    // a budget choice, or W8A8's; rows that fit no block -> F16. Fallbacks noted in `notes`.
    auto tensor_type = [&](std::optional<PresetPlan>& pp, const gguf::TensorInfo& t,
                           std::vector<std::string>* notes) {
        auto d = desc.find(t.name);
        const bool lin = d != desc.end() && d->second.kind == arch::Kind::linear;
        const bool vec = t.dims.size() == 1;
        TensorType type = TensorType::F32;
        if (pp) {
            TensorChoice c = pp->choose(t.name, t.dims, vec ? TensorType::F32 : t.type);
            type = vec ? TensorType::F32 : c.type;
            if (!c.fallback.empty() && !(lin && choice) && notes) notes->push_back(c.fallback);
        }
        if (vec) {
            type = TensorType::F32;
        } else if (lin && w8a8) {
            type = TensorType::I8;
        } else if (lin && choice) {
            auto it = choice->types.find(t.name);
            VKRT_CHECK(it != choice->types.end(), Status::internal, "no budget choice for ", t.name);
            type = it->second;
        } else if (w8a8) {
            type = TensorType::Q8_0;
        }
        const uint64_t K = t.dims[0];
        if (K % fmt::traits(type).block_elems != 0) {
            std::ostringstream os;
            os << t.name << ": rows of " << K << " do not fit " << fmt::name(type) << "'s "
               << fmt::traits(type).block_elems << "-element blocks -> F16";
            if (notes) notes->push_back(os.str());
            type = TensorType::F16;
        }
        return type;
    };

    // ---- --awq: scales folded into the float model (quant/awq.hpp), chosen with each linear's
    // target type; the importance and x x^T become the scaled layer's.
    bool awq_applied = false;
    if (opt.awq) {
        if (!fm) fm = load_float_llama(f, uint32_t(opt.calib_seq_len));
        std::map<std::string, TensorType> types;
        std::optional<PresetPlan> pre = plan;
        for (const gguf::TensorInfo& t : f.tensors()) types[t.name] = tensor_type(pre, t, nullptr);
        AwqOptions ao;
        const unsigned th = opt.threads ? opt.threads : std::max(1u, std::thread::hardware_concurrency());
        ao.parallel = [th](uint64_t n, const std::function<void(uint64_t, uint64_t)>& fn) { parallel_rows(n, th, fn); };
        ao.progress = [&](size_t d, size_t n) { progress("awq", double(d) / double(n)); };
        for (const AwqSite& s : apply_awq(fm->cfg, fm->w, [&](const std::string& n) { return types.at(n); },
                                          importance, hessians, ao)) {
            std::ostringstream os;
            os << "awq: layer " << s.layer << " " << arch::site_name(s.site) << ": alpha " << s.alpha
               << ", weighted error " << s.err_before << " -> " << s.err_after;
            log(os.str());
        }
        progress("awq", 1);
        awq_applied = true;
    }

    // ---- float sources that differ from the file (smoothed or AWQ-scaled weights, norms and
    // biases): the parts of each tensor (a fused tensor's rows are its parts' rows in order)
    std::map<std::string, std::vector<const std::vector<float>*>> float_src;
    if (smoothing_applied || awq_applied) {
        for (const auto& [name, t] : desc) {
            if (t.kind != arch::Kind::linear && !(t.kind == arch::Kind::norm && t.layer >= 0) &&
                !(awq_applied && t.kind == arch::Kind::bias && t.layer >= 0))
                continue;
            for (arch::Role r : t.parts) float_src[name].push_back(&fm->w.at(r, t.layer));
        }
    }

    // ---- metadata
    gguf::Writer wr;
    for (const auto& [key, value] : f.metadata()) {
        if (key == "general.alignment" || key == "general.file_type" || key == "general.quantization_version" ||
            key.rfind("vkrt.quantization.", 0) == 0)
            continue;
        wr.copy_value(key, value);
    }
    wr.set_u32("general.quantization_version", 2);
    if (w8a8) {
        wr.set_string("vkrt.quantization.scheme", quant_type_name(opt.type));
        wr.set_string("vkrt.quantization.activations", opt.asym ? "asymmetric" : "symmetric");
        if (smoothing_applied) wr.set_f32("vkrt.quantization.smoothquant_alpha", opt.alpha);
        if (is_static) wr.set_string("vkrt.quantization.calibrator", calibrator_name(opt.calibrator));
    }

    // ---- tensors
    uint64_t total_rows = 0, rows_done = 0;
    const unsigned n_threads = opt.threads ? opt.threads : std::max(1u, std::thread::hardware_concurrency());
    double lin_bits = 0, lin_n = 0;
    std::vector<std::unique_ptr<std::vector<float>>> keep;  // per-channel scales etc. alive until write()
    // --gptq-sequential: the block linears' bytes, encoded before write() (below); the writer copies them.
    std::map<std::string, std::vector<uint8_t>> pre_encoded;

    auto row_source = [&](const gguf::TensorInfo* t) {
        auto it = float_src.find(t->name);
        std::vector<const std::vector<float>*> parts;
        if (it != float_src.end()) parts = it->second;
        const uint64_t K = t->dims[0];
        const uint64_t src_rb = fmt::row_bytes(t->type, K);
        return [t, parts, K, src_rb](uint64_t r, float* dst) {
            if (parts.empty()) return fmt::dequantize_row(t->type, t->data + r * src_rb, dst, K);
            for (const std::vector<float>* p : parts) {
                const uint64_t n = p->size() / K;
                if (r < n) return (void)std::memcpy(dst, p->data() + r * K, K * sizeof(float));
                r -= n;
            }
            fail(Status::internal, "row past the parts of '", t->name, "'");
        };
    };

    for (const gguf::TensorInfo& t : f.tensors()) {
        const uint64_t K = t.dims[0];
        const uint64_t rows = t.n_elements / K;
        auto d = desc.find(t.name);
        const arch::TensorDesc* lin = d != desc.end() && d->second.kind == arch::Kind::linear ? &d->second : nullptr;
        const uint32_t layer = lin ? uint32_t(lin->layer) : 0;
        const bool vec = t.dims.size() == 1;
        if (!vec) {
            VKRT_CHECK(t.type == TensorType::F32 || t.type == TensorType::F16, Status::invalid_argument, "tensor '",
                       t.name, "' is ", fmt::name(t.type),
                       ": vkrt-quantize reads F32/F16 models (re-quantizing quantized weights loses precision)");
        }
        const TensorType type = tensor_type(plan, t, &res.fallbacks);
        if (lin) {
            // Bits per weight from the registry's block sizes (I8: plus its per-row F32 scale).
            const double bpw = type == TensorType::I8 ? w8a8_bits_per_weight(K)
                                                      : double(fmt::row_bytes(type, K)) * 8.0 / double(K);
            lin_bits += bpw * double(t.n_elements);
            lin_n += double(t.n_elements);
        }
        total_rows += rows;
        res.tensors.emplace_back(t.name, type);

        auto src = row_source(&t);
        if (type == TensorType::I8) {
            // Per-output-channel int8; the scales first (same rule as the streamed rows).
            auto scale = std::make_unique<std::vector<float>>(rows);
            {
                std::vector<float> row(K);
                std::vector<int8_t> q(K);
                for (uint64_t r = 0; r < rows; ++r) {
                    src(r, row.data());
                    (*scale)[r] = ref::quantize_row_i8(row.data(), K, q.data());
                }
            }
            wr.add_tensor_rows(t.name, TensorType::I8, t.dims,
                               [src, K, &rows_done, &total_rows, &progress](uint64_t r0, uint64_t n, uint8_t* out) {
                                   std::vector<float> row(K);
                                   for (uint64_t i = 0; i < n; ++i) {
                                       src(r0 + i, row.data());
                                       ref::quantize_row_i8(row.data(), K, reinterpret_cast<int8_t*>(out + i * K));
                                   }
                                   rows_done += n;
                                   progress("write", double(rows_done) / double(std::max<uint64_t>(total_rows, 1)));
                               });
            const std::string base = t.name.substr(0, t.name.size() - std::string(".weight").size());
            wr.add_tensor(base + ".scale", TensorType::F32, {rows}, f32_bytes(*scale));
            keep.push_back(std::move(scale));
            if (is_static) {
                const ActStats& a = st_act->at(layer, lin->site);
                const double T = calibrate_threshold(a.hist, opt.calibrator, opt.percentile);
                float act_scale = 1.0f, zero = 0.0f;
                if (opt.asym) {
                    // Range [lo, hi] = [min, max] clipped to [-T, T], always containing 0.
                    const double lo = std::min(0.0, std::max(double(a.min), -T));
                    const double hi = std::max(0.0, std::min(double(a.max), T));
                    if (hi > lo) {
                        act_scale = float((hi - lo) / 255.0);
                        zero = float(std::clamp(std::round(-lo / double(act_scale)), 0.0, 255.0));
                    }
                } else if (T > 0) {
                    act_scale = float(T / 127.0);
                }
                wr.add_tensor(base + ".act_scale", TensorType::F32, {1}, f32_bytes({act_scale}));
                if (opt.asym) wr.add_tensor(base + ".act_zero", TensorType::F32, {1}, f32_bytes({zero}));
            }
            if (smoothing_applied && (lin->site == Site::attn_out || lin->site == Site::ffn_down_in)) {
                wr.add_tensor(base + ".smooth", TensorType::F32, {K},
                              f32_bytes(sm->layers[layer][size_t(lin->site)]));
            }
            continue;
        }
        const bool mse = opt.mse_scales && type == TensorType::Q4_0;
        const uint64_t out_rb = fmt::row_bytes(type, K);
        auto imp_it = importance.find(t.name);
        const std::vector<float>* imp = imp_it != importance.end() ? &imp_it->second : nullptr;
        const bool search = imp && !opt.ggml_scales;
        auto h_it = hessians.find(t.name);
        std::shared_ptr<const std::vector<float>> hess = h_it != hessians.end() ? h_it->second : nullptr;
        // --gptq: the tensor's H^-1 factor, made when its first rows are asked for and dropped
        // after its last (write() fills one tensor at a time).
        const bool gptq = opt.gptq && search && fmt::traits(type).block_elems > 1;
        if (gptq)
            VKRT_CHECK(hess, Status::invalid_argument, "--gptq needs the mean x x^T of '", t.name,
                       "''s input: calibrate (--scales imatrix) or give an --imatrix written by "
                       "vkrt-quantize --imatrix-out (llama-imatrix's files hold only mean x^2)");
        auto factor = std::make_shared<GptqFactors>();
        const RowCoder coder{type, K, mse, search, gptq, imp ? imp->data() : nullptr, hess ? hess->data() : nullptr,
                             factor.get()};
        wr.add_tensor_rows(t.name, type, t.dims,
                           [src, K, rows, out_rb, type, coder, hess, gptq, factor, name = t.name,
                            damp = opt.gptq_damp, group = opt.gptq_group_order, threads = n_threads, &rows_done,
                            &total_rows, &pre_encoded, &progress](uint64_t r0, uint64_t n, uint8_t* out) {
                               auto pre = pre_encoded.find(name);
                               if (pre != pre_encoded.end()) {
                                   std::memcpy(out, pre->second.data() + r0 * out_rb, n * out_rb);
                                   if (r0 + n == rows) pre_encoded.erase(pre);
                               } else {
                                   if (gptq && factor->natural.empty())
                                       *factor = gptq_factors(hess->data(), K, fmt::traits(type).block_elems, damp,
                                                              group);
                                   // Rows are independent: encoded on up to `threads` threads, each its own range.
                                   parallel_rows(n, threads, [&](uint64_t a, uint64_t b) {
                                       std::vector<float> row(K);
                                       for (uint64_t i = a; i < b; ++i) {
                                           src(r0 + i, row.data());
                                           coder(row.data(), out + i * out_rb);
                                       }
                                   });
                               }
                               if (r0 + n == rows) *factor = {};
                               rows_done += n;
                               progress("write", double(rows_done) / double(std::max<uint64_t>(total_rows, 1)));
                           });
    }
    // llama_ftype of the preset (15 = Q4_K_M); a mixed file: of its base preset (--type), which
    // set token_embd and output.
    if (!w8a8) wr.set_u32("general.file_type", preset->ftype);
    res.linear_bits = lin_n > 0 ? lin_bits / lin_n : 0;

    // ---- --gptq-sequential: the block linears encoded in forward order, each with the mean x^2 and
    // x x^T of its input as the model with every linear before it quantized gives them (GPTQ's
    // sequential mode: the error feedback then also compensates the upstream quantization error).
    // Each stage's linears are dequantized into a float copy of the model that the next stages run.
    if (sequential) {
        const std::map<std::string, TensorType> type_of(res.tensors.begin(), res.tensors.end());
        FloatLlama qm = *fm;
        CalibOptions co;
        co.capture_rows = 0;
        co.hessian = true;
        auto quantize_site = [&](uint32_t layer, Site site, const ActStats& a, ref::RefWeights& w) {
            for (const auto& [name, d] : desc) {
                const gguf::TensorInfo* t = f.find_tensor(name);
                if (d.kind != arch::Kind::linear || uint32_t(d.layer) != layer || d.site != site || !t) continue;
                const uint64_t K = t->dims[0], rows = t->n_elements / K;
                VKRT_CHECK(a.K == K && a.rows > 0, Status::internal, "--gptq-sequential: no statistics for '", name,
                           "''s input");
                // mean x^2 and mean x x^T, as the float calibration's imatrix gives them
                const ImatrixEntry e = imatrix_entry(a);
                const std::vector<float> imp = e.importance();
                const std::shared_ptr<const std::vector<float>> hess = mean_xxt(e);
                const std::vector<float>& H = *hess;
                const TensorType type = type_of.at(name);
                const uint64_t rb = fmt::row_bytes(type, K);
                GptqFactors g;
                const bool gq = fmt::traits(type).block_elems > 1;
                if (gq) g = gptq_factors(H.data(), K, fmt::traits(type).block_elems, opt.gptq_damp, opt.gptq_group_order);
                const RowCoder coder{type, K, false, true, gq, imp.data(), H.data(), &g};
                std::vector<uint8_t>& bytes = pre_encoded[name];
                bytes.resize(rows * rb);
                auto src = row_source(t);
                parallel_rows(rows, n_threads, [&](uint64_t r0, uint64_t r1) {
                    std::vector<float> row(K);
                    for (uint64_t r = r0; r < r1; ++r) {
                        src(r, row.data());
                        coder(row.data(), bytes.data() + r * rb);
                    }
                });
                // The quantized weights, split into the tensor's parts (fused tensors), for the stages after.
                uint64_t r = 0;
                for (arch::Role role : d.parts) {
                    std::vector<float>& dst = w.at(role, d.layer);
                    for (uint64_t i = 0; i < dst.size() / K; ++i, ++r)
                        fmt::dequantize_row(type, bytes.data() + r * rb, dst.data() + i * K, K);
                }
                VKRT_CHECK(r == rows, Status::internal, "--gptq-sequential: '", name, "' has ", rows,
                           " rows, its parts ", r);
            }
        };
        log(std::string("gptq: sequential calibration, ") +
            (opt.gptq_sequential == GptqSequential::site ? "one stage per layer input" : "one stage per layer"));
        calibrate_sequential(qm, *calib, co, opt.gptq_sequential == GptqSequential::site, quantize_site,
                             [&](size_t d, size_t t) { progress("gptq sequential", double(d) / double(t)); });
    }
    progress("write", 0);
    wr.write(out_path, f.alignment());
    progress("write", 1);
    if (FILE* fp = std::fopen(out_path.c_str(), "rb")) {
        std::fseek(fp, 0, SEEK_END);
        res.bytes_out = uint64_t(std::ftell(fp));
        std::fclose(fp);
    }
    return res;
}

}  // namespace vkrt::quant
