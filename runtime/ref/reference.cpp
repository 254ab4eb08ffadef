// Plain C++ reference kernels (see reference.hpp for the math of each).
#include "ref/reference.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.hpp"
#include "core/fp16.hpp"
#include "core/quant.hpp"

namespace vkrt::ref {

namespace {

constexpr size_t kBlock = 32;  // elements per Q4_0 / Q8_0 block and per block of quantize_blocks_i8

void check_size(size_t got, size_t want, const char* what, const char* fn) {
    VKRT_CHECK(got == want, Status::invalid_argument, "ref::", fn, ": ", what, " has ", got, " elements, expected ",
               want);
}

uint16_t load_u16le(const uint8_t* p) { return uint16_t(p[0] | (uint16_t(p[1]) << 8)); }

// Weight element j (0..31) of a Q4_0 block as its integer q - 8 in [-8, 7].
int q4_0_int(const uint8_t* blk, size_t j) {
    const uint8_t* qs = blk + 2;
    const int q = (j < 16) ? (qs[j] & 0xF) : (qs[j - 16] >> 4);
    return q - 8;
}
// Weight element j (0..31) of a Q8_0 block as its int8.
int q8_0_int(const uint8_t* blk, size_t j) { return int(int8_t(blk[2 + j])); }

void check_pos(std::span<const int32_t> pos, size_t n_ctx, const char* fn) {
    for (size_t m = 0; m < pos.size(); ++m)
        VKRT_CHECK(pos[m] >= 0 && size_t(pos[m]) < n_ctx, Status::invalid_argument, "ref::", fn, ": pos[", m,
                   "] = ", pos[m], " outside [0, ", n_ctx, ")");
}

}  // namespace

// ---- formats ----------------------------------------------------------------------

std::vector<float> dequantize(Format type, std::span<const uint8_t> w, size_t rows, size_t k) {
    const size_t rb = size_t(fmt::row_bytes(type, k));
    check_size(w.size(), rows * rb, "w (bytes)", "dequantize");
    std::vector<float> out(rows * k);
    for (size_t r = 0; r < rows; ++r) fmt::dequantize_row(type, w.data() + r * rb, out.data() + r * k, k);
    return out;
}

// ---- int8 quantization ------------------------------------------------------------

int8_t quantize_value_i8(float v, float s) {
    const float r = std::round(v / s);  // half away from zero
    return int8_t(std::clamp(r, -127.0f, 127.0f));
}

float quantize_row_i8(const float* v, size_t K, int8_t* q) {
    float amax = 0.0f;
    for (size_t k = 0; k < K; ++k) amax = std::max(amax, std::fabs(v[k]));
    if (amax == 0.0f) {
        std::fill(q, q + K, int8_t(0));
        return 0.0f;
    }
    const float s = amax / 127.0f;
    for (size_t k = 0; k < K; ++k) q[k] = quantize_value_i8(v[k], s);
    return s;
}

QuantizedRows quantize_rows_i8(std::span<const float> x, size_t M, size_t K) {
    check_size(x.size(), M * K, "x", "quantize_rows_i8");
    QuantizedRows r;
    r.q.resize(M * K);
    r.s.resize(M);
    for (size_t m = 0; m < M; ++m) r.s[m] = quantize_row_i8(&x[m * K], K, &r.q[m * K]);
    return r;
}

QuantizedRows rmsnorm_quantize_rows_i8(std::span<const float> x, std::span<const float> w,
                                       std::span<const float> smooth, size_t M, size_t K, float eps) {
    check_size(x.size(), M * K, "x", "rmsnorm_quantize_rows_i8");
    check_size(w.size(), K, "w", "rmsnorm_quantize_rows_i8");
    if (!smooth.empty()) check_size(smooth.size(), K, "smooth", "rmsnorm_quantize_rows_i8");
    VKRT_CHECK(K > 0 || M == 0, Status::invalid_argument, "ref::rmsnorm_quantize_rows_i8: K = 0");
    QuantizedRows r;
    r.q.resize(M * K);
    r.s.resize(M);
    r.y.resize(M * K);
    for (size_t m = 0; m < M; ++m) {
        const float* xr = &x[m * K];
        float* yr = &r.y[m * K];
        double sum = 0.0;
        for (size_t k = 0; k < K; ++k) sum += double(xr[k]) * double(xr[k]);
        const float inv_rms = 1.0f / std::sqrt(float(sum) / float(K) + eps);
        for (size_t k = 0; k < K; ++k) {
            float y = (xr[k] * inv_rms) * w[k];
            if (!smooth.empty()) y = y / smooth[k];
            yr[k] = y;
        }
        r.s[m] = quantize_row_i8(yr, K, &r.q[m * K]);
    }
    return r;
}

std::vector<int32_t> gemm_i8_i32(std::span<const int8_t> xq, std::span<const int8_t> wq, size_t M, size_t N,
                                 size_t K) {
    check_size(xq.size(), M * K, "xq", "gemm_i8_i32");
    check_size(wq.size(), N * K, "wq", "gemm_i8_i32");
    VKRT_CHECK(K <= 133144, Status::invalid_argument, "ref::gemm_i8_i32: K = ", K, " may overflow int32");
    std::vector<int32_t> acc(M * N);
    for (size_t m = 0; m < M; ++m)
        for (size_t n = 0; n < N; ++n) {
            int32_t a = 0;
            for (size_t k = 0; k < K; ++k) a += int32_t(xq[m * K + k]) * int32_t(wq[n * K + k]);
            acc[m * N + n] = a;
        }
    return acc;
}

std::vector<float> gemm_i8(std::span<const int8_t> xq, std::span<const float> sx, std::span<const int8_t> wq,
                           std::span<const float> sw, std::span<const float> bias, size_t M, size_t N, size_t K) {
    check_size(sx.size(), M, "sx", "gemm_i8");
    check_size(sw.size(), N, "sw", "gemm_i8");
    if (!bias.empty()) check_size(bias.size(), N, "bias", "gemm_i8");
    const std::vector<int32_t> acc = gemm_i8_i32(xq, wq, M, N, K);
    std::vector<float> y(M * N);
    for (size_t m = 0; m < M; ++m)
        for (size_t n = 0; n < N; ++n) {
            float v = (float(acc[m * N + n]) * sx[m]) * sw[n];
            if (!bias.empty()) v = v + bias[n];
            y[m * N + n] = v;
        }
    return y;
}

// ---- W8A8 activation variants -------------------------------------------------------

std::vector<float> smooth_rows(std::span<const float> x, std::span<const float> smooth, size_t M, size_t K) {
    check_size(x.size(), M * K, "x", "smooth_rows");
    if (!smooth.empty()) check_size(smooth.size(), K, "smooth", "smooth_rows");
    std::vector<float> y(x.begin(), x.end());
    if (!smooth.empty())
        for (size_t m = 0; m < M; ++m)
            for (size_t k = 0; k < K; ++k) y[m * K + k] = x[m * K + k] / smooth[k];
    return y;
}

float quantize_row_i8_static(const float* v, size_t K, float s, int8_t* q) {
    if (!(s > 0.0f)) {
        std::fill(q, q + K, int8_t(0));
        return s;
    }
    for (size_t k = 0; k < K; ++k) q[k] = quantize_value_i8(v[k], s);
    return s;
}

QuantizedRows quantize_rows_i8_static(std::span<const float> y, float s, size_t M, size_t K) {
    check_size(y.size(), M * K, "y", "quantize_rows_i8_static");
    QuantizedRows r;
    r.q.resize(M * K);
    r.s.resize(M);
    for (size_t m = 0; m < M; ++m) r.s[m] = quantize_row_i8_static(&y[m * K], K, s, &r.q[m * K]);
    return r;
}

float quantize_row_asym_i8(const float* v, size_t K, int8_t* q, int32_t* zp) {
    float lo = 0.0f, hi = 0.0f;
    for (size_t k = 0; k < K; ++k) {
        lo = std::min(lo, v[k]);
        hi = std::max(hi, v[k]);
    }
    const float s = (hi - lo) / 255.0f;
    if (s == 0.0f) {
        std::fill(q, q + K, int8_t(-128));
        *zp = -128;
        return 0.0f;
    }
    const float z = std::clamp(std::round(-lo / s), 0.0f, 255.0f);  // half away from zero
    for (size_t k = 0; k < K; ++k) {
        const float u = std::clamp(std::round(v[k] / s) + z, 0.0f, 255.0f);
        q[k] = int8_t(int(u) - 128);
    }
    *zp = int32_t(z) - 128;
    return s;
}

AsymQuantizedRows quantize_rows_asym_i8(std::span<const float> y, size_t M, size_t K) {
    check_size(y.size(), M * K, "y", "quantize_rows_asym_i8");
    AsymQuantizedRows r;
    r.q.resize(M * K);
    r.s.resize(M);
    r.zp.resize(M);
    for (size_t m = 0; m < M; ++m) r.s[m] = quantize_row_asym_i8(&y[m * K], K, &r.q[m * K], &r.zp[m]);
    return r;
}

std::vector<int32_t> row_sums_i8(std::span<const int8_t> wq, size_t N, size_t K) {
    check_size(wq.size(), N * K, "wq", "row_sums_i8");
    std::vector<int32_t> s(N, 0);
    for (size_t n = 0; n < N; ++n)
        for (size_t k = 0; k < K; ++k) s[n] += int32_t(wq[n * K + k]);
    return s;
}

std::vector<int32_t> gemm_i8_i32_asym(std::span<const int8_t> xq, std::span<const int32_t> zp,
                                      std::span<const int8_t> wq, size_t M, size_t N, size_t K) {
    check_size(zp.size(), M, "zp", "gemm_i8_i32_asym");
    VKRT_CHECK(K <= 66311, Status::invalid_argument, "ref::gemm_i8_i32_asym: K = ", K, " may overflow int32");
    std::vector<int32_t> acc = gemm_i8_i32(xq, wq, M, N, K);
    const std::vector<int32_t> wsum = row_sums_i8(wq, N, K);
    for (size_t m = 0; m < M; ++m)
        for (size_t n = 0; n < N; ++n) {
            // In int64: the result fits in int32 (K <= 66311), the terms may not be summed in int32 order.
            acc[m * N + n] = int32_t(int64_t(acc[m * N + n]) - int64_t(zp[m]) * int64_t(wsum[n]));
        }
    return acc;
}

std::vector<float> gemm_i8_asym(std::span<const int8_t> xq, std::span<const float> sx, std::span<const int32_t> zp,
                                std::span<const int8_t> wq, std::span<const float> sw, std::span<const float> bias,
                                size_t M, size_t N, size_t K) {
    check_size(sx.size(), M, "sx", "gemm_i8_asym");
    check_size(sw.size(), N, "sw", "gemm_i8_asym");
    if (!bias.empty()) check_size(bias.size(), N, "bias", "gemm_i8_asym");
    const std::vector<int32_t> acc = gemm_i8_i32_asym(xq, zp, wq, M, N, K);
    std::vector<float> y(M * N);
    for (size_t m = 0; m < M; ++m)
        for (size_t n = 0; n < N; ++n) {
            float v = (float(acc[m * N + n]) * sx[m]) * sw[n];
            if (!bias.empty()) v = v + bias[n];
            y[m * N + n] = v;
        }
    return y;
}

// ---- float matmul -----------------------------------------------------------------

std::vector<float> matmul_f32(std::span<const float> x, std::span<const float> w, size_t M, size_t N, size_t K) {
    check_size(x.size(), M * K, "x", "matmul_f32");
    check_size(w.size(), N * K, "w", "matmul_f32");
    std::vector<float> y(M * N);
    for (size_t m = 0; m < M; ++m)
        for (size_t n = 0; n < N; ++n) {
            double a = 0.0;
            for (size_t k = 0; k < K; ++k) a += double(x[m * K + k]) * double(w[n * K + k]);
            y[m * N + n] = float(a);
        }
    return y;
}

std::vector<float> matmul_f32(std::span<const float> x, std::span<const uint8_t> w, Format type, size_t M,
                              size_t N, size_t K) {
    const std::vector<float> wf = dequantize(type, w, N, K);
    return matmul_f32(x, wf, M, N, K);
}

// ---- integer-dot matmul -------------------------------------------------------------

BlockQuantized quantize_blocks_i8(std::span<const float> x, size_t M, size_t K) {
    check_size(x.size(), M * K, "x", "quantize_blocks_i8");
    VKRT_CHECK(K % kBlock == 0, Status::invalid_argument, "ref::quantize_blocks_i8: K = ", K,
               " not a multiple of 32");
    const size_t nb = K / kBlock;
    BlockQuantized r;
    r.q.resize(M * K);
    r.d.resize(M * nb);
    for (size_t m = 0; m < M; ++m)
        for (size_t b = 0; b < nb; ++b)
            r.d[m * nb + b] = quantize_row_i8(&x[m * K + b * kBlock], kBlock, &r.q[m * K + b * kBlock]);
    return r;
}

std::vector<float> matmul_q_i8(const BlockQuantized& xq, std::span<const uint8_t> w, Format type, size_t M,
                               size_t N, size_t K) {
    VKRT_CHECK(type == Format::Q4_0 || type == Format::Q8_0, Status::invalid_argument,
               "ref::matmul_q_i8: weight type ", fmt::name(type), " is not Q4_0 or Q8_0");
    const size_t rb = size_t(fmt::row_bytes(type, K));  // checks K % 32
    const size_t nb = K / kBlock, bb = rb / (nb ? nb : 1);
    check_size(xq.q.size(), M * K, "xq.q", "matmul_q_i8");
    check_size(xq.d.size(), M * nb, "xq.d", "matmul_q_i8");
    check_size(w.size(), N * rb, "w (bytes)", "matmul_q_i8");
    std::vector<float> y(M * N);
    for (size_t m = 0; m < M; ++m)
        for (size_t n = 0; n < N; ++n) {
            double sum = 0.0;
            for (size_t b = 0; b < nb; ++b) {
                const uint8_t* blk = w.data() + n * rb + b * bb;
                const int8_t* xb = &xq.q[m * K + b * kBlock];
                int32_t acc = 0;
                for (size_t j = 0; j < kBlock; ++j)
                    acc += int32_t(xb[j]) * (type == Format::Q4_0 ? q4_0_int(blk, j) : q8_0_int(blk, j));
                const float dw = fp16_to_fp32(load_u16le(blk));
                const float term = (float(acc) * xq.d[m * nb + b]) * dw;
                sum += double(term);
            }
            y[m * N + n] = float(sum);
        }
    return y;
}

std::vector<float> matmul_q_i8(std::span<const float> x, std::span<const uint8_t> w, Format type, size_t M,
                               size_t N, size_t K) {
    return matmul_q_i8(quantize_blocks_i8(x, M, K), w, type, M, N, K);
}

// ---- row kernels / element-wise ---------------------------------------------------

std::vector<float> rmsnorm(std::span<const float> x, std::span<const float> w, size_t M, size_t K, float eps) {
    check_size(x.size(), M * K, "x", "rmsnorm");
    check_size(w.size(), K, "w", "rmsnorm");
    VKRT_CHECK(K > 0 || M == 0, Status::invalid_argument, "ref::rmsnorm: K = 0");
    std::vector<float> y(M * K);
    for (size_t m = 0; m < M; ++m) {
        double ss = 0.0;
        for (size_t k = 0; k < K; ++k) ss += double(x[m * K + k]) * double(x[m * K + k]);
        const double inv_rms = 1.0 / std::sqrt(ss / double(K) + double(eps));
        for (size_t k = 0; k < K; ++k) y[m * K + k] = float(double(x[m * K + k]) * inv_rms * double(w[k]));
    }
    return y;
}

std::vector<float> rope(std::span<const float> x, std::span<const int32_t> pos, size_t M, size_t n_head,
                        size_t head_dim, size_t n_rot, float base, RopeMode mode) {
    return rope(x, pos, M, n_head, head_dim, n_rot, base, mode, RopeExtra{});
}

std::vector<float> rope(std::span<const float> x, std::span<const int32_t> pos, size_t M, size_t n_head,
                        size_t head_dim, size_t n_rot, float base, RopeMode mode, const RopeExtra& ex) {
    if (n_rot == 0) n_rot = head_dim;
    VKRT_CHECK(ex.factors.empty() || ex.factors.size() == n_rot / 2, Status::invalid_argument,
               "ref::rope: ", ex.factors.size(), " frequency factors for n_rot/2 = ", n_rot / 2);
    VKRT_CHECK(ex.freq_scale > 0 && ex.attn_factor > 0, Status::invalid_argument, "ref::rope: freq_scale ",
               ex.freq_scale, " and attn_factor ", ex.attn_factor, " must be > 0");
    check_size(x.size(), M * n_head * head_dim, "x", "rope");
    check_size(pos.size(), M, "pos", "rope");
    VKRT_CHECK(n_rot % 2 == 0 && n_rot <= head_dim, Status::invalid_argument, "ref::rope: n_rot = ", n_rot,
               " must be even and <= head_dim = ", head_dim);
    VKRT_CHECK(mode == RopeMode::norm || mode == RopeMode::neox, Status::invalid_argument,
               "ref::rope: unknown mode ", uint32_t(mode));
    std::vector<float> y(x.begin(), x.end());  // dims >= n_rot copied
    const size_t half = n_rot / 2;
    for (size_t m = 0; m < M; ++m)
        for (size_t h = 0; h < n_head; ++h) {
            const float* xr = &x[(m * n_head + h) * head_dim];
            float* yr = &y[(m * n_head + h) * head_dim];
            for (size_t i = 0; i < half; ++i) {
                const double ff = ex.factors.empty() ? 1.0 : double(ex.factors[i]);
                const double theta = double(ex.freq_scale) * double(pos[m]) *
                                     std::pow(double(base), -2.0 * double(i) / double(n_rot)) / ff;
                const double c = std::cos(theta) * ex.attn_factor, s = std::sin(theta) * ex.attn_factor;
                const size_t i0 = (mode == RopeMode::norm) ? 2 * i : i;
                const size_t i1 = (mode == RopeMode::norm) ? 2 * i + 1 : i + half;
                const double a = xr[i0], b = xr[i1];
                yr[i0] = float(a * c - b * s);
                yr[i1] = float(a * s + b * c);
            }
        }
    return y;
}

std::vector<float> softmax_rows(std::span<const float> x, size_t M, size_t N) {
    check_size(x.size(), M * N, "x", "softmax_rows");
    std::vector<float> y(M * N);
    for (size_t m = 0; m < M; ++m) {
        const float* r = &x[m * N];
        double mx = -INFINITY;
        for (size_t n = 0; n < N; ++n) mx = std::max(mx, double(r[n]));
        double sum = 0.0;
        for (size_t n = 0; n < N; ++n) sum += std::exp(double(r[n]) - mx);
        for (size_t n = 0; n < N; ++n) y[m * N + n] = float(std::exp(double(r[n]) - mx) / sum);
    }
    return y;
}

std::vector<float> swiglu(std::span<const float> gate, std::span<const float> up) {
    check_size(up.size(), gate.size(), "up", "swiglu");
    std::vector<float> y(gate.size());
    for (size_t i = 0; i < gate.size(); ++i) {
        const double g = gate[i];
        y[i] = float(g / (1.0 + std::exp(-g)) * double(up[i]));
    }
    return y;
}

std::vector<float> geglu(std::span<const float> gate, std::span<const float> up) {
    check_size(up.size(), gate.size(), "up", "geglu");
    std::vector<float> y(gate.size());
    constexpr double kSqrt2OverPi = 0.79788456080286535588, kCoef = 0.044715;
    for (size_t i = 0; i < gate.size(); ++i) {
        const double g = gate[i];
        const double gelu = 0.5 * g * (1.0 + std::tanh(kSqrt2OverPi * g * (1.0 + kCoef * g * g)));
        y[i] = float(gelu * double(up[i]));
    }
    return y;
}

std::vector<float> scale(std::span<const float> x, float s) {
    std::vector<float> y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * s;
    return y;
}

std::vector<float> add_bias(std::span<const float> x, std::span<const float> b, size_t M) {
    check_size(x.size(), M * b.size(), "x", "add_bias");
    std::vector<float> y(x.begin(), x.end());
    for (size_t m = 0; m < M; ++m)
        for (size_t n = 0; n < b.size(); ++n) y[m * b.size() + n] += b[n];
    return y;
}

std::vector<float> add(std::span<const float> a, std::span<const float> b) {
    check_size(b.size(), a.size(), "b", "add");
    std::vector<float> y(a.size());
    for (size_t i = 0; i < a.size(); ++i) y[i] = a[i] + b[i];
    return y;
}

std::vector<float> embedding(std::span<const uint8_t> table, Format type, size_t n_vocab, size_t n_embd,
                             std::span<const int32_t> ids) {
    const size_t rb = size_t(fmt::row_bytes(type, n_embd));
    check_size(table.size(), n_vocab * rb, "table (bytes)", "embedding");
    std::vector<float> y(ids.size() * n_embd);
    for (size_t m = 0; m < ids.size(); ++m) {
        VKRT_CHECK(ids[m] >= 0 && size_t(ids[m]) < n_vocab, Status::invalid_argument, "ref::embedding: ids[", m,
                   "] = ", ids[m], " outside [0, ", n_vocab, ")");
        fmt::dequantize_row(type, table.data() + size_t(ids[m]) * rb, &y[m * n_embd], n_embd);
    }
    return y;
}

// ---- KV cache and attention -------------------------------------------------------

std::vector<uint8_t> encode_kv_row(uint32_t type, std::span<const float> src) {
    const size_t width = src.size();
    VKRT_CHECK(type == uint32_t(Format::F32) || type == uint32_t(Format::F16) || type == uint32_t(Format::Q8_0),
               Status::invalid_argument, "ref::encode_kv_row: KV cache type ", type, " is not F32, F16 or Q8_0");
    VKRT_CHECK(type != uint32_t(Format::F16) || width % 2 == 0, Status::invalid_argument,
               "ref::encode_kv_row: an F16 row needs an even width, got ", width);
    VKRT_CHECK(type != uint32_t(Format::Q8_0) || width % kBlock == 0, Status::invalid_argument,
               "ref::encode_kv_row: a Q8_0 row needs a multiple of 32 elements, got ", width);
    std::vector<uint8_t> out(fmt::row_bytes(Format(type), width));
    // The registry's quantizers are ggml's reference ones (F16: nearest even; Q8_0:
    // quantize_row_q8_0_ref, the rule spelled out in reference.hpp).
    fmt::quantize_row(Format(type), src.data(), out.data(), width);
    return out;
}

std::vector<float> round_kv_row(uint32_t type, std::span<const float> src) {
    const std::vector<uint8_t> bytes = encode_kv_row(type, src);
    std::vector<float> out(src.size());
    fmt::dequantize_row(Format(type), bytes.data(), out.data(), src.size());
    return out;
}

void kv_store(std::span<const float> src, std::span<const int32_t> pos, std::span<float> cache, size_t M,
              size_t width, size_t n_ctx, uint32_t type) {
    check_size(src.size(), M * width, "src", "kv_store");
    check_size(pos.size(), M, "pos", "kv_store");
    check_size(cache.size(), n_ctx * width, "cache", "kv_store");
    check_pos(pos, n_ctx, "kv_store");
    for (size_t m = 0; m < M; ++m) {
        const std::vector<float> row = round_kv_row(type, src.subspan(m * width, width));
        std::copy(row.begin(), row.end(), &cache[size_t(pos[m]) * width]);
    }
}

std::vector<float> attention(std::span<const float> q, std::span<const float> k_cache,
                             std::span<const float> v_cache, std::span<const int32_t> pos, size_t M,
                             size_t n_head, size_t n_head_kv, size_t hd, size_t n_ctx, float scale,
                             size_t window) {
    VKRT_CHECK(n_head_kv > 0 && n_head % n_head_kv == 0, Status::invalid_argument, "ref::attention: n_head_kv = ",
               n_head_kv, " does not divide n_head = ", n_head);
    VKRT_CHECK(hd > 0, Status::invalid_argument, "ref::attention: head_dim = 0");
    check_size(q.size(), M * n_head * hd, "q", "attention");
    check_size(k_cache.size(), n_ctx * n_head_kv * hd, "k_cache", "attention");
    check_size(v_cache.size(), n_ctx * n_head_kv * hd, "v_cache", "attention");
    check_size(pos.size(), M, "pos", "attention");
    check_pos(pos, n_ctx, "attention");
    const double sc = (scale == 0.f) ? 1.0 / std::sqrt(double(hd)) : double(scale);
    const size_t group = n_head / n_head_kv;
    const size_t kv_w = n_head_kv * hd;
    std::vector<float> out(M * n_head * hd);
    std::vector<double> s, o(hd);
    for (size_t m = 0; m < M; ++m)
        for (size_t h = 0; h < n_head; ++h) {
            const size_t kvh = h / group;
            const float* qr = &q[(m * n_head + h) * hd];
            const size_t n_kv = size_t(pos[m]) + 1;  // causal: rows 0 .. pos[m]
            // Sliding window: rows pos[m] - window < j (llama.cpp's LLAMA_SWA_TYPE_STANDARD).
            const size_t j0 = window && n_kv > window ? n_kv - window : 0;
            s.assign(n_kv, 0.0);
            double mx = -INFINITY;
            for (size_t j = j0; j < n_kv; ++j) {
                const float* kr = &k_cache[j * kv_w + kvh * hd];
                double d = 0.0;
                for (size_t i = 0; i < hd; ++i) d += double(qr[i]) * double(kr[i]);
                s[j] = d * sc;
                mx = std::max(mx, s[j]);
            }
            double sum = 0.0;
            for (size_t j = j0; j < n_kv; ++j) sum += (s[j] = std::exp(s[j] - mx));
            std::fill(o.begin(), o.end(), 0.0);
            for (size_t j = j0; j < n_kv; ++j) {
                const float* vr = &v_cache[j * kv_w + kvh * hd];
                const double p = s[j] / sum;
                for (size_t i = 0; i < hd; ++i) o[i] += p * double(vr[i]);
            }
            float* orow = &out[(m * n_head + h) * hd];
            for (size_t i = 0; i < hd; ++i) orow[i] = float(o[i]);
        }
    return out;
}

}  // namespace vkrt::ref
