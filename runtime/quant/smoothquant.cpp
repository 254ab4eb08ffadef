#include "quant/smoothquant.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"

namespace vkrt::quant {

std::vector<float> weight_column_absmax(std::initializer_list<const std::vector<float>*> ws, size_t K) {
    std::vector<float> m(K, 0.0f);
    for (const std::vector<float>* w : ws) {
        VKRT_CHECK(K > 0 && w->size() % K == 0, Status::invalid_argument, "weight_column_absmax: ", w->size(),
                   " floats are not rows of ", K);
        const size_t N = w->size() / K;
        for (size_t o = 0; o < N; ++o)
            for (size_t j = 0; j < K; ++j) m[j] = std::max(m[j], std::fabs((*w)[o * K + j]));
    }
    return m;
}

std::vector<float> smooth_factors(std::span<const float> act, std::span<const float> wmax, float alpha) {
    VKRT_CHECK(act.size() == wmax.size(), Status::invalid_argument, "smooth_factors: ", act.size(),
               " activation maxima vs ", wmax.size(), " weight columns");
    VKRT_CHECK(alpha >= 0 && alpha <= 1, Status::invalid_argument, "SmoothQuant alpha ", alpha,
               " is outside [0, 1]");
    std::vector<float> s(act.size(), 1.0f);
    for (size_t j = 0; j < act.size(); ++j) {
        if (!(act[j] > 0) || !(wmax[j] > 0)) continue;
        const double v = std::pow(double(act[j]), double(alpha)) / std::pow(double(wmax[j]), 1.0 - double(alpha));
        s[j] = float(std::clamp(v, 1e-5, 1e5));
    }
    return s;
}

Smoothing compute_smoothing(const ref::RefConfig& cfg, const ref::RefWeights& w, const CalibStats& st,
                            float alpha) {
    VKRT_CHECK(st.layers.size() == cfg.n_layer, Status::invalid_argument, "compute_smoothing: stats of ",
               st.layers.size(), " layers for ", cfg.n_layer);
    Smoothing sm;
    sm.alpha = alpha;
    sm.layers.resize(cfg.n_layer);
    for (uint32_t l = 0; l < cfg.n_layer; ++l) {
        const ref::RefLayer& L = w.layers[l];
        auto& out = sm.layers[l];
        auto act = [&](Site s, size_t K) -> const std::vector<float>& {
            const auto& a = st.at(l, s).chan_absmax;
            VKRT_CHECK(a.size() == K, Status::invalid_argument, "compute_smoothing: no statistics for layer ", l,
                       " input ", site_name(s));
            return a;
        };
        const size_t E = cfg.n_embd, Q = cfg.q_dim(), F = cfg.n_ff;
        out[size_t(Site::attn_in)] =
            smooth_factors(act(Site::attn_in, E), weight_column_absmax({&L.wq, &L.wk, &L.wv}, E), alpha);
        out[size_t(Site::attn_out)] = smooth_factors(act(Site::attn_out, Q), weight_column_absmax({&L.wo}, Q), alpha);
        out[size_t(Site::ffn_in)] =
            smooth_factors(act(Site::ffn_in, E), weight_column_absmax({&L.w_gate, &L.w_up}, E), alpha);
        out[size_t(Site::ffn_down_in)] =
            smooth_factors(act(Site::ffn_down_in, F), weight_column_absmax({&L.w_down}, F), alpha);
    }
    return sm;
}

namespace {
void scale_columns(std::vector<float>& w, const std::vector<float>& s) {
    const size_t K = s.size();
    for (size_t o = 0; o < w.size() / K; ++o)
        for (size_t j = 0; j < K; ++j) w[o * K + j] *= s[j];
}
}  // namespace

void apply_smoothing(ref::RefWeights& w, const ref::RefConfig& cfg, const Smoothing& sm) {
    VKRT_CHECK(sm.layers.size() == w.layers.size(), Status::invalid_argument, "apply_smoothing: ",
               sm.layers.size(), " layers of factors for ", w.layers.size());
    for (size_t l = 0; l < w.layers.size(); ++l) {
        ref::RefLayer& L = w.layers[l];
        const auto& s = sm.layers[l];
        if (const auto& a = s[size_t(Site::attn_in)]; !a.empty()) {
            VKRT_CHECK(a.size() == cfg.n_embd, Status::invalid_argument, "apply_smoothing: attn_in length");
            for (size_t j = 0; j < a.size(); ++j) L.attn_norm[j] /= a[j];
            scale_columns(L.wq, a);
            scale_columns(L.wk, a);
            scale_columns(L.wv, a);
        }
        if (const auto& a = s[size_t(Site::attn_out)]; !a.empty()) {
            VKRT_CHECK(a.size() == cfg.q_dim(), Status::invalid_argument, "apply_smoothing: attn_out length");
            scale_columns(L.wo, a);
        }
        if (const auto& a = s[size_t(Site::ffn_in)]; !a.empty()) {
            VKRT_CHECK(a.size() == cfg.n_embd, Status::invalid_argument, "apply_smoothing: ffn_in length");
            for (size_t j = 0; j < a.size(); ++j) L.ffn_norm[j] /= a[j];
            scale_columns(L.w_gate, a);
            scale_columns(L.w_up, a);
        }
        if (const auto& a = s[size_t(Site::ffn_down_in)]; !a.empty()) {
            VKRT_CHECK(a.size() == cfg.n_ff, Status::invalid_argument, "apply_smoothing: ffn_down_in length");
            scale_columns(L.w_down, a);
        }
    }
}

}  // namespace vkrt::quant
