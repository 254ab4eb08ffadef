#include "quant/scale_search.hpp"

#include <cmath>
#include <cstring>
#include <vector>

#include "core/error.hpp"

namespace vkrt::quant {

double weighted_error(Format f, const float* x, const void* q, size_t k, const float* imp) {
    std::vector<float> y(k);
    fmt::dequantize_row(f, q, y.data(), k);
    double e = 0;
    for (size_t j = 0; j < k; ++j) e += double(imp[j]) * (double(x[j]) - y[j]) * (double(x[j]) - y[j]);
    return e;
}

ImportanceCandidates::ImportanceCandidates(const float* x, size_t k, const float* imp) {
    double s2 = 0;
    for (size_t j = 0; j < k; ++j) s2 += double(x[j]) * x[j];
    s2 /= double(k);
    for (auto& v : w_) v.resize(k);
    for (size_t j = 0; j < k; ++j) {
        const double x2 = double(x[j]) * x[j];
        w_[0][j] = float(imp[j] / std::sqrt(s2 + x2 + 1e-30));
        w_[1][j] = float(imp[j] / std::sqrt(2 * s2 + x2 + 1e-30));
        w_[2][j] = float(std::sqrt(double(imp[j])) / std::sqrt(s2 + x2 + 1e-30));
    }
    ptr_ = {imp, w_[0].data(), w_[1].data(), nullptr, w_[2].data()};
}

void quantize_row_importance(Format f, const float* x, void* dst, size_t k, const float* imp, const float* hessian) {
    const fmt::Traits& t = fmt::traits(f);
    VKRT_CHECK(t.quantize_weighted && t.dequantize, Status::invalid_argument, "quantize_row_importance: type ",
               t.name, " has no encoder");
    const size_t be = t.block_elems, bb = t.block_bytes;
    VKRT_CHECK(be && k % be == 0, Status::invalid_argument, "quantize_row_importance: a row of ", k,
               " is not a multiple of ", t.name, "'s block of ", be);
    if (be == 1) return t.quantize_weighted(x, dst, k, imp);  // floats: nothing to search

    ImportanceCandidates cand(x, k, imp);
    std::vector<double> e(be);
    const size_t rb = k / be * bb;
    // Each weighting through ggml's weighted encoder, then (where the registry has one) through
    // the format's refined search: ggml's bytes come first, so ties keep them.
    const size_t n_enc = t.quantize_refined ? 2 : 1;
    std::vector<uint8_t> q(rb * cand.size() * n_enc);
    std::vector<float> y(k);
    std::vector<double> best(k / be, INFINITY);
    uint8_t* out = static_cast<uint8_t*>(dst);
    for (size_t c = 0; c < cand.size() * n_enc; ++c) {
        uint8_t* qc = q.data() + c * rb;
        (c < cand.size() ? t.quantize_weighted : t.quantize_refined)(x, qc, k, cand[c % cand.size()]);
        t.dequantize(qc, y.data(), k);
        for (size_t b = 0; b < k / be; ++b) {
            const size_t j0 = b * be;
            double err = 0;
            if (hessian) {
                // e_B^T H_BB e_B
                for (size_t i = 0; i < be; ++i) e[i] = double(x[j0 + i]) - y[j0 + i];
                for (size_t i = 0; i < be; ++i) {
                    if (e[i] == 0) continue;
                    const float* h = hessian + (j0 + i) * k + j0;
                    double s = 0;
                    for (size_t j = 0; j < be; ++j) s += double(h[j]) * e[j];
                    err += e[i] * s;
                }
            } else {
                for (size_t j = j0; j < j0 + be; ++j) err += double(imp[j]) * (double(x[j]) - y[j]) * (double(x[j]) - y[j]);
            }
            if (err < best[b]) {  // strict: ties keep the earlier candidate (ggml's imatrix bytes first)
                best[b] = err;
                std::memcpy(out + b * bb, qc + b * bb, bb);
            }
        }
    }
}

}  // namespace vkrt::quant
