#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "bench.hpp"
#include "cli.hpp"
#include "core/quant.hpp"
#include "ops/attention.hpp"
#include "ops/elementwise.hpp"
#include "ops/embed.hpp"
#include "ops/gemm_int8.hpp"
#include "ops/matmul.hpp"
#include "ops/microbench.hpp"
#include "ops/norm.hpp"
#include "ops/quantize.hpp"
#include "ops/rope.hpp"
#include "vk/recorder.hpp"

namespace vkrt::bench {

namespace {

struct Ctx {
    Device& dev;
    std::string filter;
    int reps;
    bool small;  // CPU device: scale shapes down
    double dot_peak_gops = 0;  // measured by dot_peak, for the int8 GEMM's fraction of peak
    double read_gbs = 0;       // measured read bandwidth, for the matmuls' fraction of it
    double fma_peak_gflops = 0;  // measured float FMA peak (f16 where caps.fp16), for the float GEMMs
};

Buffer random_buffer(Device& dev, uint64_t bytes, uint32_t seed, const char* name) {
    std::vector<uint32_t> w((bytes + 3) / 4);
    std::mt19937 rng(seed);
    for (auto& x : w) x = rng();
    Buffer b(dev, w.size() * 4, MemoryKind::device, name);
    b.upload(w.data(), w.size() * 4);
    return b;
}
Buffer float_buffer(Device& dev, uint64_t n, uint32_t seed, const char* name, float lo = -1, float hi = 1) {
    std::vector<float> v(n);
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> d(lo, hi);
    for (auto& x : v) x = d(rng);
    return make_buffer(dev, v, name);
}
// Weights in a GGUF type (ops::synthetic_weight: encoded random floats, or random
// blocks with sane scales for the formats vkrt does not encode).
Buffer weight_buffer(Device& dev, Format t, uint32_t N, uint32_t K, uint32_t seed) {
    const std::vector<uint8_t> bytes = ops::synthetic_weight(t, N, K, seed);
    Buffer b(dev, (bytes.size() + 3) & ~size_t(3), MemoryKind::device, "weights");
    b.upload(bytes.data(), bytes.size());
    return b;
}

// Records `reps` dispatches of `fn` between two timestamps; returns seconds per dispatch.
double time_it(Device& dev, int reps, const std::function<void(Recorder&)>& fn) {
    Recorder rec(dev);
    rec.begin();
    fn(rec);  // warm-up inside the same submit: caches, clocks
    rec.mark(0);
    for (int i = 0; i < reps; ++i) fn(rec);
    rec.mark(1);
    rec.end();
    double t0 = cli::now_seconds();
    rec.submit();
    double wall = cli::now_seconds() - t0;
    double gpu = rec.seconds_between(0, 1);
    return (gpu > 0 ? gpu : wall * reps / (reps + 1)) / reps;
}

void row(const Ctx& c, const std::string& kernel, const std::string& shape, const std::string& path, double s,
         double bytes, double ops) {
    std::printf("| %-20s | %-26s | %-8s | %10.1f | %8.1f | %9.1f |\n", kernel.c_str(), shape.c_str(), path.c_str(),
                s * 1e6, bytes / s * 1e-9, ops / s * 1e-9);
    std::fflush(stdout);
}

bool wanted(const Ctx& c, const std::string& kernel) {
    return c.filter.empty() || kernel.find(c.filter) != std::string::npos;
}

std::string shape3(uint32_t m, uint32_t n, uint32_t k) {
    return "M=" + std::to_string(m) + " N=" + std::to_string(n) + " K=" + std::to_string(k);
}

// The int8-dot GEMM's (activation quantization included) fraction of the measured int8
// dot-product peak (dot_peak, measured here once when --filter skipped bench_int8's).
void gemm_of_dot_peak(Ctx& c, uint32_t M, uint32_t N, uint32_t K, double s) {
    if (c.dot_peak_gops == 0) c.dot_peak_gops = ops::measure_int_dot_peak_tops(c.dev) * 1e3;
    const double gops = 2.0 * M * N * K / s * 1e-9;
    char frac[40];
    std::snprintf(frac, sizeof frac, "%.1f%% of dot_peak %.0f GOPS", 100.0 * gops / c.dot_peak_gops, c.dot_peak_gops);
    std::printf("| %-20s | %-26s | %-8s | %10s | %8s | %9.1f |\n", "  int8 TOPS", frac, "", "", "", gops);
}

// GEMV and GEMM rows for every weight format with GPU kernels (the registry), with the
// weights' GB/s and its fraction of the measured read bandwidth (c.read_gbs).
void bench_matmul(Ctx& c) {
    const uint32_t N = c.small ? 1024 : 4096, K = c.small ? 3584 : 14336;
    for (const fmt::Traits& ft : fmt::all()) {
        if (!(ft.kernels & fmt::kKernelFloat) || K % ft.block_elems != 0) continue;
        const Format t = ft.type;
        std::string name = std::string("matmul_") + ft.name;
        if (!wanted(c, name)) continue;
        if (c.read_gbs == 0) c.read_gbs = ops::measure_read_bandwidth_gbs(c.dev, c.small ? (64ull << 20) : (1ull << 30));
        // As a model loads them (ops::upload_weight: Q4_0 / Q5_0 / Q8_0 / IQ4_NL grouped).
        const std::vector<uint8_t> wgguf = ops::synthetic_weight(t, N, K, 1);
        const ops::WeightBuffers w = ops::upload_weight(c.dev, t, N, K, wgguf.data(), "weights");
        const double wbytes = double(fmt::row_bytes(t, K)) * N;
        for (uint32_t M : {1u, 8u, c.small ? 64u : 512u}) {
            Buffer x = float_buffer(c.dev, uint64_t(M) * K, 2, "x");
            Buffer y(c.dev, uint64_t(M) * N * 4, MemoryKind::device, "y");
            std::vector<ops::MatmulPath> paths = {ops::MatmulPath::gemv};
            if (M <= 8 && c.dev.caps().int_dot && (ft.kernels & fmt::kKernelInt))
                paths.push_back(ops::MatmulPath::gemv_int);
            if (M <= 8 && c.dev.caps().fp16 && ft.block_elems > 1) paths.push_back(ops::MatmulPath::gemv_f16);
            if (M > 8) paths = {ops::MatmulPath::gemm};
            if (M > 8 && c.dev.caps().int_dot && (ft.kernels & (fmt::kKernelInt | fmt::kKernelMmq)))
                paths.push_back(ops::MatmulPath::mmq);
            for (auto p : paths) {
                Buffer scratch(c.dev, std::max<uint64_t>(4, ops::matmul_scratch_bytes(M, K)), MemoryKind::device,
                               "scratch");
                double s = time_it(c.dev, c.reps, [&](Recorder& r) {
                    ops::matmul(r, x, w.view, y, M, scratch, p);
                });
                row(c, name, shape3(M, N, K), ops::matmul_path_name(p), s,
                    wbytes + double(M) * K * 4 + double(M) * N * 4, 2.0 * M * N * K);
                // The weights alone, against the measured read bandwidth (the decode GEMV's bound).
                const double gbs = wbytes / s * 1e-9;
                char frac[40];
                std::snprintf(frac, sizeof frac, "%.0f%% of read %.1f GB/s", 100.0 * gbs / c.read_gbs, c.read_gbs);
                std::printf("| %-20s | %-26s | %-8s | %10s | %8.1f | %9s |\n", "  weights", frac, "", "", gbs, "");
                if (p == ops::MatmulPath::mmq) gemm_of_dot_peak(c, M, N, K, s);
            }
        }
    }
}

void bench_int8(Ctx& c) {
    if ((wanted(c, "dot_peak") || wanted(c, "gemm_int8")) && c.dev.caps().int_dot) {
        double tops = ops::measure_int_dot_peak_tops(c.dev);
        std::printf("| %-20s | %-26s | %-8s | %10s | %8s | %9.1f |\n", "dot_peak", "OpSDot chains", "dot", "-", "-",
                    tops * 1e3);
        c.dot_peak_gops = tops * 1e3;
    }
    if (wanted(c, "read_bandwidth")) {
        double gbs = ops::measure_read_bandwidth_gbs(c.dev, c.small ? (64ull << 20) : (1ull << 30));
        c.read_gbs = gbs;
        std::printf("| %-20s | %-26s | %-8s | %10s | %8.1f | %9s |\n", "read_bandwidth", "uvec4 grid-stride", "-", "-",
                    gbs, "-");
    }
    const uint32_t S = c.small ? 1024 : 4096;
    if (wanted(c, "quantize_rows_i8")) {
        const uint32_t M = c.small ? 64 : 512;
        Buffer x = float_buffer(c.dev, uint64_t(M) * S, 3, "x");
        Buffer xq(c.dev, uint64_t(M) * ops::packed_row_words(S) * 4, MemoryKind::device, "xq");
        Buffer sx(c.dev, M * 4, MemoryKind::device, "sx");
        double s = time_it(c.dev, c.reps, [&](Recorder& r) { ops::quantize_rows_i8(r, x, xq, sx, M, S); });
        row(c, "quantize_rows_i8", shape3(M, 0, S), "-", s, double(M) * S * 5, double(M) * S * 3);
    }
    if (!wanted(c, "gemm_int8")) return;
    for (uint32_t M : {1u, S}) {
        const uint32_t N = S, K = S;
        Buffer xq = random_buffer(c.dev, uint64_t(M) * K, 4, "xq");
        Buffer wq = random_buffer(c.dev, uint64_t(N) * K, 5, "wq");
        Buffer sx = float_buffer(c.dev, M, 6, "sx", 0.01f, 0.02f);
        Buffer sw = float_buffer(c.dev, N, 7, "sw", 0.01f, 0.02f);
        Buffer y(c.dev, uint64_t(M) * N * 4, MemoryKind::device, "y");
        // OpSDot when the device has it; VKRT_DISABLE=dot times the fallback.
        double s = time_it(c.dev, c.reps, [&](Recorder& r) {
            ops::gemm_int8(r, xq, sx, wq, sw, BufferView{}, y, M, N, K);
        });
        row(c, "gemm_int8", shape3(M, N, K), c.dev.caps().int_dot ? "dot" : "nodot", s,
            double(M) * K + double(N) * K + double(M) * N * 4, 2.0 * M * N * K);
        if (M > 1 && c.dot_peak_gops > 0)
            std::printf("| %-20s | %-26s | %-8s | %10s | %8s | %8.1f%% |\n", "  of dot_peak", shape3(M, N, K).c_str(),
                        "", "", "", 100.0 * (2.0 * M * N * K / s * 1e-9) / c.dot_peak_gops);
    }
}

// Split-K (ops::splitk_parts): a prefill GEMM with few output tiles, Q4_0, float GEMM and
// int8-dot GEMM (when the device has integer dot products): without a split, with the
// runtime's choice (when it splits: it does when the tiles are fewer than the compute
// units) and with 4 parts; the path column says how many parts of K ran.
void bench_splitk(Ctx& c) {
    if (!wanted(c, "gemm_splitk")) return;
    const uint32_t M = 16, N = c.small ? 64 : 512, K = c.small ? 2048 : 8192;
    const Format t = Format::Q4_0;
    Buffer w = weight_buffer(c.dev, t, N, K, 21);
    Buffer x = float_buffer(c.dev, uint64_t(M) * K, 22, "x");
    Buffer xq(c.dev, ops::matmul_scratch_bytes(M, K), MemoryKind::device, "xq");
    Buffer y(c.dev, uint64_t(M) * N * 4, MemoryKind::device, "y");
    const ops::WeightView wv = ops::single_part(w, t, N, K);
    const double bytes = double(fmt::row_bytes(t, K)) * N + double(M) * K * 4 + double(M) * N * 4;
    for (bool mmq : {false, true}) {
        if (mmq && !c.dev.caps().int_dot) continue;
        ops::GemmTiles gt = ops::default_gemm_tiles(c.dev);
        ops::MmqTiles mt = ops::default_mmq_tiles(c.dev, M);
        const uint32_t chosen = ops::splitk_parts(c.dev, M, N, K, mmq ? mt.BM : gt.BM, mmq ? mt.BN : gt.BN);
        std::vector<uint32_t> splits = {1};
        if (chosen > 1) splits.push_back(chosen);
        if (chosen != 4) splits.push_back(4);
        for (uint32_t S : splits) {
            gt.split = mt.split = S;
            const double s = time_it(c.dev, c.reps, [&](Recorder& r) {
                if (mmq) {
                    ops::quantize_q8_1(r, x, xq, M, K);
                    ops::matmul_mmq(r, ops::Q8Activations{xq, M, K}, wv, y, mt);
                } else {
                    ops::matmul_gemm(r, x, wv, y, M, gt);
                }
            });
            row(c, std::string("gemm_splitk_") + (mmq ? "mmq" : "gemm"), shape3(M, N, K),
                "S=" + std::to_string(S) + (S == chosen && S > 1 ? " auto" : ""), s, bytes, 2.0 * M * N * K);
        }
    }
}

// ---- prefill paths side by side (issue 16 item 5): each GEMM kernel forced, and the
// prefill attention kernels, with TOPS and the fraction of the measured peak.

// A row for a kernel the device cannot run.
void row_unavailable(const std::string& kernel, const std::string& shape, const std::string& path, const char* why) {
    std::printf("| %-20s | %-26s | %-8s | %10s | %8s | %9s | not available on this device: %s\n", kernel.c_str(),
                shape.c_str(), path.c_str(), "-", "-", "-", why);
}

// The TOPS of `ops` operations in s seconds against a peak in GOPS (name says which).
void row_of_peak(double ops, double s, double peak_gops, const char* peak_name) {
    const double gops = ops / s * 1e-9;
    char frac[48];
    std::snprintf(frac, sizeof frac, "%.1f%% of %s %.3g G", 100.0 * gops / peak_gops, peak_name, peak_gops);
    std::printf("| %-20s | %-26s | %-8s | %10s | %8s | %9.1f | %.3f TOPS\n", "  of peak", frac, "", "", "", gops,
                gops * 1e-3);
}

double fma_peak(Ctx& c) {
    if (c.fma_peak_gflops == 0) c.fma_peak_gflops = ops::measure_fma_peak_tflops(c.dev) * 1e3;
    return c.fma_peak_gflops;
}
double dot_peak(Ctx& c) {
    if (c.dot_peak_gops == 0) c.dot_peak_gops = ops::measure_int_dot_peak_tops(c.dev) * 1e3;
    return c.dot_peak_gops;
}

// Every format's prefill GEMM on each kernel, forced: the float GEMM's scalar tiles
// (matmul.comp, "gemm") and cooperative matrices ("gemm_cm"), the int8-dot GEMM's OpSDot
// tiles ("mmq", activation quantization included) and cooperative matrices ("mmq_cm"),
// and W8A8 (gemm_int8: "tiled", "cm"). Kernel names prefill_gemm_<fmt> (--filter prefill_gemm).
void bench_prefill_gemm(Ctx& c) {
    const uint32_t M = c.small ? 64 : 512, N = c.small ? 1024 : 4096, K = c.small ? 1024 : 4096;
    const auto& caps = c.dev.caps();
    const double ops2 = 2.0 * M * N * K;
    const char* no_f16cm = "no 16x16x16 f16 x f16 -> f32 cooperative matrix";
    const char* no_s8cm = "no 16x16x16 s8 x s8 -> s32 cooperative matrix";
    const char* f16_peak = caps.fp16 ? "f16 FMA peak" : "f32 FMA peak";
    for (const fmt::Traits& ft : fmt::all()) {
        if (!(ft.kernels & fmt::kKernelFloat) || K % ft.block_elems != 0) continue;
        const Format t = ft.type;
        const std::string name = std::string("prefill_gemm_") + ft.name;
        if (!wanted(c, name)) continue;
        const std::vector<uint8_t> wgguf = ops::synthetic_weight(t, N, K, 1);
        const ops::WeightBuffers w = ops::upload_weight(c.dev, t, N, K, wgguf.data(), "weights");
        Buffer x = float_buffer(c.dev, uint64_t(M) * K, 2, "x");
        Buffer y(c.dev, uint64_t(M) * N * 4, MemoryKind::device, "y");
        const double bytes = double(fmt::row_bytes(t, K)) * N + double(M) * K * 4 + double(M) * N * 4;
        double s = time_it(c.dev, c.reps, [&](Recorder& r) {
            ops::matmul_gemm(r, x, w.view, y, M, ops::default_gemm_tiles(c.dev));
        });
        row(c, name, shape3(M, N, K), "gemm", s, bytes, ops2);
        row_of_peak(ops2, s, fma_peak(c), f16_peak);
        if (ops::gemm_coopmat_supported(c.dev)) {
            s = time_it(c.dev, c.reps, [&](Recorder& r) { ops::matmul_gemm_coopmat(r, x, w.view, y, M); });
            row(c, name, shape3(M, N, K), "gemm_cm", s, bytes, ops2);
            row_of_peak(ops2, s, fma_peak(c), f16_peak);
        } else {
            row_unavailable(name, shape3(M, N, K), "gemm_cm", no_f16cm);
        }
        if (!(ft.kernels & (fmt::kKernelInt | fmt::kKernelMmq))) continue;
        if (!caps.int_dot) {
            row_unavailable(name, shape3(M, N, K), "mmq", "no integer dot product");
            continue;
        }
        Buffer xq(c.dev, ops::matmul_scratch_bytes(M, K), MemoryKind::device, "xq");
        const ops::Q8Activations q8{xq, M, K};
        s = time_it(c.dev, c.reps, [&](Recorder& r) {
            ops::quantize_q8_1(r, x, q8);
            ops::matmul_mmq(r, q8, w.view, y, ops::default_mmq_tiles(c.dev, M));
        });
        row(c, name, shape3(M, N, K), "mmq", s, bytes, ops2);
        row_of_peak(ops2, s, dot_peak(c), "dot_peak");
        if (ops::mmq_coopmat_supported(c.dev)) {
            s = time_it(c.dev, c.reps, [&](Recorder& r) {
                ops::quantize_q8_1(r, x, q8);
                ops::matmul_mmq_coopmat(r, q8, w.view, y);
            });
            row(c, name, shape3(M, N, K), "mmq_cm", s, bytes, ops2);
            row_of_peak(ops2, s, dot_peak(c), "dot_peak");
        } else {
            row_unavailable(name, shape3(M, N, K), "mmq_cm", no_s8cm);
        }
    }
    const std::string name = "prefill_gemm_w8a8";
    if (!wanted(c, name)) return;
    Buffer xq = random_buffer(c.dev, uint64_t(M) * K, 4, "xq");
    Buffer wq = random_buffer(c.dev, uint64_t(N) * K, 5, "wq");
    Buffer sx = float_buffer(c.dev, M, 6, "sx", 0.01f, 0.02f);
    Buffer sw = float_buffer(c.dev, N, 7, "sw", 0.01f, 0.02f);
    Buffer y(c.dev, uint64_t(M) * N * 4, MemoryKind::device, "y");
    const double bytes = double(M) * K + double(N) * K + double(M) * N * 4;
    double s = time_it(c.dev, c.reps, [&](Recorder& r) {
        ops::gemm_int8(r, xq, sx, wq, sw, BufferView{}, y, M, N, K, ops::GemmInt8Path::tiled);
    });
    row(c, name, shape3(M, N, K), caps.int_dot ? "tiled" : "tiled_nd", s, bytes, ops2);
    row_of_peak(ops2, s, dot_peak(c), "dot_peak");
    if (ops::gemm_int8_coopmat_supported(c.dev)) {
        s = time_it(c.dev, c.reps, [&](Recorder& r) {
            ops::gemm_int8(r, xq, sx, wq, sw, BufferView{}, y, M, N, K, ops::GemmInt8Path::coopmat);
        });
        row(c, name, shape3(M, N, K), "cm", s, bytes, ops2);
        row_of_peak(ops2, s, dot_peak(c), "dot_peak");
    } else {
        row_unavailable(name, shape3(M, N, K), "cm", no_s8cm);
    }
}

// Prefill attention, causal, M queries from position 0 over an F16 cache (vkrt's default):
// the blocked scalar kernel (attention_flash: "flash_sg" with subgroup shuffles, else
// "flash") and the cooperative-matrix kernel ("flash_cm"), forced through
// AttentionShape::prefill. Ops: ~M^2/2 (query, key) pairs x hd x 2 products x 2.
void bench_prefill_attention(Ctx& c) {
    if (!wanted(c, "prefill_attention")) return;
    const uint32_t M = c.small ? 64 : 512, hd = 128, n_head = 32;
    const auto& caps = c.dev.caps();
    for (uint32_t n_kv_head : {32u, 8u}) {
        const std::string shape = std::to_string(n_head) + "/" + std::to_string(n_kv_head) + " hd" +
                                  std::to_string(hd) + " M=" + std::to_string(M);
        std::vector<int32_t> pos(M);
        for (uint32_t i = 0; i < M; ++i) pos[i] = int32_t(i);
        Buffer pp = make_buffer(c.dev, pos, "pos");
        Buffer kc = weight_buffer(c.dev, gguf::TensorType::F16, M, n_kv_head * hd, 18);
        Buffer vc = weight_buffer(c.dev, gguf::TensorType::F16, M, n_kv_head * hd, 19);
        Buffer q = float_buffer(c.dev, uint64_t(M) * n_head * hd, 16, "q");
        Buffer out(c.dev, uint64_t(M) * n_head * hd * 4, MemoryKind::device, "out");
        const double ops2 = 2.0 * M * M * n_head * hd, bytes = double(kc.size() + vc.size());
        using Prefill = ops::AttentionShape::Prefill;
        ops::AttentionShape sh{n_head, n_kv_head, hd, M, ops::KvType::f16, ops::KvType::f16, 0, Prefill::scalar};
        const auto ft = ops::flash_tiles(caps, hd, sh.type_k, sh.type_v);
        double s = time_it(c.dev, c.reps, [&](Recorder& r) { ops::attention(r, q, kc, vc, pp, out, M, sh); });
        row(c, "prefill_attention", shape, ft && ft->subgroup ? "flash_sg" : "flash", s, bytes, ops2);
        row_of_peak(ops2, s, fma_peak(c), caps.fp16 ? "f16 FMA peak" : "f32 FMA peak");
        sh.prefill = Prefill::coopmat;
        if (ops::attention_uses_coopmat(caps, sh, M)) {
            s = time_it(c.dev, c.reps, [&](Recorder& r) { ops::attention(r, q, kc, vc, pp, out, M, sh); });
            row(c, "prefill_attention", shape, "flash_cm", s, bytes, ops2);
            row_of_peak(ops2, s, fma_peak(c), caps.fp16 ? "f16 FMA peak" : "f32 FMA peak");
        } else {
            row_unavailable("prefill_attention", shape, "flash_cm", "no 16x16x16 f16 x f16 -> f32 cooperative matrix");
        }
    }
}

void bench_block(const Ctx& c) {
    const uint32_t E = c.small ? 1024 : 4096, M = c.small ? 64 : 512, F = c.small ? 2752 : 11008;
    if (wanted(c, "rmsnorm")) {
        Buffer x = float_buffer(c.dev, uint64_t(M) * E, 8, "x"), w = float_buffer(c.dev, E, 9, "w");
        Buffer y(c.dev, uint64_t(M) * E * 4, MemoryKind::device, "y");
        double s = time_it(c.dev, c.reps, [&](Recorder& r) { ops::rmsnorm(r, x, w, y, M, E, 1e-5f); });
        row(c, "rmsnorm", shape3(M, 0, E), "-", s, double(M) * E * 8, double(M) * E * 4);
    }
    if (wanted(c, "swiglu")) {
        Buffer g = float_buffer(c.dev, uint64_t(M) * F, 10, "g"), u = float_buffer(c.dev, uint64_t(M) * F, 11, "u");
        double s = time_it(c.dev, c.reps, [&](Recorder& r) { ops::swiglu(r, g, u, g, M * F); });
        row(c, "swiglu", shape3(M, F, 0), "-", s, double(M) * F * 12, double(M) * F * 5);
    }
    if (wanted(c, "add")) {
        Buffer a = float_buffer(c.dev, uint64_t(M) * E, 12, "a"), b = float_buffer(c.dev, uint64_t(M) * E, 13, "b");
        double s = time_it(c.dev, c.reps, [&](Recorder& r) { ops::add(r, a, b, a, M * E); });
        row(c, "add", shape3(M, E, 0), "-", s, double(M) * E * 12, double(M) * E);
    }
    const uint32_t n_head = 32, hd = 128, n_ctx = c.small ? 1024 : 4096;
    for (uint32_t n_kv_head : {32u, 8u}) {
        if (!wanted(c, "attention") && !wanted(c, "rope")) break;
        std::vector<int32_t> pos_decode = {int32_t(n_ctx - 1)};
        std::vector<int32_t> pos_prefill(M);
        for (uint32_t i = 0; i < M; ++i) pos_prefill[i] = int32_t(i);
        Buffer kc = float_buffer(c.dev, uint64_t(n_ctx) * n_kv_head * hd, 14, "k cache");
        Buffer vc = float_buffer(c.dev, uint64_t(n_ctx) * n_kv_head * hd, 15, "v cache");
        Buffer q = float_buffer(c.dev, uint64_t(M) * n_head * hd, 16, "q");
        Buffer out(c.dev, uint64_t(M) * n_head * hd * 4, MemoryKind::device, "out");
        ops::AttentionShape sh{n_head, n_kv_head, hd, n_ctx};
        const std::string heads = std::to_string(n_head) + "/" + std::to_string(n_kv_head) + " hd" + std::to_string(hd);
        if (wanted(c, "attention")) {
            Buffer pd = make_buffer(c.dev, pos_decode, "pos");
            Buffer pp = make_buffer(c.dev, pos_prefill, "pos");
            // Decode splits the cache over workgroups where the device has more compute units
            // than kv heads (ops::attention_splits): their partial results go here.
            Buffer split = ops::attention_scratch(c.dev, sh);
            double s = time_it(c.dev, c.reps, [&](Recorder& r) {
                ops::attention(r, q, kc, vc, pd, out, 1, sh, 0.f, 0, 0, 0, split);
            });
            row(c, "attention_decode", heads + " kv=" + std::to_string(n_ctx), "-", s,
                double(n_ctx) * n_kv_head * hd * 8, 4.0 * n_ctx * n_head * hd);
            // The same over F16 and Q8_0 caches (vkrt's default and the 8-bit option):
            // decode attention reads the whole cache, so its bytes set the time.
            for (auto [kt, gt] : {std::pair{ops::KvType::f16, gguf::TensorType::F16},
                                  std::pair{ops::KvType::q8_0, gguf::TensorType::Q8_0}}) {
                Buffer kq = weight_buffer(c.dev, gt, n_ctx, n_kv_head * hd, 18);
                Buffer vq = weight_buffer(c.dev, gt, n_ctx, n_kv_head * hd, 19);
                ops::AttentionShape shq = sh;
                shq.type_k = shq.type_v = kt;
                double sq = time_it(c.dev, c.reps, [&](Recorder& r) {
                    ops::attention(r, q, kq, vq, pd, out, 1, shq, 0.f, 0, 0, 0, split);
                });
                row(c, "attention_decode", heads + " kv=" + std::to_string(n_ctx), ops::kv_type_name(kt), sq,
                    double(kq.size() + vq.size()), 4.0 * n_ctx * n_head * hd);
                // Prefill over the same caches (F16: tiles of halves), positions < M.
                sq = time_it(c.dev, std::max(1, c.reps / 2), [&](Recorder& r) {
                    ops::attention(r, q, kq, vq, pp, out, M, shq);
                });
                row(c, "attention_prefill", heads + " M=" + std::to_string(M), ops::kv_type_name(kt), sq,
                    double(kq.size() + vq.size()) * M / n_ctx, 2.0 * M * M * n_head * hd);
            }
            s = time_it(c.dev, std::max(1, c.reps / 2), [&](Recorder& r) {
                ops::attention(r, q, kc, vc, pp, out, M, sh);
            });
            row(c, "attention_prefill", heads + " M=" + std::to_string(M), "-", s,
                double(M) * n_kv_head * hd * 8, 2.0 * M * M * n_head * hd);  // causal: ~M^2/2 pairs x 4 ops
        }
        if (wanted(c, "rope") && n_kv_head == 32) {
            Buffer pp = make_buffer(c.dev, pos_prefill, "pos");
            ops::RopeParams rp{n_head, hd, hd, 10000.f, ops::RopeMode::norm};
            double s = time_it(c.dev, c.reps, [&](Recorder& r) { ops::rope(r, q, pp, q, M, rp); });
            row(c, "rope", std::to_string(M) + "x" + heads, "norm", s, double(M) * n_head * hd * 8,
                double(M) * n_head * hd * 3);
        }
    }
    if (wanted(c, "embed")) {
        const uint32_t V = 32000;
        Buffer table = weight_buffer(c.dev, gguf::TensorType::Q4_0, V, E, 17);
        std::vector<int32_t> ids(M);
        for (uint32_t i = 0; i < M; ++i) ids[i] = int32_t((i * 7919) % V);
        Buffer idb = make_buffer(c.dev, ids, "ids");
        Buffer out(c.dev, uint64_t(M) * E * 4, MemoryKind::device, "out");
        double s = time_it(c.dev, c.reps, [&](Recorder& r) {
            ops::embed(r, table, Format::Q4_0, idb, out, M, E, V);
        });
        row(c, "embed_q4_0", shape3(M, E, 0), "-", s, double(M) * E * (4 + 18.0 / 32), double(M) * E);
    }
}

}  // namespace

int run_kernels(Device& dev, const std::string& filter, int reps) {
    Ctx c{dev, filter, std::max(1, reps), dev.caps().type == VK_PHYSICAL_DEVICE_TYPE_CPU};
    std::printf("device: %s (%s)%s\n", dev.caps().name.c_str(), dev.caps().driver.c_str(),
                c.small ? " -- CPU device: shapes scaled down" : "");
    std::printf("paths: int dot %s, fp16 %s, subgroup %s\n\n", dev.caps().int_dot ? "on" : "off",
                dev.caps().fp16 ? "on" : "off", dev.caps().subgroup ? "on" : "off");
    std::printf("| %-20s | %-26s | %-8s | %10s | %8s | %9s |\n", "kernel", "shape", "path", "time us", "GB/s", "GOPS");
    std::printf("| %-20s | %-26s | %-8s | %10s | %8s | %9s |\n", "---", "---", "---", "---", "---", "---");
    bench_int8(c);
    bench_matmul(c);
    bench_splitk(c);
    bench_block(c);
    bench_prefill_gemm(c);
    bench_prefill_attention(c);
    return 0;
}

}  // namespace vkrt::bench
