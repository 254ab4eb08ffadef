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
#include "ref/reference.hpp"

namespace vkrt::quant {

const char* wformat_name(WFormat f) {
    switch (f) {
        case WFormat::q4_0: return "Q4_0";
        case WFormat::q4_0_mse: return "Q4_0 (MSE)";
        case WFormat::q8_0: return "Q8_0";
        case WFormat::f16: return "F16";
        case WFormat::w8a8: return "W8A8";
    }
    return "?";
}

bool format_fits(WFormat f, size_t K) {
    switch (f) {
        case WFormat::q4_0:
        case WFormat::q4_0_mse:
        case WFormat::q8_0: return K % 32 == 0;
        default: return true;
    }
}

double bits_per_weight(WFormat f, size_t K) {
    switch (f) {
        case WFormat::q4_0:
        case WFormat::q4_0_mse: return 18.0 * 8 / 32;
        case WFormat::q8_0: return 34.0 * 8 / 32;
        case WFormat::f16: return 16.0;
        case WFormat::w8a8: return 8.0 + 32.0 / double(std::max<size_t>(K, 1));
    }
    return 32.0;
}

std::vector<float> fake_quant_weight(std::span<const float> w, size_t N, size_t K, WFormat f) {
    VKRT_CHECK(w.size() == N * K, Status::invalid_argument, "fake_quant_weight: ", w.size(), " floats for ", N, "x",
               K);
    VKRT_CHECK(format_fits(f, K), Status::invalid_argument, "fake_quant_weight: rows of ", K, " do not fit ",
               wformat_name(f));
    std::vector<float> out(N * K);
    std::vector<uint8_t> buf(std::max<size_t>(K * 4, 64));
    std::vector<int8_t> q(K);
    for (size_t o = 0; o < N; ++o) {
        const float* src = w.data() + o * K;
        float* dst = out.data() + o * K;
        switch (f) {
            case WFormat::q4_0:
                quantize_row_q4_0(src, buf.data(), K);
                fmt::dequantize_row(Format::Q4_0, buf.data(), dst, K);
                break;
            case WFormat::q4_0_mse:
                quantize_row_q4_0_mse(src, buf.data(), K);
                fmt::dequantize_row(Format::Q4_0, buf.data(), dst, K);
                break;
            case WFormat::q8_0:
                quantize_row_q8_0(src, buf.data(), K);
                fmt::dequantize_row(Format::Q8_0, buf.data(), dst, K);
                break;
            case WFormat::f16:
                quantize_row_f16(src, buf.data(), K);
                fmt::dequantize_row(Format::F16, buf.data(), dst, K);
                break;
            case WFormat::w8a8: {
                const float s = ref::quantize_row_i8(src, K, q.data());
                for (size_t k = 0; k < K; ++k) dst[k] = float(q[k]) * s;
                break;
            }
        }
    }
    return out;
}

double relative_output_error(std::span<const float> x, size_t M, std::span<const float> w, size_t N, size_t K,
                             WFormat f, std::span<const float> smooth) {
    VKRT_CHECK(x.size() == M * K, Status::invalid_argument, "relative_output_error: x has ", x.size(),
               " floats, expected ", M * K);
    VKRT_CHECK(smooth.empty() || smooth.size() == K, Status::invalid_argument,
               "relative_output_error: smoothing of length ", smooth.size(), " for K = ", K);
    const std::vector<float> y = ref::matmul_f32(x, w, M, N, K);
    std::vector<float> yq;
    if (f == WFormat::w8a8) {
        std::vector<float> xs(x.begin(), x.end()), ws(w.begin(), w.end());
        if (!smooth.empty()) {
            for (size_t m = 0; m < M; ++m)
                for (size_t k = 0; k < K; ++k) xs[m * K + k] /= smooth[k];
            for (size_t o = 0; o < N; ++o)
                for (size_t k = 0; k < K; ++k) ws[o * K + k] *= smooth[k];
        }
        // Dynamic per-token activations: each row of X' quantized with its own absmax.
        std::vector<int8_t> q(K);
        for (size_t m = 0; m < M; ++m) {
            const float s = ref::quantize_row_i8(xs.data() + m * K, K, q.data());
            for (size_t k = 0; k < K; ++k) xs[m * K + k] = float(q[k]) * s;
        }
        yq = ref::matmul_f32(xs, fake_quant_weight(ws, N, K, f), M, N, K);
    } else {
        const WFormat g = format_fits(f, K) ? f : WFormat::f16;
        yq = ref::matmul_f32(x, fake_quant_weight(w, N, K, g), M, N, K);
    }
    double num = 0, den = 0;
    for (size_t i = 0; i < y.size(); ++i) {
        const double d = double(y[i]) - double(yq[i]);
        num += d * d;
        den += double(y[i]) * double(y[i]);
    }
    return den > 0 ? std::sqrt(num / den) : (num > 0 ? 1.0 : 0.0);
}

std::vector<SensitivityEntry> analyze_sensitivity(const FloatLlama& m, const CalibStats& st,
                                                  const Smoothing* sm,
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
        for (size_t f = 0; f < kWFormats; ++f) {
            e.fits[f] = format_fits(WFormat(f), e.n_in);
            e.err[f] = relative_output_error(a.captured, a.captured_rows, w, e.n_out, e.n_in, WFormat(f),
                                             WFormat(f) == WFormat::w8a8 ? smooth : std::span<const float>{});
        }
        out.push_back(std::move(e));
        if (progress) progress(out.size(), total);
    }
    return out;
}

BudgetChoice choose_formats(const std::vector<SensitivityEntry>& entries, double budget, bool mse_q4) {
    VKRT_CHECK(!entries.empty(), Status::invalid_argument, "choose_formats: no tensors");
    VKRT_CHECK(std::isfinite(budget) && budget > 0, Status::invalid_argument, "--budget-bits ", budget,
               " is not a positive number");
    const WFormat q4 = mse_q4 ? WFormat::q4_0_mse : WFormat::q4_0;
    // Ladder per tensor: the block formats that fit, smallest first, then F16.
    struct State { std::vector<WFormat> ladder; size_t at = 0; double n = 0; };
    std::vector<State> s(entries.size());
    double total_n = 0, total_bits = 0;
    for (size_t i = 0; i < entries.size(); ++i) {
        const SensitivityEntry& e = entries[i];
        for (WFormat f : {q4, WFormat::q8_0, WFormat::f16})
            if (format_fits(f, e.n_in)) s[i].ladder.push_back(f);
        s[i].n = double(e.n_in) * double(e.n_out);
        total_n += s[i].n;
        total_bits += s[i].n * bits_per_weight(s[i].ladder[0], e.n_in);
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
            const WFormat cur = s[i].ladder[s[i].at], nxt = s[i].ladder[s[i].at + 1];
            const double add = s[i].n * (bits_per_weight(nxt, entries[i].n_in) - bits_per_weight(cur, entries[i].n_in));
            if ((total_bits + add) / total_n > budget + 1e-9) continue;
            const double gain = (entries[i].err[size_t(cur)] - entries[i].err[size_t(nxt)]) / add;
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
    for (size_t i = 0; i < s.size(); ++i) {
        const WFormat f = s[i].ladder[s[i].at];
        c.types[entries[i].name] = f == WFormat::f16 ? gguf::TensorType::F16
                                   : f == WFormat::q8_0 ? gguf::TensorType::Q8_0
                                                        : gguf::TensorType::Q4_0;
    }
    return c;
}

std::string sensitivity_markdown(const std::vector<SensitivityEntry>& entries, const BudgetChoice* choice,
                                 const std::string& info) {
    std::ostringstream os;
    os << "# Quantization sensitivity\n\n" << info << "\n\n";
    os << "Relative output error ||XW^T - X'W'^T|| / ||XW^T|| on captured calibration inputs X. "
          "Q4_0/Q8_0/F16: weight-only (X' = X); W8A8: per-output-channel int8 weights and per-token "
          "dynamic int8 activations (after SmoothQuant when enabled). `(F16)`: rows do not fit the "
          "32-element blocks, the tensor falls back to F16.\n\n";
    os << "| tensor | n_in x n_out | rows |";
    for (size_t f = 0; f < kWFormats; ++f) os << " " << wformat_name(WFormat(f)) << " |";
    if (choice) os << " chosen |";
    os << "\n| --- | --- | --- |";
    for (size_t f = 0; f < kWFormats; ++f) os << " ---: |";
    if (choice) os << " --- |";
    os << "\n";
    char buf[64];
    for (const SensitivityEntry& e : entries) {
        os << "| " << e.name << " | " << e.n_in << " x " << e.n_out << " | " << e.rows_used << " |";
        for (size_t f = 0; f < kWFormats; ++f) {
            std::snprintf(buf, sizeof buf, "%.3e", e.err[f]);
            os << " " << buf << (e.fits[f] ? "" : " (F16)") << " |";
        }
        if (choice) {
            auto it = choice->types.find(e.name);
            os << " " << (it == choice->types.end() ? "?" : fmt::name(it->second)) << " |";
        }
        os << "\n";
    }
    // Averages per format (over tensors, unweighted) for a quick overview.
    os << "| **mean** | | |";
    for (size_t f = 0; f < kWFormats; ++f) {
        double m = 0;
        for (const auto& e : entries) m += e.err[f];
        std::snprintf(buf, sizeof buf, "%.3e", entries.empty() ? 0.0 : m / double(entries.size()));
        os << " " << buf << " |";
    }
    if (choice) os << " |";
    os << "\n";
    if (choice) {
        std::snprintf(buf, sizeof buf, "%.3f", choice->avg_bits);
        os << "\nBudget " << choice->budget << " bits/weight: chosen average " << buf
           << " bits/weight over the linear tensors (greedy: smallest format first, then the upgrade with the "
              "largest error reduction per added bit while the average stays within the budget).\n";
    }
    return os.str();
}

}  // namespace vkrt::quant
