// Calibration: instrumented reference forward pass, |x| histograms, calibrators.
#include "quant/calibrate.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <fstream>
#include <iterator>
#include <sstream>

#include "core/error.hpp"
#include "core/quant.hpp"
#include "arch/arch.hpp"
#include "text/tokenizer.hpp"

namespace vkrt::quant {

// ---------------------------------------------------------------- model

FloatLlama load_float_llama(const gguf::File& f, uint32_t n_ctx) {
    FloatLlama m;
    static_cast<arch::HParams&>(m.cfg) = arch::read_hparams(f);
    m.cfg.n_ctx = n_ctx;
    m.w.layers.resize(m.cfg.n_layer);
    // Every tensor of the description, dequantized; fused tensors split into their parts.
    for (const arch::TensorDesc& t : arch::tensor_table(m.cfg)) {
        const gguf::TensorInfo* ti = f.find_tensor(t.name);
        if (!ti) {
            VKRT_CHECK(!t.required, Status::bad_format, "gguf: tensor '", t.name, "' is missing");
            continue;
        }
        VKRT_CHECK(ti->n_elements == uint64_t(t.cols) * t.rows, Status::bad_format, "gguf: tensor '", t.name, "' has ",
                   ti->n_elements, " elements, expected ", uint64_t(t.cols) * t.rows);
        std::vector<float> all = dequantize_tensor(*ti);
        size_t row = 0;
        for (size_t i = 0; i < t.parts.size(); ++i) {
            std::vector<float>& dst = m.w.at(t.parts[i], t.layer);
            dst.assign(all.begin() + int64_t(row * t.cols), all.begin() + int64_t((row + t.part_rows[i]) * t.cols));
            row += t.part_rows[i];
        }
    }
    ref::check_weights(m.cfg, m.w);
    return m;
}

// ---------------------------------------------------------------- instrumented forward

InstrumentedModel::InstrumentedModel(const ref::RefConfig& cfg, const ref::RefWeights& w,
                                     const Smoothing* smoothing)
    : cfg_(cfg.normalized()), w_(&w), sm_(smoothing) {
    ref::check_weights(cfg_, w);
    if (sm_) {
        VKRT_CHECK(sm_->layers.size() == cfg_.n_layer, Status::invalid_argument, "InstrumentedModel: smoothing has ",
                   sm_->layers.size(), " layers, the model ", cfg_.n_layer);
        for (const auto& L : sm_->layers) {
            VKRT_CHECK(L[size_t(Site::attn_out)].empty() || L[size_t(Site::attn_out)].size() == cfg_.q_dim(),
                       Status::invalid_argument, "InstrumentedModel: attn_out smoothing has the wrong length");
            VKRT_CHECK(L[size_t(Site::ffn_down_in)].empty() || L[size_t(Site::ffn_down_in)].size() == cfg_.n_ff,
                       Status::invalid_argument, "InstrumentedModel: ffn_down smoothing has the wrong length");
        }
    }
    cache_.init(cfg_);
}

void InstrumentedModel::reset() { cache_.clear(); }

std::vector<float> InstrumentedModel::forward(std::span<const int32_t> tokens, int32_t start_pos,
                                              const ActHook& hook) {
    // x (M,K) /= s (K) per column at attn_out / ffn_down_in (float division, as the
    // runtime's quantizer does with a file's .smooth), then the caller's hook.
    ref::LinearInputHook h = [&](uint32_t l, Site s, std::vector<float>& x, size_t M, size_t K) {
        if (sm_ && (s == Site::attn_out || s == Site::ffn_down_in)) {
            const std::vector<float>& f = sm_->layers[l][size_t(s)];
            if (!f.empty())
                for (size_t m = 0; m < M; ++m)
                    for (size_t k = 0; k < K; ++k) x[m * K + k] /= f[k];
        }
        if (hook) hook(l, s, x, M, K);
    };
    return ref::forward(cfg_, *w_, cache_, tokens, start_pos, h);
}

// ---------------------------------------------------------------- histogram

AbsHistogram::AbsHistogram(uint32_t bins) : counts_(bins, 0.0) {
    VKRT_CHECK(bins >= 16 && bins % 2 == 0, Status::invalid_argument, "AbsHistogram: ", bins,
               " bins (need an even number >= 16)");
}

double AbsHistogram::total() const {
    double t = zeros_pending_;
    for (double c : counts_) t += c;
    return t;
}

// The range grows by powers of two, so re-binning merges pairs of bins exactly.
void AbsHistogram::rebin(double new_range) {
    const size_t B = counts_.size();
    while (range_ < new_range) {
        std::vector<double> merged(B, 0.0);
        for (size_t i = 0; i < B; ++i) merged[i / 2] += counts_[i];
        counts_.swap(merged);
        range_ *= 2;
    }
}

void AbsHistogram::add(const float* x, size_t n) {
    float bmax = 0;
    for (size_t i = 0; i < n; ++i) {
        const float a = std::fabs(x[i]);
        VKRT_CHECK(std::isfinite(a), Status::invalid_argument, "AbsHistogram: non-finite value ", x[i]);
        bmax = std::max(bmax, a);
    }
    amax_ = std::max(amax_, bmax);
    if (range_ == 0) {
        if (bmax == 0) {
            zeros_pending_ += double(n);
            return;
        }
        range_ = double(bmax);
        counts_[0] += zeros_pending_;
        zeros_pending_ = 0;
    } else if (double(bmax) > range_) {
        rebin(double(bmax));
    }
    const size_t B = counts_.size();
    const double inv_w = double(B) / range_;
    for (size_t i = 0; i < n; ++i) {
        size_t b = size_t(double(std::fabs(x[i])) * inv_w);
        counts_[std::min(b, B - 1)] += 1.0;
    }
}

Calibrator parse_calibrator(const std::string& s) {
    if (s == "max") return Calibrator::max;
    if (s == "percentile") return Calibrator::percentile;
    if (s == "mse") return Calibrator::mse;
    if (s == "entropy") return Calibrator::entropy;
    fail(Status::invalid_argument, "calibrator '", s, "' is not known (max, percentile, mse, entropy)");
}

const char* calibrator_name(Calibrator c) {
    switch (c) {
        case Calibrator::max: return "max";
        case Calibrator::percentile: return "percentile";
        case Calibrator::mse: return "mse";
        case Calibrator::entropy: return "entropy";
    }
    return "?";
}

double calib_max(const AbsHistogram& h) { return double(h.amax()); }

double calib_percentile(const AbsHistogram& h, double percentile) {
    VKRT_CHECK(percentile > 0 && percentile <= 100, Status::invalid_argument, "percentile ", percentile,
               " is outside (0, 100]");
    if (h.range() == 0) return 0;
    const auto& c = h.counts();
    const double target = h.total() * percentile / 100.0;
    double cum = 0;
    for (size_t i = 0; i < c.size(); ++i) {
        if (c[i] > 0 && cum + c[i] >= target) {
            const double frac = std::clamp((target - cum) / c[i], 0.0, 1.0);
            return std::min(double(h.amax()), (double(i) + frac) * h.bin_width());
        }
        cum += c[i];
    }
    return double(h.amax());
}

namespace {
// Integral over [0, x] of the squared rounding error (t - step*round(t/step))^2, x >= 0.
double rounding_err_integral(double x, double step) {
    const double periods = std::floor(x / step);
    const double r = x - periods * step;
    const double s3 = step * step * step;
    double g;
    if (r <= step / 2) {
        g = r * r * r / 3;
    } else {
        const double d = r - step;
        g = s3 / 24 + (d * d * d + s3 / 8) / 3;
    }
    return periods * s3 / 12 + g;
}
}  // namespace

double calib_mse(const AbsHistogram& h, int levels) {
    VKRT_CHECK(levels >= 1, Status::invalid_argument, "calib_mse: levels ", levels);
    if (h.range() == 0) return 0;
    const auto& c = h.counts();
    const size_t B = c.size();
    const double w = h.bin_width();
    // Only bins up to the one holding amax can hold data.
    const size_t used = std::min(B, size_t(double(h.amax()) / w) + 1);
    double best_err = std::numeric_limits<double>::infinity(), best_t = double(h.amax());
    // Candidates: bin edges k*w (k = 1..used) and amax itself. Values in a bin are taken
    // as uniform over it: expected squared error of rounding (inside [0, T]) or of
    // clipping to T (above T).
    for (size_t k = 1; k <= used + 1; ++k) {
        const double T = k <= used ? double(k) * w : double(h.amax());
        const double step = T / double(levels);
        double err = 0;
        for (size_t i = 0; i < used; ++i) {
            if (c[i] == 0) continue;
            const double a = double(i) * w, b = a + w;
            double e = 0;
            if (a < T) e += rounding_err_integral(std::min(b, T), step) - rounding_err_integral(a, step);
            if (b > T) {
                const double lo = std::max(a, T) - T, hi = b - T;
                e += (hi * hi * hi - lo * lo * lo) / 3;
            }
            err += c[i] * e / w;
        }
        if (err <= best_err) {  // ties: the larger T
            best_err = err;
            best_t = T;
        }
    }
    return std::min(best_t, double(h.amax()));
}

double calib_entropy(const AbsHistogram& h, int levels) {
    VKRT_CHECK(levels >= 2, Status::invalid_argument, "calib_entropy: levels ", levels);
    if (h.range() == 0) return 0;
    std::vector<double> bins = h.counts();
    const size_t B = bins.size();
    const size_t nq = size_t(levels);
    if (B <= nq) return double(h.amax());
    bins[0] = bins[1];  // as TensorRT / pytorch-quantization: the zero bin does not drive the choice
    const double w = h.bin_width();
    const size_t used = std::min(B, size_t(double(h.amax()) / w) + 1);
    std::vector<double> suffix(B + 1, 0.0);
    for (size_t i = B; i-- > 0;) suffix[i] = suffix[i + 1] + bins[i];
    double best = std::numeric_limits<double>::infinity();
    size_t best_i = std::max(nq, used);
    std::vector<double> p, q;
    const size_t stop = std::max(nq, used);
    for (size_t i = nq; i <= stop; ++i) {
        // P: the first i bins, the tail folded into the last one.
        p.assign(bins.begin(), bins.begin() + int64_t(i));
        p[i - 1] += suffix[i];
        // Q: bins[0:i] merged into nq levels, each level spread over its non-empty bins.
        q.assign(i, 0.0);
        for (size_t j = 0; j < nq; ++j) {
            const size_t b0 = j * i / nq, b1 = (j + 1) * i / nq;
            double sum = 0;
            size_t nz = 0;
            for (size_t b = b0; b < b1; ++b) {
                sum += bins[b];
                nz += bins[b] != 0;
            }
            if (nz == 0) continue;
            for (size_t b = b0; b < b1; ++b)
                if (bins[b] != 0) q[b] = sum / double(nz);
        }
        double ps = 0, qs = 0;
        for (size_t b = 0; b < i; ++b) {
            ps += p[b];
            qs += q[b];
        }
        if (ps <= 0 || qs <= 0) continue;
        double kl = 0;
        for (size_t b = 0; b < i; ++b) {
            if (p[b] <= 0) continue;
            const double pb = p[b] / ps, qb = q[b] / qs;
            if (qb <= 0) {
                kl = std::numeric_limits<double>::infinity();
                break;
            }
            kl += pb * std::log(pb / qb);
        }
        if (kl <= best) {  // ties: the larger threshold (as the reference's last argmin)
            best = kl;
            best_i = i;
        }
    }
    return std::min(double(best_i) * w, double(h.amax()));
}

double calibrate_threshold(const AbsHistogram& h, Calibrator c, double percentile) {
    switch (c) {
        case Calibrator::max: return calib_max(h);
        case Calibrator::percentile: return calib_percentile(h, percentile);
        case Calibrator::mse: return calib_mse(h);
        case Calibrator::entropy: return calib_entropy(h);
    }
    return calib_max(h);
}

// ---------------------------------------------------------------- data

size_t CalibData::tokens() const {
    size_t n = 0;
    for (const auto& s : seqs) n += s.size();
    return n;
}

std::string read_text_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    VKRT_CHECK(in.good(), Status::io_error, "cannot open calibration text '", path, "'");
    std::ostringstream os;
    os << in.rdbuf();
    return os.str();
}

CalibData calibration_sequences(const gguf::File& f, const std::string& text, size_t n_tokens, size_t skip_tokens,
                                size_t seq_len) {
    VKRT_CHECK(n_tokens >= 2 && seq_len >= 2, Status::invalid_argument, "calibration: need at least 2 tokens (got ",
               n_tokens, ")");
    Tokenizer tok = Tokenizer::from_gguf(f);
    std::vector<int32_t> ids = tok.encode(text, true, false);
    CalibData d;
    d.text_tokens = ids.size();
    d.skipped_tokens = skip_tokens;
    const size_t len = std::min(seq_len, n_tokens);
    VKRT_CHECK(ids.size() >= skip_tokens + len, Status::invalid_argument, "calibration text has ", ids.size(),
               " tokens: none left for a sequence of ", len, " after the ", skip_tokens,
               " tokens that evaluation uses");
    const size_t avail = (ids.size() - skip_tokens) / len;
    const size_t n_seq = std::max<size_t>(1, std::min(avail, n_tokens / len));
    for (size_t s = 0; s < n_seq; ++s) {
        const size_t start = skip_tokens + s * len;
        std::vector<int32_t> seq(ids.begin() + int64_t(start), ids.begin() + int64_t(start + len));
        if (tok.bos() >= 0) seq[0] = tok.bos();
        d.seqs.push_back(std::move(seq));
    }
    return d;
}

CalibStats collect_stats(const FloatLlama& m, const Smoothing* smoothing, const CalibData& data,
                         const CalibOptions& opt, const CalibProgress& progress) {
    VKRT_CHECK(!data.seqs.empty(), Status::invalid_argument, "calibration: no sequences");
    size_t max_len = 0;
    for (const auto& s : data.seqs) max_len = std::max(max_len, s.size());
    ref::RefConfig cfg = m.cfg;
    cfg.n_ctx = uint32_t(max_len);
    InstrumentedModel model(cfg, m.w, smoothing);

    CalibStats st;
    st.layers.resize(cfg.n_layer);
    for (auto& L : st.layers)
        for (auto& a : L) a.hist = AbsHistogram(opt.hist_bins);
    const size_t total = data.tokens();
    st.tokens = total;
    const size_t stride = opt.capture_rows ? std::max<size_t>(1, (total + opt.capture_rows - 1) / opt.capture_rows) : 0;
    size_t base = 0;  // global index of the current sequence's first token

    ActHook hook = [&](uint32_t l, Site s, std::span<const float> x, size_t M, size_t K) {
        if ((opt.layer >= 0 && l != uint32_t(opt.layer)) || !((opt.sites >> uint32_t(s)) & 1u)) return;
        ActStats& a = st.at(l, s);
        if (a.K == 0) {
            a.K = K;
            a.chan_absmax.assign(K, 0.0f);
            a.chan_sumsq.assign(K, 0.0);
            if (opt.hessian) a.xtx.assign(K * K, 0.0);
        }
        a.rows += M;
        for (size_t r = 0; r < M; ++r) {
            const float* row = x.data() + r * K;
            for (size_t k = 0; k < K; ++k) {
                a.chan_absmax[k] = std::max(a.chan_absmax[k], std::fabs(row[k]));
                a.chan_sumsq[k] += double(row[k]) * double(row[k]);
                a.min = std::min(a.min, row[k]);
                a.max = std::max(a.max, row[k]);
            }
            if (opt.hessian)  // upper triangle here, mirrored by the reader (symmetric)
                for (size_t i = 0; i < K; ++i) {
                    if (row[i] == 0.0f) continue;
                    const double xi = row[i];
                    double* h = a.xtx.data() + i * K;
                    for (size_t j = i; j < K; ++j) h[j] += xi * double(row[j]);
                }
            const size_t g = base + r;
            if (stride && g % stride == 0 && a.captured_rows < opt.capture_rows) {
                a.captured.insert(a.captured.end(), row, row + K);
                ++a.captured_rows;
            }
        }
        a.hist.add(x.data(), M * K);
    };
    for (size_t i = 0; i < data.seqs.size(); ++i) {
        model.reset();
        model.forward(data.seqs[i], 0, hook);
        base += data.seqs[i].size();
        if (progress) progress(i + 1, data.seqs.size());
    }
    return st;
}

void calibrate_sequential(FloatLlama& m, const CalibData& data, CalibOptions opt, bool true_sequential,
                          const SiteQuantizer& quantize, const CalibProgress& progress) {
    const uint32_t n_stages = m.cfg.n_layer * (true_sequential ? uint32_t(kSites) : 1u);
    const size_t n_seq = data.seqs.size();
    for (uint32_t stage = 0; stage < n_stages; ++stage) {
        const uint32_t l = true_sequential ? stage / uint32_t(kSites) : stage;
        opt.layer = int32_t(l);
        opt.sites = true_sequential ? 1u << (stage % kSites) : (1u << kSites) - 1;
        // The stage's inputs through the layers (and sites) quantized so far. Layers after l do
        // not change them: the pass runs the model cut after layer l (its later layers moved out
        // and back; the same sums as the whole model's, bit for bit).
        std::vector<ref::RefLayer> later(std::make_move_iterator(m.w.layers.begin() + l + 1),
                                         std::make_move_iterator(m.w.layers.end()));
        m.w.layers.resize(l + 1);
        const uint32_t n_layer = m.cfg.n_layer;
        m.cfg.n_layer = l + 1;
        std::vector<bool> swa = m.cfg.swa_layers;
        if (!m.cfg.swa_layers.empty()) m.cfg.swa_layers.resize(l + 1);
        CalibStats st;
        std::exception_ptr err;
        try {
            st = collect_stats(m, nullptr, data, opt, [&](size_t d, size_t) {
                if (progress) progress(size_t(stage) * n_seq + d, size_t(n_stages) * n_seq);
            });
        } catch (...) {
            err = std::current_exception();
        }
        m.cfg.n_layer = n_layer;
        m.cfg.swa_layers = std::move(swa);
        for (ref::RefLayer& L : later) m.w.layers.push_back(std::move(L));
        if (err) std::rethrow_exception(err);
        for (size_t s = 0; s < kSites; ++s)
            if ((opt.sites >> s) & 1u) quantize(l, Site(s), st.at(l, Site(s)), m.w);
    }
}

}  // namespace vkrt::quant
