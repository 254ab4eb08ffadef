// Calibration: instrumented reference forward pass, |x| histograms, calibrators.
#include "quant/calibrate.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "core/quant.hpp"
#include "model/llama.hpp"
#include "text/tokenizer.hpp"

namespace vkrt::quant {

// ---------------------------------------------------------------- model

FloatLlama load_float_llama(const gguf::File& f, uint32_t n_ctx) {
    LlamaHParams hp = LlamaHParams::from_gguf(f);
    auto tensor = [&](const std::string& name) { return dequantize_tensor(f.tensor(name)); };
    FloatLlama m;
    ref::RefLlamaConfig& cfg = m.cfg;
    cfg.n_layer = hp.n_layer;
    cfg.n_embd = hp.n_embd;
    cfg.n_head = hp.n_head;
    cfg.n_head_kv = hp.n_head_kv;
    cfg.head_dim = hp.head_dim;
    cfg.n_ff = hp.n_ff;
    const gguf::TensorInfo& te = f.tensor("token_embd.weight");
    VKRT_CHECK(te.dims.size() == 2, Status::bad_format, "gguf: token_embd.weight must be 2-D");
    cfg.n_vocab = uint32_t(te.dims[1]);
    cfg.n_ctx = n_ctx;
    cfg.n_rot = hp.n_rot;
    cfg.rope_base = hp.rope_base;
    cfg.rms_eps = hp.rms_eps;
    cfg.rope_mode = ref::RopeMode(uint32_t(hp.rope_mode));
    m.w.tok_embd = tensor("token_embd.weight");
    for (uint32_t l = 0; l < hp.n_layer; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        ref::RefLlamaLayer L;
        L.attn_norm = tensor(p + "attn_norm.weight");
        L.wq = tensor(p + "attn_q.weight");
        L.wk = tensor(p + "attn_k.weight");
        L.wv = tensor(p + "attn_v.weight");
        L.wo = tensor(p + "attn_output.weight");
        L.ffn_norm = tensor(p + "ffn_norm.weight");
        L.w_gate = tensor(p + "ffn_gate.weight");
        L.w_up = tensor(p + "ffn_up.weight");
        L.w_down = tensor(p + "ffn_down.weight");
        m.w.layers.push_back(std::move(L));
    }
    m.w.output_norm = tensor("output_norm.weight");
    if (f.find_tensor("output.weight")) m.w.output = tensor("output.weight");
    ref::check_weights(m.cfg, m.w);
    return m;
}

const char* site_name(Site s) {
    switch (s) {
        case Site::attn_in: return "attn_in";
        case Site::attn_out: return "attn_out";
        case Site::ffn_in: return "ffn_in";
        case Site::ffn_down_in: return "ffn_down_in";
    }
    return "?";
}

// ---------------------------------------------------------------- instrumented forward

InstrumentedLlama::InstrumentedLlama(const ref::RefLlamaConfig& cfg, const ref::RefLlamaWeights& w,
                                     const Smoothing* smoothing)
    : cfg_(cfg), w_(&w), sm_(smoothing) {
    ref::check_weights(cfg_, w);
    if (sm_) {
        VKRT_CHECK(sm_->layers.size() == cfg_.n_layer, Status::invalid_argument, "InstrumentedLlama: smoothing has ",
                   sm_->layers.size(), " layers, the model ", cfg_.n_layer);
        for (const auto& L : sm_->layers) {
            VKRT_CHECK(L[size_t(Site::attn_out)].empty() || L[size_t(Site::attn_out)].size() == cfg_.q_dim(),
                       Status::invalid_argument, "InstrumentedLlama: attn_out smoothing has the wrong length");
            VKRT_CHECK(L[size_t(Site::ffn_down_in)].empty() || L[size_t(Site::ffn_down_in)].size() == cfg_.n_ff,
                       Status::invalid_argument, "InstrumentedLlama: ffn_down smoothing has the wrong length");
        }
    }
    k_cache_.assign(cfg_.n_layer, std::vector<float>(size_t(cfg_.n_ctx) * cfg_.kv_dim(), 0.0f));
    v_cache_.assign(cfg_.n_layer, std::vector<float>(size_t(cfg_.n_ctx) * cfg_.kv_dim(), 0.0f));
}

void InstrumentedLlama::reset() {
    for (auto& c : k_cache_) std::fill(c.begin(), c.end(), 0.0f);
    for (auto& c : v_cache_) std::fill(c.begin(), c.end(), 0.0f);
}

namespace {
// x (M,K) /= s (K) per column (float division, as the runtime's quantizer does).
void divide_columns(std::vector<float>& x, const std::vector<float>& s, size_t M, size_t K) {
    if (s.empty()) return;
    for (size_t m = 0; m < M; ++m)
        for (size_t k = 0; k < K; ++k) x[m * K + k] /= s[k];
}
}  // namespace

std::vector<float> InstrumentedLlama::forward(std::span<const int32_t> tokens, int32_t start_pos,
                                              const ActHook& hook) {
    using namespace vkrt::ref;
    const RefLlamaConfig& c = cfg_;
    const RefLlamaWeights& w = *w_;
    const size_t M = tokens.size();
    VKRT_CHECK(start_pos >= 0, Status::invalid_argument, "InstrumentedLlama::forward: start_pos = ", start_pos);
    VKRT_CHECK(size_t(start_pos) + M <= c.n_ctx, Status::limit_exceeded, "InstrumentedLlama::forward: positions ",
               start_pos, "..", size_t(start_pos) + M, " exceed n_ctx = ", c.n_ctx);
    if (M == 0) return {};
    const size_t E = c.n_embd, Q = c.q_dim(), KV = c.kv_dim(), F = c.n_ff, V = c.n_vocab, hd = c.hd();
    const size_t n_rot = c.n_rot ? c.n_rot : hd;
    std::vector<int32_t> pos(M);
    for (size_t m = 0; m < M; ++m) pos[m] = start_pos + int32_t(m);
    auto call = [&](uint32_t l, Site s, const std::vector<float>& x, size_t K) {
        if (hook) hook(l, s, x, M, K);
    };

    std::span<const uint8_t> table(reinterpret_cast<const uint8_t*>(w.tok_embd.data()),
                                   w.tok_embd.size() * sizeof(float));
    std::vector<float> x = embedding(table, Format::F32, V, E, tokens);
    for (uint32_t l = 0; l < c.n_layer; ++l) {
        const RefLlamaLayer& L = w.layers[l];
        std::vector<float> xn = rmsnorm(x, L.attn_norm, M, E, c.rms_eps);
        call(l, Site::attn_in, xn, E);
        std::vector<float> q = matmul_f32(xn, L.wq, M, Q, E);
        std::vector<float> k = matmul_f32(xn, L.wk, M, KV, E);
        std::vector<float> v = matmul_f32(xn, L.wv, M, KV, E);
        q = rope(q, pos, M, c.n_head, hd, n_rot, c.rope_base, c.rope_mode);
        k = rope(k, pos, M, c.n_head_kv, hd, n_rot, c.rope_base, c.rope_mode);
        kv_store(k, pos, k_cache_[l], M, KV, c.n_ctx);
        kv_store(v, pos, v_cache_[l], M, KV, c.n_ctx);
        std::vector<float> att = attention(q, k_cache_[l], v_cache_[l], pos, M, c.n_head, c.n_head_kv, hd, c.n_ctx);
        if (sm_) divide_columns(att, sm_->layers[l][size_t(Site::attn_out)], M, Q);
        call(l, Site::attn_out, att, Q);
        x = add(x, matmul_f32(att, L.wo, M, E, Q));
        xn = rmsnorm(x, L.ffn_norm, M, E, c.rms_eps);
        call(l, Site::ffn_in, xn, E);
        std::vector<float> g = matmul_f32(xn, L.w_gate, M, F, E);
        std::vector<float> u = matmul_f32(xn, L.w_up, M, F, E);
        std::vector<float> h = swiglu(g, u);
        if (sm_) divide_columns(h, sm_->layers[l][size_t(Site::ffn_down_in)], M, F);
        call(l, Site::ffn_down_in, h, F);
        x = add(x, matmul_f32(h, L.w_down, M, E, F));
    }
    std::vector<float> xn = rmsnorm(x, w.output_norm, M, E, c.rms_eps);
    const std::vector<float>& out = w.output.empty() ? w.tok_embd : w.output;
    return matmul_f32(xn, out, M, V, E);
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
    ref::RefLlamaConfig cfg = m.cfg;
    cfg.n_ctx = uint32_t(max_len);
    InstrumentedLlama model(cfg, m.w, smoothing);

    CalibStats st;
    st.layers.resize(cfg.n_layer);
    for (auto& L : st.layers)
        for (auto& a : L) a.hist = AbsHistogram(opt.hist_bins);
    const size_t total = data.tokens();
    st.tokens = total;
    const size_t stride = opt.capture_rows ? std::max<size_t>(1, (total + opt.capture_rows - 1) / opt.capture_rows) : 0;
    size_t base = 0;  // global index of the current sequence's first token

    ActHook hook = [&](uint32_t l, Site s, std::span<const float> x, size_t M, size_t K) {
        ActStats& a = st.at(l, s);
        if (a.K == 0) {
            a.K = K;
            a.chan_absmax.assign(K, 0.0f);
        }
        for (size_t r = 0; r < M; ++r) {
            const float* row = x.data() + r * K;
            for (size_t k = 0; k < K; ++k) {
                a.chan_absmax[k] = std::max(a.chan_absmax[k], std::fabs(row[k]));
                a.min = std::min(a.min, row[k]);
                a.max = std::max(a.max, row[k]);
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

}  // namespace vkrt::quant
