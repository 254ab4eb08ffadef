#include "quant/sensitivity.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <sstream>

#include "arch/arch.hpp"
#include "core/error.hpp"
#include "core/quant.hpp"
#include "quant/scale_search.hpp"
#include "ref/reference.hpp"

namespace vkrt::quant {

std::vector<Format> sensitivity_formats() {
    std::vector<Format> out;
    for (const fmt::Traits& t : fmt::all()) {
        if (!t.quantize_weighted || !t.dequantize || !t.kernels) continue;  // written and run by vkrt
        if (double(t.block_bytes) * 8.0 / double(t.block_elems) >= 32.0) continue;  // F32: nothing saved
        out.push_back(t.type);
    }
    return out;
}

double w8a8_bits_per_weight(size_t K) { return 8.0 + 32.0 / double(std::max<size_t>(K, 1)); }

std::optional<double> SensitivityEntry::err(Format f) const {
    for (const FormatError& e : formats)
        if (e.format == f) return e.err;
    return std::nullopt;
}

std::vector<float> fake_quant_weight(std::span<const float> w, size_t N, size_t K, Format f, bool mse_q4,
                                     const float* imp, const float* hessian) {
    VKRT_CHECK(w.size() == N * K, Status::invalid_argument, "fake_quant_weight: ", w.size(), " floats for ", N, "x",
               K);
    const fmt::Traits& t = fmt::traits(f);
    VKRT_CHECK(K % t.block_elems == 0, Status::invalid_argument, "fake_quant_weight: rows of ", K, " do not fit ",
               t.name);
    std::vector<float> out(N * K);
    std::vector<uint8_t> buf(size_t(fmt::row_bytes(f, K)));
    for (size_t o = 0; o < N; ++o) {
        const float* src = w.data() + o * K;
        if (mse_q4 && f == Format::Q4_0)
            quantize_row_q4_0_mse(src, buf.data(), K);
        else if (imp)
            quantize_row_importance(f, src, buf.data(), K, imp, hessian);
        else
            fmt::quantize_row_weighted(f, src, buf.data(), K, nullptr);
        fmt::dequantize_row(f, buf.data(), out.data() + o * K, K);
    }
    return out;
}

namespace {
double relative_error(const std::vector<float>& y, const std::vector<float>& yq) {
    double num = 0, den = 0;
    for (size_t i = 0; i < y.size(); ++i) {
        const double d = double(y[i]) - double(yq[i]);
        num += d * d;
        den += double(y[i]) * double(y[i]);
    }
    return den > 0 ? std::sqrt(num / den) : (num > 0 ? 1.0 : 0.0);
}
}  // namespace

double relative_output_error(std::span<const float> x, size_t M, std::span<const float> w,
                             std::span<const float> wq, size_t N, size_t K) {
    VKRT_CHECK(x.size() == M * K && w.size() == N * K && wq.size() == N * K, Status::invalid_argument,
               "relative_output_error: sizes ", x.size(), ", ", w.size(), ", ", wq.size(), " for M ", M, ", N ", N,
               ", K ", K);
    return relative_error(ref::matmul_f32(x, w, M, N, K), ref::matmul_f32(x, wq, M, N, K));
}

double relative_output_error_w8a8(std::span<const float> x, size_t M, std::span<const float> w, size_t N, size_t K,
                                  std::span<const float> smooth) {
    VKRT_CHECK(x.size() == M * K && w.size() == N * K, Status::invalid_argument,
               "relative_output_error_w8a8: sizes ", x.size(), ", ", w.size(), " for M ", M, ", N ", N, ", K ", K);
    VKRT_CHECK(smooth.empty() || smooth.size() == K, Status::invalid_argument,
               "relative_output_error_w8a8: smoothing of length ", smooth.size(), " for K = ", K);
    std::vector<float> xs(x.begin(), x.end()), ws(w.begin(), w.end());
    if (!smooth.empty()) {
        for (size_t m = 0; m < M; ++m)
            for (size_t k = 0; k < K; ++k) xs[m * K + k] /= smooth[k];
        for (size_t o = 0; o < N; ++o)
            for (size_t k = 0; k < K; ++k) ws[o * K + k] *= smooth[k];
    }
    // Dynamic per-token activations: each row of X' quantized with its own absmax; weights
    // per output channel.
    std::vector<int8_t> q(K);
    for (size_t m = 0; m < M; ++m) {
        const float s = ref::quantize_row_i8(xs.data() + m * K, K, q.data());
        for (size_t k = 0; k < K; ++k) xs[m * K + k] = float(q[k]) * s;
    }
    for (size_t o = 0; o < N; ++o) {
        const float s = ref::quantize_row_i8(ws.data() + o * K, K, q.data());
        for (size_t k = 0; k < K; ++k) ws[o * K + k] = float(q[k]) * s;
    }
    return relative_error(ref::matmul_f32(x, w, M, N, K), ref::matmul_f32(xs, ws, M, N, K));
}

std::vector<SensitivityEntry> analyze_sensitivity(const FloatLlama& m, const CalibStats& st,
                                                  const Smoothing* sm, const SensitivityEncoding& enc,
                                                  const std::function<void(size_t, size_t)>& progress) {
    const ref::RefConfig& c = m.cfg;
    VKRT_CHECK(st.layers.size() == c.n_layer, Status::invalid_argument, "analyze_sensitivity: stats of ",
               st.layers.size(), " layers for ", c.n_layer);
    // The block linears of the description (runtime/arch), fused tensors as stored.
    std::vector<arch::TensorDesc> lins;
    for (arch::TensorDesc& t : arch::tensor_table(c.normalized()))
        if (t.kind == arch::Kind::linear) lins.push_back(std::move(t));
    std::vector<SensitivityEntry> out;
    const size_t total = lins.size();
    for (const arch::TensorDesc& lin : lins) {
        const uint32_t l = uint32_t(lin.layer);
        const ActStats& a = st.at(l, lin.site);
        VKRT_CHECK(a.captured_rows > 0 && a.K > 0, Status::invalid_argument,
                   "analyze_sensitivity: no captured inputs for layer ", l, " ", site_name(lin.site));
        std::vector<float> w;
        for (arch::Role r : lin.parts) {
            const std::vector<float>& part = m.w.at(r, lin.layer);
            w.insert(w.end(), part.begin(), part.end());
        }
        SensitivityEntry e;
        e.name = lin.name;
        e.n_in = a.K;
        e.n_out = w.size() / a.K;
        e.rows_used = a.captured_rows;
        std::span<const float> smooth;
        if (sm && l < sm->layers.size()) smooth = sm->layers[l][size_t(lin.site)];
        // The importance search's inputs: mean x^2 per column (and mean x x^T where collected).
        std::vector<float> imp, hess;
        if (enc.importance && a.rows > 0) {
            imp.resize(a.K);
            for (size_t j = 0; j < a.K; ++j) imp[j] = float(a.chan_sumsq[j] / double(a.rows));
            if (!a.xtx.empty()) {
                hess.resize(a.K * a.K);
                for (size_t i = 0; i < a.K; ++i)
                    for (size_t j = i; j < a.K; ++j)
                        hess[i * a.K + j] = hess[j * a.K + i] = float(a.xtx[i * a.K + j] / double(a.rows));
            }
        }
        for (Format f : sensitivity_formats()) {
            if (e.n_in % fmt::traits(f).block_elems != 0) continue;
            const std::vector<float> wq = fake_quant_weight(w, e.n_out, e.n_in, f, enc.mse_q4,
                                                            imp.empty() ? nullptr : imp.data(),
                                                            hess.empty() ? nullptr : hess.data());
            e.formats.push_back({f, double(fmt::row_bytes(f, e.n_in)) * 8.0 / double(e.n_in),
                                 relative_output_error(a.captured, a.captured_rows, w, wq, e.n_out, e.n_in)});
        }
        e.err_w8a8 = relative_output_error_w8a8(a.captured, a.captured_rows, w, e.n_out, e.n_in, smooth);
        out.push_back(std::move(e));
        if (progress) progress(out.size(), total);
    }
    return out;
}

BudgetChoice choose_formats(const std::vector<SensitivityEntry>& entries, double budget) {
    VKRT_CHECK(!entries.empty(), Status::invalid_argument, "choose_formats: no tensors");
    VKRT_CHECK(std::isfinite(budget) && budget > 0, Status::invalid_argument, "--budget-bits ", budget,
               " is not a positive number");
    // Ladder per tensor: the lower convex hull of its (bits, err) points, smallest bits first.
    struct State { std::vector<FormatError> ladder; size_t at = 0; double n = 0; };
    std::vector<State> s(entries.size());
    double total_n = 0, total_bits = 0;
    for (size_t i = 0; i < entries.size(); ++i) {
        const SensitivityEntry& e = entries[i];
        VKRT_CHECK(!e.formats.empty(), Status::invalid_argument, "choose_formats: no format fits '", e.name, "'");
        std::vector<FormatError> pts = e.formats;
        std::stable_sort(pts.begin(), pts.end(), [](const FormatError& a, const FormatError& b) {
            return a.bits != b.bits ? a.bits < b.bits : a.err < b.err;
        });
        std::vector<FormatError>& h = s[i].ladder;
        for (const FormatError& p : pts) {
            if (!h.empty() && (p.bits == h.back().bits || p.err >= h.back().err)) continue;  // no better for its bits
            // Pop points above the segment from the one before them to p (not convex).
            while (h.size() >= 2) {
                const FormatError &a = h[h.size() - 2], &b = h.back();
                if ((b.err - a.err) * (p.bits - a.bits) >= (p.err - a.err) * (b.bits - a.bits))
                    h.pop_back();
                else
                    break;
            }
            h.push_back(p);
        }
        s[i].n = double(e.n_in) * double(e.n_out);
        total_n += s[i].n;
        total_bits += s[i].n * h[0].bits;
    }
    const double smallest = total_bits / total_n;
    VKRT_CHECK(budget + 1e-9 >= smallest, Status::invalid_argument, "--budget-bits ", budget,
               " is below the smallest possible average of ", smallest, " bits/weight for these tensors");
    for (;;) {
        double best_gain = -std::numeric_limits<double>::infinity();
        size_t best = SIZE_MAX;
        double best_add = 0;
        for (size_t i = 0; i < s.size(); ++i) {
            if (s[i].at + 1 >= s[i].ladder.size()) continue;
            const FormatError &cur = s[i].ladder[s[i].at], &nxt = s[i].ladder[s[i].at + 1];
            const double add = s[i].n * (nxt.bits - cur.bits);
            if ((total_bits + add) / total_n > budget + 1e-9) continue;
            const double gain = (cur.err - nxt.err) / add;
            if (gain > best_gain) {
                best_gain = gain;
                best = i;
                best_add = add;
            }
        }
        if (best == SIZE_MAX) break;
        ++s[best].at;
        total_bits += best_add;
    }
    BudgetChoice c;
    c.budget = budget;
    c.avg_bits = total_bits / total_n;
    for (size_t i = 0; i < s.size(); ++i) c.types[entries[i].name] = s[i].ladder[s[i].at].format;
    return c;
}

std::string sensitivity_markdown(const std::vector<SensitivityEntry>& entries, const BudgetChoice* choice,
                                 const std::string& info) {
    std::ostringstream os;
    os << "# Quantization sensitivity\n\n" << info << "\n\n";
    os << "Relative output error ||XW^T - X'W'^T|| / ||XW^T|| on captured calibration inputs X. "
          "Block and float formats: weight-only (X' = X), encoded as the file will be; W8A8: "
          "per-output-channel int8 weights and per-token dynamic int8 activations (after SmoothQuant "
          "when enabled). `-`: rows do not fit the format's blocks.\n\n";
    const std::vector<Format> fs = sensitivity_formats();
    os << "| tensor | n_in x n_out | rows |";
    for (Format f : fs) os << " " << fmt::name(f) << " |";
    os << " W8A8 |";
    if (choice) os << " chosen |";
    os << "\n| --- | --- | --- |";
    for (size_t f = 0; f <= fs.size(); ++f) os << " ---: |";
    if (choice) os << " --- |";
    os << "\n";
    char buf[64];
    auto cell = [&](std::optional<double> v) {
        if (!v) return std::string(" - |");
        std::snprintf(buf, sizeof buf, " %.3e |", *v);
        return std::string(buf);
    };
    for (const SensitivityEntry& e : entries) {
        os << "| " << e.name << " | " << e.n_in << " x " << e.n_out << " | " << e.rows_used << " |";
        for (Format f : fs) os << cell(e.err(f));
        os << cell(e.err_w8a8);
        if (choice) {
            auto it = choice->types.find(e.name);
            os << " " << (it == choice->types.end() ? "?" : fmt::name(it->second)) << " |";
        }
        os << "\n";
    }
    // Means per format over the tensors it fits (unweighted), for a quick overview.
    os << "| **mean** | | |";
    for (Format f : fs) {
        double m = 0;
        size_t n = 0;
        for (const auto& e : entries)
            if (auto v = e.err(f)) m += *v, ++n;
        os << cell(n ? std::optional<double>(m / double(n)) : std::nullopt);
    }
    {
        double m = 0;
        for (const auto& e : entries) m += e.err_w8a8;
        os << cell(m / double(std::max<size_t>(entries.size(), 1)));
    }
    if (choice) os << " |";
    os << "\n";
    if (choice) {
        std::snprintf(buf, sizeof buf, "%.3f", choice->avg_bits);
        os << "\nBudget " << choice->budget << " bits/weight: chosen average " << buf
           << " bits/weight over the linear tensors (greedy: smallest format first, then the upgrade with the "
              "largest error reduction per added bit along each tensor's convex hull of (bits, error) while the "
              "average stays within the budget).\n";
    }
    return os.str();
}

}  // namespace vkrt::quant
