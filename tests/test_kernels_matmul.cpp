// Matrix and embedding kernels (shaders/matvec.comp, matmul.comp, embed.comp,
// quantize_q8_1.comp) for every weight format with GPU kernels, against the registry's
// reference decoders (core/format.hpp): every format x path (GEMV float32 / float16 /
// integer dot, GEMM, embedding) x capability combination (VKRT_DISABLE=dot,fp16,subgroup),
// odd shapes (N not a multiple of the rows per workgroup, M 1..9, K one block and many)
// and weights split into several parts (ops/weights.hpp).
//
// The formats come from fmt::all() (VKRT_K_FLOAT), the weights from ops::synthetic_weight
// (random block bytes for the formats vkrt cannot encode): adding a format to
// shaders/formats.def with a decoder brings it into every check here.
//
// Float paths are compared with a double-precision product of the reference-dequantized
// weights. The error of output (m,n) is measured relative to S = sum_k |x[m,k] * w[n,k]|.
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/format.hpp"
#include "core/fp16.hpp"
#include "gpu.hpp"
#include "ops/embed.hpp"
#include "ops/matmul.hpp"
#include "ops/weights.hpp"
#include "ref/reference.hpp"
#include "test_util.hpp"
#include "vk/shaders.hpp"

using namespace vkrt;
using ops::MatmulPath;

namespace {

// fp32 paths: each output is a float sum of K products in some order (per-thread partial
// sums, unit sums scaled once, a tree reduction) of weights the kernel decodes with at most
// a few float roundings of its own (a block's scale times a sub-scale, a min term: the
// decoders of formats with a min keep ggml's d1*q - m1, others may factor the scale out):
// error <= ~(K/L + log2 L + 40) * 2^-24 * S; 2e-5 leaves room for K = 11008.
constexpr double kF32RelTol = 2e-5;
// fp16 path (gemv_f16, shaders/matvec.comp F16): x scaled by a power of two (exact) ->
// half (u), the int8 quants -> half (exact), then per lane of a float16 pair a chain of a
// product and 3 FMAs (each at most a product and a sum rounded apart: at most 4 roundings
// on any product's way) and the sum of two chains (u), then fp32: 6u = 6 * 2^-11 of the
// sum of |d*sc*q*x| (to first order; the second-order terms and the fp32 operations are
// within the 2e-5 of kF32RelTol). Formats with a min (x = d*sc*q + m) sum d*sc*q*x and
// m*x separately: the rounding is relative to |d*sc*q| <= 2 max|w| of the unit (its
// quants span the range), not to |w|, so the bound is 6u * (S + 2 P), P = sum over units
// of max|w| * sum|x| (f16_allowed).
constexpr double kF16RelTol = 6.0 / 2048.0 + 2e-5;
// Integer path vs the float reference fed the GPU's own quantized x (x' = q * d_x): the
// integer sums are exact; the epilogue's float operations (d_x, d, sc, min terms) and the
// float sum over units round, each relative to a part of the weights (sc*q*d or the min)
// that is at most ~8x the sub-block's largest |w| (the quants of 32 random elements span
// the range). Bound: (K/32 + 16) * 2^-24 * 16 * sum_units |d_x| * sum |q_x| * max|w|.
constexpr double kIntPartFactor = 16.0;

// The formats with GPU kernels, from the registry.
std::vector<Format> kernel_formats() {
    std::vector<Format> v;
    for (const fmt::Traits& t : fmt::all())
        if (t.kernels & fmt::kKernelFloat) v.push_back(t.type);
    return v;
}
bool is_block(Format t) { return fmt::traits(t).block_elems > 1; }
bool has_int(Format t) { return (fmt::traits(t).kernels & fmt::kKernelInt) != 0; }
// The int8-dot GEMM: the integer formats and Q2_K (formats.def VKRT_K_MMQ).
bool has_mmq(Format t) { return has_int(t) || (fmt::traits(t).kernels & fmt::kKernelMmq) != 0; }
uint32_t block_k(Format t) { return std::max<uint32_t>(fmt::traits(t).block_elems, 32); }

// N rows of the weight dequantized by the registry (the reference).
std::vector<float> dequantized(Format t, const std::vector<uint8_t>& w, uint32_t N, uint32_t K) {
    std::vector<float> out(size_t(N) * K);
    const uint64_t rb = fmt::row_bytes(t, K);
    for (uint32_t n = 0; n < N; ++n) fmt::dequantize_row(t, w.data() + rb * n, out.data() + size_t(n) * K, K);
    return out;
}

// Y (M,N) = X (M,K) . Wd (N,K)^T in double; and S = sum |x w| alongside.
void matmul_ref(const std::vector<float>& x, const std::vector<float>& wd, uint32_t M, uint32_t N, uint32_t K,
                std::vector<float>& y, std::vector<float>& S) {
    y.assign(size_t(M) * N, 0.f);
    S.assign(size_t(M) * N, 0.f);
    for (uint32_t m = 0; m < M; ++m)
        for (uint32_t n = 0; n < N; ++n) {
            double s = 0, a = 0;
            for (uint32_t k = 0; k < K; ++k) {
                const double p = double(x[size_t(m) * K + k]) * double(wd[size_t(n) * K + k]);
                s += p;
                a += std::fabs(p);
            }
            y[size_t(m) * N + n] = float(s);
            S[size_t(m) * N + n] = float(a);
        }
}

// A device buffer holding the weight bytes, padded to a multiple of 4 bytes as the kernels require.
Buffer weight_buffer(Device& dev, const std::vector<uint8_t>& w) {
    const uint64_t padded = std::max<uint64_t>((w.size() + 3) & ~size_t(3), 4);
    Buffer b(dev, padded, MemoryKind::device, "w");
    b.upload(w.data(), w.size());
    const uint8_t zeros[4] = {0, 0, 0, 0};
    if (padded > w.size()) b.upload(zeros, padded - w.size(), w.size());
    return b;
}

// Everything the checks of one (format, shape) need, computed once.
struct Problem {
    Format type;
    uint32_t M, N, K;
    std::vector<float> x;
    std::vector<uint8_t> w;
    std::vector<float> wd;   // reference-dequantized weights (N,K)
    std::vector<float> ref;  // X . Wd^T
    std::vector<float> S;    // sum_k |x w|
};

Problem make_problem(Format type, uint32_t M, uint32_t N, uint32_t K, uint32_t seed) {
    Problem p{type, M, N, K, test::random_floats(size_t(M) * K, seed), ops::synthetic_weight(type, N, K, seed + 1),
              {}, {}, {}};
    p.wd = dequantized(type, p.w, N, K);
    matmul_ref(p.x, p.wd, M, N, K, p.ref, p.S);
    return p;
}

std::string describe(const Problem& p) {
    return std::string(fmt::name(p.type)) + " (M,N,K)=(" + std::to_string(p.M) + "," + std::to_string(p.N) + "," +
           std::to_string(p.K) + ")";
}

// Runs one path on `dev` with the weight in `w` (any parts); returns Y (M,N).
std::vector<float> run_path(Device& dev, const Problem& p, const ops::WeightView& w, MatmulPath path,
                            const ops::GemmTiles* tiles = nullptr) {
    Buffer x = make_buffer(dev, p.x, "x");
    Buffer y(dev, uint64_t(p.M) * p.N * 4, MemoryKind::device, "y");
    Buffer scratch(dev, std::max<uint64_t>(ops::matmul_scratch_bytes(p.M, p.K), 4), MemoryKind::device, "scratch");
    test::run(dev, [&](Recorder& rec) {
        rec.fill(y, 0x7fc00000u);  // NaN: an output a kernel misses fails the check
        if (tiles)
            ops::matmul_gemm(rec, x, w, y, p.M, *tiles);
        else
            ops::matmul(rec, x, w, y, p.M, scratch, path);
    });
    return y.download_as<float>(size_t(p.M) * p.N);
}

// Counts outputs outside `allowed` (NaN fails too); the worst error / allowed in `worst`.
size_t count_bad(const Problem& p, const std::vector<float>& y, const std::vector<double>& allowed, double& worst,
                 size_t& first_bad) {
    size_t bad = 0;
    worst = 0;
    for (size_t i = 0; i < y.size(); ++i) {
        const double err = std::fabs(double(y[i]) - double(p.ref[i]));
        if (!(err <= allowed[i] + 1e-30) && !bad++) first_bad = i;
        worst = std::max(worst, err / (allowed[i] + 1e-30));
    }
    return bad;
}

// Every output within allowed[i]: max over outputs of |y - ref| / allowed <= 1.
void check_within(const Problem& p, const std::vector<float>& y, const std::vector<double>& allowed,
                  const std::string& what) {
    double worst = 0;
    size_t first_bad = 0;
    const size_t bad = count_bad(p, y, allowed, worst, first_bad);
    INFO(what, " ", describe(p), ": worst err/allowed = ", worst, ", first bad output ", first_bad,
         " y=", y[first_bad], " ref=", p.ref[first_bad]);
    CHECK(bad == 0);
    if (std::getenv("VKRT_TEST_VERBOSE")) MESSAGE(what, " ", describe(p), ": worst err/allowed = ", worst);
}

// Within rel_tol * S of the reference.
void check_close(const Problem& p, const std::vector<float>& y, double rel_tol, const std::string& what) {
    std::vector<double> allowed(p.S.size());
    for (size_t i = 0; i < allowed.size(); ++i) allowed[i] = rel_tol * p.S[i];
    check_within(p, y, allowed, what);
}

// The gemv_f16 bound of output (m,n): kF16RelTol * (S + 2 P) (see kF16RelTol).
std::vector<double> f16_allowed(const Problem& p) {
    const uint32_t nu = p.K / 32;
    std::vector<double> a(size_t(p.M) * p.N);
    for (uint32_t m = 0; m < p.M; ++m)
        for (uint32_t n = 0; n < p.N; ++n) {
            double P = 0;
            for (uint32_t u = 0; u < nu; ++u) {
                double wmax = 0, xs = 0;
                for (uint32_t j = 0; j < 32; ++j) {
                    wmax = std::max(wmax, double(std::fabs(p.wd[size_t(n) * p.K + 32 * u + j])));
                    xs += std::fabs(p.x[size_t(m) * p.K + 32 * u + j]);
                }
                P += wmax * xs;
            }
            a[size_t(m) * p.N + n] = kF16RelTol * (double(p.S[size_t(m) * p.N + n]) + 2 * P);
        }
    return a;
}

void check_f16(const Problem& p, const std::vector<float>& y, const std::string& what) {
    check_within(p, y, f16_allowed(p), what);
}

// An integer path's output gy checked against the reference product of the GPU's own
// quantized X (words: the q8_1 buffer read back) with the bound described above.
void check_int_result(const Problem& p, const std::vector<float>& gy, const std::vector<uint32_t>& words,
                      const std::string& what) {
    const uint32_t M = p.M, N = p.N, K = p.K, nb = K / 32;
    std::vector<float> xq(size_t(M) * K), xa(size_t(M) * K);  // q * d_x and |q| * |d_x|
    const int8_t* q = reinterpret_cast<const int8_t*>(words.data());
    for (size_t g = 0; g < size_t(M) * nb; ++g) {
        float d;
        std::memcpy(&d, &words[size_t(M) * K / 4 + 2 * g], 4);
        for (size_t j = 0; j < 32; ++j) {
            xq[g * 32 + j] = float(q[g * 32 + j]) * d;
            xa[g * 32 + j] = std::fabs(float(q[g * 32 + j]) * d);
        }
    }
    std::vector<float> r, S;
    matmul_ref(xq, p.wd, M, N, K, r, S);
    // Per unit of each weight row, its largest |w|: the bound's sum over units is then
    // a product of the per-unit sums of |x| with it.
    std::vector<double> wmax(size_t(N) * nb, 0.0);
    for (uint32_t n = 0; n < N; ++n)
        for (uint32_t b = 0; b < nb; ++b)
            for (uint32_t j = 0; j < 32; ++j)
                wmax[size_t(n) * nb + b] =
                    std::max(wmax[size_t(n) * nb + b], double(std::fabs(p.wd[size_t(n) * K + b * 32 + j])));
    std::vector<double> xsum(size_t(M) * nb, 0.0);
    for (size_t g = 0; g < size_t(M) * nb; ++g)
        for (uint32_t j = 0; j < 32; ++j) xsum[g] += xa[g * 32 + j];
    size_t bad = 0;
    double worst = 0;
    for (uint32_t m = 0; m < M; ++m)
        for (uint32_t n = 0; n < N; ++n) {
            double bound = 0;
            for (uint32_t b = 0; b < nb; ++b) bound += xsum[size_t(m) * nb + b] * wmax[size_t(n) * nb + b];
            const double allowed = (nb + 16) * 0x1p-24 * kIntPartFactor * bound + 1e-30;
            const double err = std::fabs(double(gy[size_t(m) * N + n]) - r[size_t(m) * N + n]);
            if (!(err <= allowed)) ++bad;  // NaN fails too
            worst = std::max(worst, err / allowed);
        }
    INFO(what, " ", describe(p), ": worst err/allowed vs the quantized-x reference = ", worst);
    CHECK(bad == 0);
    if (std::getenv("VKRT_TEST_VERBOSE")) MESSAGE(what, " ", describe(p), ": worst err/allowed = ", worst);
}

// An integer path (gemv_int or mmq): X quantized on the GPU (read back from the scratch),
// then checked by check_int_result.
void check_int_path(Device& dev, const Problem& p, const ops::WeightView& w, MatmulPath path,
                    const std::string& what) {
    const uint32_t M = p.M, N = p.N, K = p.K;
    Buffer x = make_buffer(dev, p.x, "x");
    Buffer y(dev, uint64_t(M) * N * 4, MemoryKind::device, "y");
    Buffer scratch(dev, ops::matmul_scratch_bytes(M, K), MemoryKind::device, "scratch");
    test::run(dev, [&](Recorder& rec) {
        rec.fill(y, 0x7fc00000u);  // NaN: an output a kernel misses fails the check
        ops::matmul(rec, x, w, y, M, scratch, path);
    });
    const auto gy = y.download_as<float>(size_t(M) * N);
    // The same product from the already-quantized activations (the q8_1 buffer a fused
    // graph shares between matrices): bit for bit what the integer path matmul_q8 picks
    // (the int8-dot GEMM where mmq_preferred, else the GEMV) computed.
    if ((path == MatmulPath::mmq) == ops::mmq_preferred(dev, M)) {
        Buffer y2(dev, uint64_t(M) * N * 4, MemoryKind::device, "y2");
        test::run(dev, [&](Recorder& rec) { ops::matmul_q8(rec, ops::Q8Activations{scratch, M, K}, w, y2); });
        const auto gy2 = y2.download_as<float>(size_t(M) * N);
        CHECK_MESSAGE(std::memcmp(gy.data(), gy2.data(), gy.size() * 4) == 0, what, ": matmul_q8 differs from ",
                      ops::matmul_path_name(path));
    }
    check_int_result(p, gy, scratch.download_as<uint32_t>(ops::matmul_scratch_bytes(M, K) / 4), what);
}

struct Caps {
    bool no_int_dot, no_fp16, no_subgroup;
};
std::string caps_name(const Caps& c) {
    return std::string(c.no_int_dot ? "nodot" : "dot") + "/" + (c.no_fp16 ? "nofp16" : "fp16") + "/" +
           (c.no_subgroup ? "nosg" : "sg");
}
const Caps kAllCaps[] = {
    {false, false, false}, {false, false, true}, {false, true, false}, {true, false, false}, {true, true, true},
};

// Runs every path `dev` can run on p with weight view w, checks each, and checks that
// the others are refused.
void check_all_paths(Device& dev, const std::string& tag, const Problem& p, const ops::WeightView& w,
                     bool gemv_only = false) {
    const auto& caps = dev.caps();
    for (MatmulPath path : {MatmulPath::auto_, MatmulPath::gemv, MatmulPath::gemv_f16, MatmulPath::gemm,
                            MatmulPath::gemv_int, MatmulPath::mmq}) {
        if (gemv_only && (path == MatmulPath::gemm || path == MatmulPath::mmq || path == MatmulPath::auto_)) continue;
        const std::string what = tag + " " + ops::matmul_path_name(path);
        const bool possible = (path != MatmulPath::gemv_f16 || (has_int(p.type) && caps.fp16)) &&
                              (path != MatmulPath::gemv_int || (has_int(p.type) && caps.int_dot)) &&
                              (path != MatmulPath::mmq || (has_mmq(p.type) && caps.int_dot));
        if (!possible) {
            INFO(what, " ", describe(p));
            CHECK_THROWS_AS(run_path(dev, p, w, path), vkrt::Error);
            continue;
        }
        const MatmulPath eff =
            path == MatmulPath::auto_ ? ops::matmul_pick_path(dev, p.type, p.M, p.N, p.K, true) : path;
        if (eff == MatmulPath::gemv_int || eff == MatmulPath::mmq) {
            check_int_path(dev, p, w, eff, what);
            continue;
        }
        if (eff == MatmulPath::gemv_f16)
            check_f16(p, run_path(dev, p, w, path), what);
        else
            check_close(p, run_path(dev, p, w, path), kF32RelTol, what);
    }
}

struct Shape {
    uint32_t M, N, K;
};
// Odd shapes in units of the format's block (Kb = 32 or 256 elements).
std::vector<Shape> shapes_for(Format t) {
    const uint32_t b = block_k(t);
    std::vector<Shape> s = {{1, 1, b}, {3, 5, 3 * b}, {9, 65, 2 * b}, {5, 17, b}, {8, 3, 5 * b}};
    if (!is_block(t))  // any K for the scalar formats
        for (Shape e : {Shape{3, 7, 33}, Shape{9, 13, 3}, Shape{2, 3, 101}}) s.push_back(e);
    return s;
}

// The formats that get every odd shape on every capability combination: one per kind of
// decoder and layout (the kernels are one template; a format only brings its decoder):
// the scalar formats (any K; F16/BF16 read elements in pairs, so odd K matters to each),
// a 32-element format in the grouped layout with an integer path (Q4_0), and 256-element
// formats with a min (Q4_K) and without (Q6_K). The others run two shapes on the
// combinations (below) and M = 1, 3, 12 on every path in the weights-in-parts test.
bool sweep_format(Format t) {
    return !is_block(t) || t == Format::Q4_0 || t == Format::Q4_K || t == Format::Q6_K;
}

}  // namespace

// Each (format x path x shape x capability) run costs a few dispatches and each new
// pipeline variant (format x path x specialization: the GEMV's threads, rows and columns
// follow K and M) a compile, more than the run where the driver's shader cache is cold
// (a clean machine): so the full (shape x capability) matrix runs on the representative
// formats (sweep_format), and every other format runs one shape on every capability
// combination and one on all on / all off, the file's layout on the first of them only
// (docs/TESTING.md).
TEST_CASE("matmul: every format x path x capability combination, odd shapes") {
    uint32_t seed = 100;
    for (Format t : kernel_formats()) {
        const auto shapes = shapes_for(t);
        const bool sweep = sweep_format(t);
        for (size_t i = 0; i < shapes.size(); ++i) {
            const Shape& s = shapes[i];
            seed += 7;
            // Every capability combination on shape 1 (3 x 5 x 3 blocks), and on shape 0
            // (one block, one row) for the swept formats; all on and all off on the others.
            // Formats not swept: shapes 0 and 1 only.
            if (!sweep && i >= 2) continue;
            const Problem p = make_problem(t, s.M, s.N, s.K, seed);
            for (const Caps& c : kAllCaps) {
                const bool all_caps = i == 1 || (i == 0 && sweep);
                if (!all_caps && caps_name(c) != "dot/fp16/sg" && caps_name(c) != "nodot/nofp16/nosg") continue;
                Device& dev = test::gpu_with(c.no_int_dot, c.no_fp16, c.no_subgroup);
                // The file's layout (what ops::matmul binds from a raw buffer); for the formats
                // upload_weight repacks (a model's layout) on all on / all off only, and of the
                // formats not swept on shape 1 only (3 x 5 x 3 blocks: several blocks a row and a
                // padded column; M = 1 runs in the grouped layout): test time, each (format,
                // path, shape) is a pipeline for lavapipe to compile (docs/TESTING.md).
                const bool ends = caps_name(c) == "dot/fp16/sg" || caps_name(c) == "nodot/nofp16/nosg";
                if (!ops::can_group(t) || (ends && (sweep || i == 1))) {
                    const Buffer wb = weight_buffer(dev, p.w);
                    check_all_paths(dev, caps_name(c), p, ops::single_part(wb, t, p.N, p.K));
                }
                // The grouped layout (upload_weight's for every block format).
                if (ops::can_group(t)) {
                    const auto wg = ops::upload_weight(dev, t, p.N, p.K, p.w.data(), "w");
                    REQUIRE(wg.view.layout == ops::WeightLayout::grouped);
                    check_all_paths(dev, caps_name(c) + " grouped", p, wg.view);
                }
            }
        }
    }
    for (const Caps& c : kAllCaps) CHECK_NO_VALIDATION(test::gpu_with(c.no_int_dot, c.no_fp16, c.no_subgroup));
}

// Hazard (issue 14): float16 has 65504 as its largest value and goes subnormal (which a
// GPU may flush to zero) below 2^-14, while real activations are far from 1. The largest
// |x| at any matmul input of the ../shared/models/arch/ models is 11.13 (llama_ropefreqs;
// the others 8.8..11.0) and the smallest non-zero 1.2e-8 (gemma3), measured over 1024
// calibration tokens of tinystories_valid_head.txt with quant::InstrumentedModel (every
// site's input). gemv_f16 is what integrated GPUs (every phone) get by default, so it
// must hold the fp32 bound for activations at that largest |x|, 10x it, and at the
// smallest; and for a row mixing both (the scaling is per 32 elements).
TEST_CASE("matmul: gemv_f16 holds its bound for real activation ranges (no overflow, no lost subnormals)") {
    constexpr float kLargestActivation = 11.13f, kSmallestActivation = 1.2e-8f;
    struct Range {
        const char* name;
        float big, small;  // units alternate: even units up to `big`, odd up to `small`
    };
    const Range ranges[] = {{"largest", kLargestActivation, kLargestActivation},
                            {"10x largest", 10 * kLargestActivation, 10 * kLargestActivation},
                            {"smallest", kSmallestActivation, kSmallestActivation},
                            {"mixed", 10 * kLargestActivation, kSmallestActivation}};
    uint32_t seed = 7000;
    for (Format t : kernel_formats()) {
        if (!is_block(t)) continue;
        const uint32_t K = std::max<uint32_t>(block_k(t), 128), N = 9;
        for (const Range& r : ranges) {
            for (uint32_t M : {1u, 3u}) {
                Problem p{t, M, N, K, test::random_floats(size_t(M) * K, seed += 3),
                          ops::synthetic_weight(t, N, K, seed + 1), {}, {}, {}};
                // Uniform in [-1, 1] times the unit's range; every 5th element at the range itself.
                for (size_t i = 0; i < p.x.size(); ++i) {
                    const float a = ((i % K) / 32) % 2 == 0 ? r.big : r.small;
                    p.x[i] = (i % 5 == 0) ? (p.x[i] < 0 ? -a : a) : p.x[i] * a;
                }
                p.wd = dequantized(t, p.w, N, K);
                matmul_ref(p.x, p.wd, M, N, K, p.ref, p.S);
                for (bool no_sg : {false, true}) {
                    Device& dev = test::gpu_with(false, false, no_sg);
                    if (!dev.caps().fp16) continue;  // the test device (lavapipe) has it; others may not
                    const Buffer wb = weight_buffer(dev, p.w);
                    check_f16(p, run_path(dev, p, ops::single_part(wb, t, N, K), MatmulPath::gemv_f16),
                              std::string("gemv_f16 ") + r.name + (no_sg ? " nosg" : " sg"));
                }
            }
        }
    }
    REQUIRE(test::gpu().caps().fp16);  // otherwise nothing above ran
    CHECK_NO_VALIDATION(test::gpu());
    CHECK_NO_VALIDATION(test::gpu_with(false, false, true));
}

// GEMV epilogues (a fused graph's residual add and gated activation). The sums are the
// plain GEMV's bit for bit (same kernel, same order: that product is held to the reference
// by the tests above), so: residual y = float(res + plain) exactly, with y a separate
// buffer and aliasing the residual; GLU y = act(plain gate) * plain up against ref::swiglu /
// ref::geglu (double) within the float activation's error: exp within (3 + 2|g|) ulp
// (Vulkan's bound), a division and two products: 2e-5 * |g * u| covers |g| < 40.
TEST_CASE("matmul: GEMV epilogues (residual add, SwiGLU, GeGLU) on every GEMV path and capability") {
    uint32_t seed = 8000;
    // The grouped layout (Q4_0), a 256-element format with and without a min (Q4_K, Q6_K)
    // and a scalar one (F16); every path the device has (all on) and the fallbacks (all off).
    for (Format t : {Format::Q4_0, Format::Q4_K, Format::Q6_K, Format::F16}) {
        const uint32_t K = 2 * block_k(t), F = 37;
        for (uint32_t M : {1u, 3u}) {
            const Problem p = make_problem(t, M, 2 * F, K, seed += 7);  // W = [gate (F); up (F)]
            const std::vector<float> res = test::random_floats(size_t(M) * 2 * F, seed + 3, -4.f, 4.f);
            for (const Caps& c : {Caps{false, false, false}, Caps{true, true, true}}) {
                Device& dev = test::gpu_with(c.no_int_dot, c.no_fp16, c.no_subgroup);
                const auto wb = ops::upload_weight(dev, t, 2 * F, K, p.w.data(), "w");
                for (MatmulPath path : {MatmulPath::auto_, MatmulPath::gemv, MatmulPath::gemv_f16, MatmulPath::gemv_int}) {
                    if ((path == MatmulPath::gemv_f16 && !(has_int(t) && dev.caps().fp16)) ||
                        (path == MatmulPath::gemv_int && !(has_int(t) && dev.caps().int_dot)))
                        continue;
                    const std::string what = caps_name(c) + " " + ops::matmul_path_name(path) + " " + describe(p);
                    Buffer x = make_buffer(dev, p.x, "x");
                    Buffer scratch(dev, ops::matmul_scratch_bytes(M, K), MemoryKind::device, "scratch");
                    Buffer y(dev, uint64_t(M) * 2 * F * 4, MemoryKind::device, "y");
                    Buffer y2(dev, uint64_t(M) * 2 * F * 4, MemoryKind::device, "y2");
                    Buffer br = make_buffer(dev, res, "res");
                    Buffer yr = make_buffer(dev, res, "y = res");  // the residual aliased by y
                    Buffer yg(dev, uint64_t(M) * F * 4, MemoryKind::device, "y glu");
                    Buffer yg2(dev, uint64_t(M) * F * 4, MemoryKind::device, "y geglu");
                    test::run(dev, [&](Recorder& rec) {
                        ops::matmul(rec, x, wb.view, y, M, scratch, path);
                        ops::matmul(rec, x, wb.view, y2, M, scratch, path, {br});
                        ops::matmul(rec, x, wb.view, yr, M, scratch, path, {yr});
                        ops::matmul(rec, x, wb.view, yg, M, scratch, path, {{}, ops::Glu::swiglu});
                        ops::matmul(rec, x, wb.view, yg2, M, scratch, path, {{}, ops::Glu::geglu});
                    });
                    const auto plain = y.download_as<float>(size_t(M) * 2 * F);
                    std::vector<float> want(plain.size());
                    for (size_t i = 0; i < want.size(); ++i) want[i] = res[i] + plain[i];
                    CHECK_MESSAGE(std::memcmp(y2.download_as<float>(want.size()).data(), want.data(), want.size() * 4) == 0,
                                  what, ": residual");
                    CHECK_MESSAGE(std::memcmp(yr.download_as<float>(want.size()).data(), want.data(), want.size() * 4) == 0,
                                  what, ": residual aliasing y");
                    std::vector<float> gate(size_t(M) * F), up(size_t(M) * F);
                    for (uint32_t m = 0; m < M; ++m)
                        for (uint32_t f = 0; f < F; ++f) {
                            gate[m * F + f] = plain[m * 2 * F + f];
                            up[m * F + f] = plain[m * 2 * F + F + f];
                        }
                    for (const auto& gb : {std::pair{ops::Glu::swiglu, &yg}, std::pair{ops::Glu::geglu, &yg2}}) {
                        const ops::Glu glu = gb.first;  // not a structured binding: clang 14's CHECK_MESSAGE
                        Buffer* const buf = gb.second;
                        const auto got = buf->download_as<float>(size_t(M) * F);
                        const auto ref = glu == ops::Glu::swiglu ? ref::swiglu(gate, up) : ref::geglu(gate, up);
                        size_t bad = 0;
                        for (size_t i = 0; i < got.size(); ++i)
                            bad += !(std::fabs(double(got[i]) - ref[i]) <= 2e-5 * std::fabs(double(gate[i]) * up[i]) + 1e-30);
                        CHECK_MESSAGE(bad == 0, what, glu == ops::Glu::swiglu ? ": swiglu" : ": geglu");
                    }
                    // The same epilogues from already-quantized activations (the integer path).
                    if (path == MatmulPath::gemv_int) {
                        Buffer yq(dev, uint64_t(M) * F * 4, MemoryKind::device, "yq");
                        test::run(dev, [&](Recorder& rec) {
                            ops::matmul_q8(rec, ops::Q8Activations{scratch, M, K}, wb.view, yq, {{}, ops::Glu::swiglu});
                        });
                        CHECK_MESSAGE(std::memcmp(yq.download_as<float>(size_t(M) * F).data(),
                                                  yg.download_as<float>(size_t(M) * F).data(), size_t(M) * F * 4) == 0,
                                      what, ": matmul_q8 swiglu");
                    }
                }
            }
        }
    }
    // Refusals: GEMM with an epilogue, residual + GLU, a GLU weight of odd rows or in parts.
    Device& dev = test::gpu();
    Buffer x(dev, 1 << 16), w(dev, 1 << 16), y(dev, 1 << 16);
    Recorder rec(dev);
    rec.begin();
    CHECK_THROWS_WITH_AS(ops::matmul(rec, x, ops::single_part(w, Format::F32, 4, 32), y, 1, {}, MatmulPath::gemm, {y}),
                         doctest::Contains("GEMV paths"), vkrt::Error);
    CHECK_THROWS_WITH_AS(ops::matmul(rec, x, ops::single_part(w, Format::F32, 4, 32), y, 1, {}, MatmulPath::auto_,
                                     {y, ops::Glu::swiglu}),
                         doctest::Contains("not both"), vkrt::Error);
    CHECK_THROWS_WITH_AS(ops::matmul(rec, x, ops::single_part(w, Format::F32, 5, 32), y, 1, {}, MatmulPath::auto_,
                                     {{}, ops::Glu::geglu}),
                         doctest::Contains("2F rows"), vkrt::Error);
    ops::WeightView parts{Format::F32, 8, 4, {{BufferView(w), 0, 4}, {BufferView(w), 4, 4}}};
    CHECK_THROWS_WITH_AS(ops::matmul(rec, x, parts, y, 1, {}, MatmulPath::auto_, {{}, ops::Glu::swiglu}),
                         doctest::Contains("one part"), vkrt::Error);
    rec.end();
    CHECK_NO_VALIDATION(dev);
    CHECK_NO_VALIDATION(test::gpu_with(true, true, true));
}

// The GLU epilogue's q8_1 output (MatmulEpilogue::q8: the integer Wdown's input, written
// by the workgroup that completes each block of 32 rows, shaders/arrival.glsl): its words
// are ops::quantize_q8_1's of the float rows bit for bit (one block writer, shaders/q8_1.glsl),
// and the float rows are the plain GLU epilogue's. Two products in one command buffer share
// the block counters (each leaves them zero for the next). The integer and float GEMVs, with
// and without subgroups, and the GPU shapes (cpu_tuning off: other rows per workgroup).
TEST_CASE("matmul: GLU epilogue with q8_1 output equals quantize_q8_1 of its rows, every GEMV path") {
    uint32_t seed = 8600;
    const uint32_t F = 96;  // three blocks of 32 outputs
    DeviceOptions o = DeviceOptions::from_env();
    o.disable_cpu_tuning = true;
    if (o.pipeline_cache.empty()) o.pipeline_cache = "off";
    Device gpu_shapes(o);
    for (Device* dev : {&test::gpu(), &test::gpu_with(true, true, true), &gpu_shapes}) {
        // (Q6_K and 3 columns on the default device only: each case compiles pipelines)
        const bool all = dev == &test::gpu();
        for (Format t : {Format::Q4_0, Format::Q6_K, Format::F16}) {
            if (t == Format::Q6_K && !all) continue;
            const uint32_t K = 2 * block_k(t);
            for (uint32_t M : {1u, 3u}) {
                if (M > 1 && !all) continue;
                const Problem p = make_problem(t, M, 2 * F, K, seed += 7);
                const auto wb = ops::upload_weight(*dev, t, 2 * F, K, p.w.data(), "w");
                for (MatmulPath path : {MatmulPath::gemv, MatmulPath::gemv_int}) {
                    if (path == MatmulPath::gemv_int && !(has_int(t) && dev->caps().int_dot)) continue;
                    CAPTURE(fmt::name(t));
                    CAPTURE(M);
                    CAPTURE(ops::matmul_path_name(path));
                    CAPTURE(dev->caps().subgroup);
                    CAPTURE(dev->caps().cpu_tuning);
                    Buffer x = make_buffer(*dev, p.x, "x");
                    Buffer scratch(*dev, ops::matmul_scratch_bytes(M, K), MemoryKind::device, "scratch");
                    const uint64_t qbytes = ops::matmul_scratch_bytes(M, F);
                    Buffer y0(*dev, uint64_t(M) * F * 4), y1(*dev, uint64_t(M) * F * 4), y2(*dev, uint64_t(M) * F * 4);
                    Buffer q1(*dev, qbytes), q2(*dev, qbytes), qref(*dev, qbytes);
                    Buffer arrivals(*dev, ops::glu_q8_arrival_bytes(M, F));
                    arrivals.fill_zero();
                    ops::MatmulEpilogue e1{{}, ops::Glu::swiglu, q1, arrivals}, e2{{}, ops::Glu::geglu, q2, arrivals};
                    test::run(*dev, [&](Recorder& rec) {
                        ops::matmul(rec, x, wb.view, y0, M, scratch, path, {{}, ops::Glu::swiglu});
                        ops::matmul(rec, x, wb.view, y1, M, scratch, path, e1);
                        ops::matmul(rec, x, wb.view, y2, M, scratch, path, e2);
                        ops::quantize_q8_1(rec, y2, ops::Q8Activations{qref, M, F});
                    });
                    const auto f0 = y0.download_as<float>(size_t(M) * F), f1 = y1.download_as<float>(size_t(M) * F);
                    CHECK(std::memcmp(f0.data(), f1.data(), f0.size() * 4) == 0);
                    CHECK(q2.download_as<uint32_t>(qbytes / 4) == qref.download_as<uint32_t>(qbytes / 4));
                    // The first product's blocks against the CPU quantization of its rows.
                    const auto w1 = q1.download_as<uint32_t>(qbytes / 4);
                    const auto cq = ref::quantize_blocks_i8(f1, M, F);
                    const int8_t* gq = reinterpret_cast<const int8_t*>(w1.data());
                    size_t bad = 0;
                    for (size_t i = 0; i < cq.q.size(); ++i) bad += std::abs(int(gq[i]) - int(cq.q[i])) > 1;
                    CHECK(bad == 0);
                    CHECK(arrivals.download_as<uint32_t>(arrivals.size() / 4) ==
                          std::vector<uint32_t>(arrivals.size() / 4, 0u));
                }
            }
        }
        CHECK_NO_VALIDATION(*dev);
    }
}

TEST_CASE("matmul and embed: weights split into parts of whole rows (forced small binding limit)") {
    // A limit of a few rows per part: N = 37 rows give parts of 6 (or 5, 3...) rows and a
    // short last part, each part one dispatch writing its rows of Y at its row offset.
    // K: two blocks; for the 256-element formats (8 units a block) one block at M = 1 and
    // three at M = 3, the GEMV shapes (threads, columns) the every-format case runs for them,
    // so that the GEMV pipelines here are that case's (suite time: a pipeline is a lavapipe
    // compile; the parts are whole rows, whatever K is).
    const auto gemv_k = [](Format t, uint32_t M) {
        const uint32_t b = block_k(t);
        return b == 256 && M == 1 ? b : b == 256 && M == 3 ? 3 * b : 2 * b;
    };
    uint32_t seed = 2000;
    for (Format t : kernel_formats()) {
        const uint32_t K = 2 * block_k(t), N = 37;
        const uint64_t limit = (fmt::row_bytes(t, K) * 6 + 3) & ~uint64_t(3);
        for (uint32_t M : {1u, 3u, 12u}) {
            const uint32_t Km = gemv_k(t, M);
            const uint64_t limit_m = (fmt::row_bytes(t, Km) * 6 + 3) & ~uint64_t(3);
            const Problem p = make_problem(t, M, N, Km, seed += 3);
            for (const Caps& c : {Caps{false, false, false}, Caps{true, true, true}}) {
                Device& dev = test::gpu_with(c.no_int_dot, c.no_fp16, c.no_subgroup);
                const auto wb = ops::upload_weight(dev, t, N, Km, p.w.data(), "w", limit_m);
                REQUIRE(wb.view.parts.size() >= 6);
                check_all_paths(dev, caps_name(c) + " split", p, wb.view);
            }
        }
        // Embedding from the split table: rows from every part, bit for bit.
        Device& dev = test::gpu();
        const std::vector<uint8_t> table = ops::synthetic_weight(t, N, K, seed += 3);
        const auto wb = ops::upload_weight(dev, t, N, K, table.data(), "table", limit);
        const std::vector<int32_t> ids = {0, 36, 5, 6, 17, 30, 11, 12, 1};
        const auto deq = dequantized(t, table, N, K);
        Buffer bi = make_buffer(dev, ids, "ids");
        Buffer bo(dev, ids.size() * K * 4, MemoryKind::device, "out");
        test::run(dev, [&](Recorder& r) { ops::embed(r, wb.view, bi, bo, uint32_t(ids.size())); });
        const auto out = bo.download_as<float>(ids.size() * K);
        size_t bad = 0;
        for (size_t m = 0; m < ids.size(); ++m)
            bad += std::memcmp(&out[m * K], &deq[size_t(ids[m]) * K], K * 4) != 0;
        INFO(fmt::name(t), " split embedding");
        CHECK(bad == 0);
    }
    CHECK_NO_VALIDATION(test::gpu());
    CHECK_NO_VALIDATION(test::gpu_with(true, true, true));
}

TEST_CASE("embed: every format, rows bit for bit the reference decoder's; bad ids give zeros") {
    uint32_t seed = 4000;
    for (Format t : kernel_formats()) {
        for (uint32_t K : {block_k(t), 3 * block_k(t)}) {
            const uint32_t V = 11;
            const std::vector<uint8_t> table = ops::synthetic_weight(t, V, K, seed += 5);
            const auto deq = dequantized(t, table, V, K);
            const std::vector<int32_t> ids = {3, 0, 10, 3, -1, 11, 7};
            for (const Caps& c : {Caps{false, false, false}, Caps{true, true, true}}) {
                Device& dev = test::gpu_with(c.no_int_dot, c.no_fp16, c.no_subgroup);
                const Buffer bt = weight_buffer(dev, table);
                Buffer bi = make_buffer(dev, ids, "ids");
                Buffer bo(dev, ids.size() * K * 4, MemoryKind::device, "out");
                test::run(dev, [&](Recorder& r) {
                    r.fill(bo, 0x7fc00000u);
                    ops::embed(r, bt, t, bi, bo, uint32_t(ids.size()), K, V);
                });
                const auto out = bo.download_as<float>(ids.size() * K);
                size_t bad = 0;
                for (size_t m = 0; m < ids.size(); ++m)
                    for (uint32_t k = 0; k < K; ++k) {
                        const float want = (ids[m] >= 0 && ids[m] < int32_t(V)) ? deq[size_t(ids[m]) * K + k] : 0.f;
                        bad += std::memcmp(&out[m * K + k], &want, 4) != 0;
                    }
                INFO(fmt::name(t), " K=", K, " ", caps_name(c));
                CHECK(bad == 0);
            }
        }
    }
    CHECK_NO_VALIDATION(test::gpu());
}

TEST_CASE("matmul: llama-7B shapes (4096 x 11008), GEMV paths") {
    const Shape shapes[] = {{1, 4096, 4096}, {2, 11008, 4096}, {1, 4096, 11008}};
    uint32_t seed = 900;
    for (Format t : {Format::Q4_0, Format::Q8_0, Format::Q4_K, Format::Q6_K, Format::F16, Format::F32}) {
        for (const Shape& s : shapes) {
            // F32/F16: the decode shapes only (F32 4096 x 11008 is 180 MB: over lavapipe's
            // maxStorageBufferRange of 128 MiB); K formats: one shape each (lavapipe time).
            // 4096 x 4096 only where 4096 x 11008 cannot run (F32): the long K (the error
            // bound's sum over 11008 products) and the many rows are what these shapes add
            // to the odd shapes above, and 4096 x 4096 has neither beyond the other two.
            if (!is_block(t) && s.M != 1) continue;
            if (t == Format::F32 && s.K != 4096) continue;
            if (t != Format::F32 && s.N == 4096 && s.K == 4096) continue;
            if (fmt::traits(t).block_elems == 256 && s.N != 4096) continue;
            const Problem p = make_problem(t, s.M, s.N, s.K, seed += 3);
            for (const Caps& c : {Caps{false, false, false}, Caps{false, false, true}}) {
                // Without subgroups only the final reduction of a row's partial sums changes
                // (shared memory instead of subgroupAdd), and it does not grow with K or N:
                // checked here on a 32-element (grouped) and a scalar format, and on every
                // format by the odd shapes.
                if (c.no_subgroup && t != Format::Q4_0 && t != Format::F16) continue;
                Device& dev = test::gpu_with(c.no_int_dot, c.no_fp16, c.no_subgroup);
                // As a model loads them (upload_weight: Q4_0 and Q8_0 in the grouped layout).
                const auto wb = ops::upload_weight(dev, t, p.N, p.K, p.w.data(), "w");
                check_all_paths(dev, caps_name(c), p, wb.view, /*gemv_only=*/true);
            }
        }
    }
    // GEMM on a prefill-like shape with a full K of 4096.
    for (Format t : {Format::Q4_0, Format::Q4_K}) {
        const Problem p = make_problem(t, 20, 300, 4096, seed += 3);
        Device& dev = test::gpu();
        const Buffer wb = weight_buffer(dev, p.w);
        check_close(p, run_path(dev, p, ops::single_part(wb, t, p.N, p.K), MatmulPath::gemm), kF32RelTol,
                    "gemm prefill");
    }
    CHECK_NO_VALIDATION(test::gpu());
    CHECK_NO_VALIDATION(test::gpu_with(false, false, true));
}

TEST_CASE("matmul: GEMM tile configurations, every format") {
    Device& dev = test::gpu();
    const auto& caps = dev.caps();
    const ops::GemmTiles configs[] = {{32, 32, 2, 2}, {64, 64, 4, 4}, {128, 128, 8, 8}, {128, 64, 8, 4}, {64, 32, 4, 2}};
    uint32_t seed = 3000;
    for (Format t : kernel_formats()) {
        const uint32_t K = is_block(t) ? 3 * block_k(t) : 77;
        for (auto [M, N] : {std::pair<uint32_t, uint32_t>{130, 201}, {9, 1}, {33, 129}}) {
            seed += 5;
            // Every format on 130 x 201 (partial tiles in both dimensions, several of each);
            // the one-column and one-tile-past shapes on the swept formats (sweep_format).
            if (M != 130 && !sweep_format(t)) continue;
            const Problem p = make_problem(t, M, N, K, seed);
            const Buffer wb = weight_buffer(dev, p.w);
            for (const auto& tl : configs) {
                // Each tile is a pipeline of its own per format (a compile on a cold cache):
                // every tile on the swept formats, the smallest and 128 x 64 (the default
                // with 32 KiB of shared memory, as lavapipe has) on the others.
                if (!sweep_format(t) && &tl != &configs[0] && &tl != &configs[3]) continue;
                const uint32_t L = (tl.BM / tl.TM) * (tl.BN / tl.TN);
                if (L > caps.max_workgroup_invocations || ops::gemm_shared_bytes(tl) > caps.shared_memory)
                    continue;
                check_close(p, run_path(dev, p, ops::single_part(wb, t, N, K), MatmulPath::gemm, &tl), kF32RelTol,
                            "gemm tiles " + std::to_string(tl.BM) + "x" + std::to_string(tl.BN));
            }
        }
    }
    CHECK_NO_VALIDATION(dev);
}

TEST_CASE("matmul: default tiles fit the device, shared memory counted once") {
    for (const Caps& c : {Caps{false, false, false}, Caps{true, true, true}}) {
        Device& dev = test::gpu_with(c.no_int_dot, c.no_fp16, c.no_subgroup);
        const auto& caps = dev.caps();
        const ops::GemmTiles g = ops::default_gemm_tiles(dev);
        CHECK((g.BM / g.TM) * (g.BN / g.TN) <= caps.max_workgroup_invocations);
        CHECK(ops::gemm_shared_bytes(g) <= caps.shared_memory);
        // 128x64 (24.8 KiB) fits every device with 32 KiB and 256 invocations: the choice
        // is at least that large there (counting shared memory twice gave 64x64).
        if (caps.shared_memory >= 32768 && caps.max_workgroup_invocations >= 256) CHECK(g.BM * g.BN >= 128 * 64);
        for (uint32_t M : {9u, 17u, 33u, 100u, 4096u}) {
            const ops::MmqTiles t = ops::default_mmq_tiles(dev, M);
            INFO("M = ", M, " tiles ", t.BM, "x", t.BN, " (", t.TM, "x", t.TN, ", BU ", t.BU, ")");
            CHECK((t.BM / t.TM) * (t.BN / t.TN) <= caps.max_workgroup_invocations);
            CHECK(ops::mmq_shared_bytes(t) <= caps.shared_memory);
            CHECK(t.BM <= std::max<uint32_t>(16, M * 2));  // no tile of mostly padding rows
        }
    }
}

// The int8-dot GEMM (shaders/mmq.comp) on every integer format: odd shapes (M, N, K not
// multiples of the tiles, M up to 4096) and tile configurations (BU units per stage
// beyond K's end, one-row tiles), each against the quantized-x reference.
TEST_CASE("matmul: int8-dot GEMM (mmq), every integer format, odd shapes and tiles") {
    Device& dev = test::gpu();
    if (!dev.caps().int_dot) {
        Buffer b(dev, 1 << 12);
        Recorder rec(dev);
        rec.begin();
        CHECK_THROWS_WITH_AS(ops::matmul_mmq(rec, ops::Q8Activations{b, 9, 32}, ops::single_part(b, Format::Q4_0, 4, 32),
                                             b, ops::MmqTiles{}),
                             doctest::Contains("integer dot"), vkrt::Error);
        rec.end();
        return;
    }
    const auto& caps = dev.caps();
    const ops::MmqTiles configs[] = {{16, 16, 4, 4, 1}, {32, 64, 4, 4, 4}, {64, 64, 4, 4, 2}, {128, 64, 8, 4, 2},
                                     {16, 32, 4, 8, 3}};
    uint32_t seed = 7000;
    for (Format t : kernel_formats()) {
        if (!has_mmq(t)) continue;
        const uint32_t b = block_k(t);
        const Shape shapes[] = {{9, 65, 3 * b}, {37, 201, b == 32 ? 7 * b : 2 * b}, {130, 19, b}};
        for (const Shape& sh : shapes) {
            seed += 7;
            // Every integer format on the first shape with every tile; the longer ones
            // (many tiles of N, of M) on the swept formats.
            if (&sh != &shapes[0] && !sweep_format(t)) continue;
            const Problem p = make_problem(t, sh.M, sh.N, sh.K, seed);
            const Buffer wb = weight_buffer(dev, p.w);
            const auto w = ops::single_part(wb, t, p.N, p.K);
            Buffer x = make_buffer(dev, p.x, "x");
            Buffer scratch(dev, ops::matmul_scratch_bytes(p.M, p.K), MemoryKind::device, "scratch");
            test::run(dev, [&](Recorder& rec) { ops::quantize_q8_1(rec, x, scratch, p.M, p.K); });
            const auto words = scratch.download_as<uint32_t>(ops::matmul_scratch_bytes(p.M, p.K) / 4);
            for (const auto& tl : configs) {
                // Every tile on the swept formats; on the others one-unit stages (16 x 16) and
                // 4-unit stages that run past K's end (32 x 64, BU 4 over 3 units).
                if (!sweep_format(t) && &tl != &configs[0] && &tl != &configs[1]) continue;
                if ((tl.BM / tl.TM) * (tl.BN / tl.TN) > caps.max_workgroup_invocations ||
                    ops::mmq_shared_bytes(tl) > caps.shared_memory)
                    continue;
                Buffer y(dev, uint64_t(p.M) * p.N * 4, MemoryKind::device, "y");
                test::run(dev, [&](Recorder& rec) {
                    rec.fill(y, 0x7fc00000u);
                    ops::matmul_mmq(rec, ops::Q8Activations{scratch, p.M, p.K}, w, y, tl);
                });
                check_int_result(p, y.download_as<float>(size_t(p.M) * p.N), words,
                                 "mmq " + std::to_string(tl.BM) + "x" + std::to_string(tl.BN) + " BU " +
                                     std::to_string(tl.BU));
            }
        }
    }
    // A long prefill (M = 4096) on the common formats with the default tiles.
    for (Format t : {Format::Q4_0, Format::Q4_K}) {
        const Problem p = make_problem(t, 4096, 5, 256, seed += 7);
        const Buffer wb = weight_buffer(dev, p.w);
        check_int_path(dev, p, ops::single_part(wb, t, p.N, p.K), MatmulPath::mmq, "mmq M=4096");
    }
    CHECK_NO_VALIDATION(dev);
}

TEST_CASE("matmul: the activation quantization matches ref::quantize_blocks_i8") {
    Device& dev = test::gpu();
    uint32_t seed = 5000;
    for (Shape s : {Shape{1, 0, 64}, Shape{3, 0, 160}, Shape{9, 0, 4096}}) {
        const uint32_t M = s.M, K = s.K, nb = K / 32;
        auto x = test::random_floats(size_t(M) * K, seed += 11);
        // An all-zero block and a block with one large value exercise d = 0 and the clamps.
        for (uint32_t k = 0; k < 32; ++k) x[k] = 0.0f;
        x[32 + 5] = 100.0f;
        Buffer bx = make_buffer(dev, x, "x");
        Buffer bs(dev, ops::matmul_scratch_bytes(M, K), MemoryKind::device, "scratch");
        test::run(dev, [&](Recorder& rec) { ops::quantize_q8_1(rec, bx, bs, M, K); });
        const auto words = bs.download_as<uint32_t>(ops::matmul_scratch_bytes(M, K) / 4);
        const int8_t* gq = reinterpret_cast<const int8_t*>(words.data());
        const uint32_t* meta = words.data() + size_t(M) * K / 4;
        const auto cq = ref::quantize_blocks_i8(x, M, K);
        size_t q_off_by_one = 0, q_bad = 0, d_bad = 0, sum_bad = 0;
        for (size_t g = 0; g < size_t(M) * nb; ++g) {
            float d;
            std::memcpy(&d, &meta[2 * g], 4);
            // GPU division may be off by a few ulp: d within 4 ulp of the CPU's.
            if (!(std::fabs(d - cq.d[g]) <= 4 * 1.2e-7f * cq.d[g])) ++d_bad;
            int32_t sum = 0;
            for (size_t j = 0; j < 32; ++j) {
                const int a = gq[g * 32 + j], b = cq.q[g * 32 + j];
                sum += a;
                if (a != b) {
                    // Only where x/d lies (within float error) on a .5 tie.
                    const double t = std::fabs(double(x[g * 32 + j]) / double(cq.d[g]));
                    if (std::abs(a - b) == 1 && std::fabs(t - std::floor(t) - 0.5) < 1e-5)
                        ++q_off_by_one;
                    else
                        ++q_bad;
                }
            }
            if (int32_t(meta[2 * g + 1]) != sum) ++sum_bad;
        }
        INFO("(M,K)=(", M, ",", K, ")");
        CHECK(d_bad == 0);
        CHECK(q_bad == 0);
        CHECK(sum_bad == 0);
        CHECK(q_off_by_one <= size_t(M) * K / 1000 + 1);
    }
    CHECK_NO_VALIDATION(dev);
}

// The shaders decode IEEE halves (F16 weights, the f16 scale d of Q8_0 / Q4_0 blocks) through
// one helper (vkrt_half_to_float, shaders/common.glsl): unpackHalf2x16 where the device can
// compile it (caps.native_half), integer operations where it cannot (LLVM 15's AArch64
// backend in lavapipe: docs/AARCH64.md). Every one of the 65536 half bit patterns goes
// through the kernels here, with each decoder, and is held to core/fp16.hpp.
namespace {
// Same bits; a NaN only needs to be a NaN where the kernel multiplies it (payloads of NaN
// products are the hardware's).
bool same_or_both_nan(float a, float b) {
    return std::memcmp(&a, &b, 4) == 0 || (std::isnan(a) && std::isnan(b));
}
std::string hex(uint32_t v) {
    char s[16];
    std::snprintf(s, sizeof s, "0x%x", v);
    return s;
}
// A table of 65536 blocks of format t (Q8_0 or Q4_0: f16 d at byte 0, 32 quants), block b
// with d = b and quants q_j = j - 16 (Q8_0) or (j % 16) - 8 (Q4_0); as 256 rows of 256 blocks.
std::vector<uint8_t> every_half_scale_table(Format t) {
    const uint64_t bb = fmt::traits(t).block_bytes;
    std::vector<uint8_t> w(65536 * bb);
    for (uint32_t b = 0; b < 65536; ++b) {
        uint8_t* blk = w.data() + b * bb;
        blk[0] = uint8_t(b);
        blk[1] = uint8_t(b >> 8);
        for (uint32_t j = 0; j < 32; ++j) {
            if (t == Format::Q8_0) blk[2 + j] = uint8_t(int8_t(int(j) - 16));
            else if (j < 16) blk[2 + j] = uint8_t(j | (j << 4));  // element j and 16 + j: nibble j
        }
    }
    return w;
}

// Both half decoders: unpackHalf2x16 (caps.native_half) and the integer one.
void check_every_half(Device& dev) {
    INFO("native half decoding: ", dev.caps().native_half);
    std::vector<float> want(65536);
    for (uint32_t h = 0; h < 65536; ++h) want[h] = fp16_to_fp32(uint16_t(h));

    // embed, F16 table (256, 256) holding half h at flat index h: out = the decoded half itself,
    // no arithmetic, so every bit counts (signed zeros, subnormals, infinities, NaN payloads).
    {
        std::vector<uint8_t> table(65536 * 2);
        for (uint32_t h = 0; h < 65536; ++h) {
            table[2 * h] = uint8_t(h);
            table[2 * h + 1] = uint8_t(h >> 8);
        }
        std::vector<int32_t> ids(256);
        for (int32_t i = 0; i < 256; ++i) ids[size_t(i)] = 255 - i;
        const Buffer bt = weight_buffer(dev, table);
        Buffer bi = make_buffer(dev, ids, "ids");
        Buffer bo(dev, 65536 * 4, MemoryKind::device, "out");
        test::run(dev, [&](Recorder& r) { ops::embed(r, bt, Format::F16, bi, bo, 256, 256, 256); });
        const auto out = bo.download_as<uint32_t>(65536);
        size_t bad = 0, first = 0;
        for (uint32_t m = 0; m < 256; ++m)
            for (uint32_t k = 0; k < 256; ++k) {
                const uint32_t h = uint32_t(ids[m]) * 256 + k;
                if (out[m * 256 + k] != std::bit_cast<uint32_t>(want[h]) && !bad++) first = h;
            }
        INFO("F16 embed: ", bad, " halves decoded wrong, first ", hex(first), " -> ",
             hex(out[(255 - first / 256) * 256 + first % 256]), " want ", hex(std::bit_cast<uint32_t>(want[first])));
        CHECK(bad == 0);
    }

    // embed, Q8_0 / Q4_0 with block scale d = every half: the reference decoder's d * q.
    for (Format t : {Format::Q8_0, Format::Q4_0}) {
        const std::vector<uint8_t> table = every_half_scale_table(t);
        const uint32_t V = 256, K = 256 * 32;
        const auto deq = dequantized(t, table, V, K);
        std::vector<int32_t> ids(V);
        for (int32_t i = 0; i < int32_t(V); ++i) ids[size_t(i)] = i;
        const Buffer bt = weight_buffer(dev, table);
        Buffer bi = make_buffer(dev, ids, "ids");
        Buffer bo(dev, uint64_t(V) * K * 4, MemoryKind::device, "out");
        test::run(dev, [&](Recorder& r) { ops::embed(r, bt, t, bi, bo, V, K, V); });
        const auto out = bo.download_as<float>(size_t(V) * K);
        size_t bad = 0;
        for (size_t i = 0; i < out.size(); ++i) bad += !same_or_both_nan(out[i], deq[i]);
        INFO(fmt::name(t), " embed, d = every half");
        CHECK(bad == 0);
    }

    // GEMV (float32 and float16 paths, which read the scale through the whole-block loads of
    // fmt_dq32 for Q8_0 / Q4_0 and the pairs of fmt_pair for F16): row n holds half n as its
    // first element (F16) or as d with quant 1 there and 0 elsewhere; x = e_0, so y[n] is
    // the half times 1 plus zeros: its value exactly (the sum may turn -0 into +0).
    for (Format t : {Format::F16, Format::Q8_0, Format::Q4_0}) {
        const uint32_t N = 65536, K = 32;
        const uint64_t rb = fmt::row_bytes(t, K);
        std::vector<uint8_t> w(N * rb, 0);
        for (uint32_t n = 0; n < N; ++n) {
            uint8_t* row = w.data() + n * rb;
            row[0] = uint8_t(n);
            row[1] = uint8_t(n >> 8);
            if (t == Format::Q8_0) row[2] = 1;  // q_0 = 1, the rest 0
            if (t == Format::Q4_0) {
                for (uint32_t j = 0; j < 16; ++j) row[2 + j] = 0x88;  // nibble 8 = 0
                row[2] = 0x89;                                      // element 0: 9 - 8 = 1
            }
        }
        const Buffer wb = weight_buffer(dev, w);
        std::vector<float> x(K, 0.f);
        x[0] = 1.f;
        Buffer bx = make_buffer(dev, x, "x");
        Buffer by(dev, uint64_t(N) * 4, MemoryKind::device, "y");
        for (MatmulPath path : {MatmulPath::gemv, MatmulPath::gemv_f16}) {
            if (path == MatmulPath::gemv_f16 && (t == Format::F16 || !dev.caps().fp16)) continue;
            test::run(dev, [&](Recorder& r) {
                r.fill(by, 0x7fc00000u);
                ops::matmul(r, bx, wb, t, by, 1, N, K, {}, path);
            });
            const auto y = by.download_as<float>(N);
            size_t bad = 0, first = 0;
            for (uint32_t n = 0; n < N; ++n)
                if (!(y[n] == want[n] || (std::isnan(y[n]) && std::isnan(want[n]))) && !bad++) first = n;
            INFO(fmt::name(t), " ", ops::matmul_path_name(path), ": ", bad, " rows wrong, first half ", hex(first),
                 " -> ", y[first], " want ", want[first]);
            CHECK(bad == 0);
        }
    }
    CHECK_NO_VALIDATION(dev);
}
}  // namespace

TEST_CASE("half decoding: every fp16 bit pattern through embed and GEMV matches core/fp16.hpp, both decoders") {
    REQUIRE(!test::gpu_integer_half().caps().native_half);
    check_every_half(test::gpu());
    check_every_half(test::gpu_integer_half());
}

TEST_CASE("weights: the grouped layout keeps every block's fields, in whole groups of 8 where its bytes were") {
    // What the K formats' packing does to the bits is checked by the kernels (every format
    // x path on upload_weight's layout, the split embedding bit for bit); here the bytes.
    size_t grouped = 0;
    for (const fmt::Traits& ft : fmt::all()) {
        const bool d_quants = ft.type == Format::Q4_0 || ft.type == Format::Q5_0 || ft.type == Format::Q8_0 ||
                              ft.type == Format::IQ4_NL;
        // The others: where the quant array starts in a group, its bytes a block, and
        // the d (and dmin) bytes at block byte d_at (ops/weights.hpp).
        struct K {
            Format type;
            uint64_t last_at, last, d_bytes, d_at;
        };
        const K kforms[] = {{Format::Q4_1, 32, 16, 4, 0},
                            {Format::Q5_1, 64, 16, 4, 0},
                            {Format::IQ4_XS, 64, 128, 4, 0},
                            {Format::Q2_K, 160, 64, 4, 80},
                            {Format::Q3_K, 368, 64, 2, 108},
                            {Format::Q4_K, 128, 128, 4, 0},
                            {Format::Q5_K, 384, 128, 4, 0},
                            {Format::Q6_K, 656, 128, 2, 208}};
        const K* kf = nullptr;
        for (const K& k : kforms) kf = k.type == ft.type ? &k : kf;
        const bool want = d_quants || kf;
        CHECK_MESSAGE(ops::can_group(ft.type) == want, ft.name);
        if (!want) {
            CHECK(ops::upload_layout(test::gpu(), ft.type) == ops::WeightLayout::gguf);
            continue;
        }
        ++grouped;
        const uint64_t bb = ft.block_bytes, qk = ft.block_elems;
        // The quant array: where it starts in a group, bytes a block (ops/weights.hpp).
        const uint64_t last_at = d_quants ? 16 : kf->last_at, last = d_quants ? bb - 2 : kf->last;
        const uint64_t nb = 11;  // one whole group and a short one
        const std::vector<uint8_t> src = ops::synthetic_weight(ft.type, 1, uint32_t(nb * qk), 42);
        const uint64_t bytes = 8 * bb + last_at + 3 * last;  // a whole group, then 3 blocks
        CHECK(ops::weight_bytes(ft.type, uint32_t(nb * qk), 1, ops::WeightLayout::grouped) == bytes);
        CHECK(ops::weight_bytes(ft.type, uint32_t(nb * qk), 1, ops::WeightLayout::gguf) == nb * bb);
        std::vector<uint8_t> dst(bytes, 0xAA);
        ops::group_blocks(ft.type, src.data(), nb, dst.data());
        if (d_quants) {
            size_t bad = 0;
            const uint64_t qb = bb - 2;
            for (uint64_t b = 0; b < 16; ++b) {
                const uint8_t* g = dst.data() + (b / 8) * 8 * bb;
                for (uint64_t i = 0; i < (b < nb ? bb : 2); ++i) {  // past the last block: its d slot only
                    const uint8_t got = i < 2 ? g[2 * (b % 8) + i] : g[16 + (b % 8) * qb + i - 2];
                    bad += got != (b < nb ? src[b * bb + i] : 0);  // unused d slots are zeros
                }
            }
            CHECK_MESSAGE(bad == 0, ft.name);
        } else {
            // The short group's unused scale slots are zeros, its d the blocks'.
            const uint8_t* g = dst.data() + 8 * bb;
            size_t bad = 0;
            for (uint64_t j = 0; j < 8; ++j)
                for (uint64_t i = 0; i < kf->d_bytes; ++i)
                    bad += g[j * kf->d_bytes + i] != (j < 3 ? src[(8 + j) * bb + kf->d_at + i] : 0);
            CHECK_MESSAGE(bad == 0, ft.name);
        }
        // A part never holds more grouped bytes than the binding limit allows, and no fewer
        // rows than fit.
        const uint64_t limit = d_quants ? 200 : 5 * bb;
        const uint32_t r = ops::rows_per_part(ft.type, uint32_t(qk), limit, "t", ops::WeightLayout::grouped);
        CHECK(((ops::weight_bytes(ft.type, uint32_t(qk), r, ops::WeightLayout::grouped) + 3) & ~uint64_t(3)) <= limit);
        CHECK(((ops::weight_bytes(ft.type, uint32_t(qk), r + 1, ops::WeightLayout::grouped) + 3) & ~uint64_t(3)) > limit);
    }
    CHECK(grouped == 12);
}

// The weights' layout is a device option (DeviceOptions::disable_repack: VKRT_DISABLE=repack,
// or VKRT_REPACK=0; Capabilities::repack): a device made with it uploads every weight in the
// file's layout, the other repacks the formats that have the grouped layout. The products
// read the same values from either: every GEMV path's outputs from the two devices are
// equal bit for bit (the decoders give the same quants and scales, the kernels do the same
// arithmetic in the same order; only the addresses differ), on one format of each kind of
// grouping (Q4_0: d and quant arrays; Q4_1: 4-byte aligned blocks; Q2_K, Q4_K, Q6_K: the K
// formats with a min per 16, per 32 and none), the others' layouts being held to the
// reference by the tests above. The shape is the weights-in-parts test's (M = 3, K = two
// blocks), whose grouped pipelines the test device has then compiled already.
TEST_CASE("weights: VKRT_DISABLE=repack (VKRT_REPACK=0) keeps the file's layout; both layouts give the same products") {
    // The environment's spellings (the process's own values restored after).
    const char* env_d = std::getenv("VKRT_DISABLE");
    const char* env_r = std::getenv("VKRT_REPACK");
    const std::string keep_d = env_d ? env_d : "", keep_r = env_r ? env_r : "";
    const bool had_d = env_d != nullptr, had_r = env_r != nullptr;
    ::unsetenv("VKRT_DISABLE");
    ::setenv("VKRT_REPACK", "0", 1);
    CHECK(DeviceOptions::from_env().disable_repack);
    ::setenv("VKRT_REPACK", "1", 1);
    CHECK_FALSE(DeviceOptions::from_env().disable_repack);
    ::setenv("VKRT_REPACK", "off", 1);
    CHECK_THROWS_WITH_AS(DeviceOptions::from_env(), doctest::Contains("VKRT_REPACK"), vkrt::Error);
    ::unsetenv("VKRT_REPACK");
    CHECK_FALSE(DeviceOptions::from_env().disable_repack);
    ::setenv("VKRT_DISABLE", "fp16,repack", 1);
    CHECK(DeviceOptions::from_env().disable_repack);
    if (had_d) ::setenv("VKRT_DISABLE", keep_d.c_str(), 1);
    else ::unsetenv("VKRT_DISABLE");
    if (had_r) ::setenv("VKRT_REPACK", keep_r.c_str(), 1);

    // The test device and one with the other setting.
    Device& a = test::gpu();
    DeviceOptions o = DeviceOptions::from_env();
    o.disable_repack = a.caps().repack;
    if (o.pipeline_cache.empty()) o.pipeline_cache = "off";
    Device b(o);
    REQUIRE(b.caps().repack != a.caps().repack);
    CHECK(b.caps().report().find(b.caps().repack ? "weights repacked:        yes"
                                                 : "weights repacked:        no (disabled") != std::string::npos);
    uint32_t seed = 9500;
    for (Format t : kernel_formats()) {
        if (!ops::can_group(t)) {
            CHECK(ops::upload_layout(a, t) == ops::WeightLayout::gguf);
            CHECK(ops::upload_layout(b, t) == ops::WeightLayout::gguf);
        }
    }
    for (Format t : {Format::Q4_0, Format::Q4_1, Format::Q2_K, Format::Q4_K, Format::Q6_K}) {
        const Problem p = make_problem(t, 3, 37, 2 * block_k(t), seed += 7);
        std::vector<float> ys[2];
        for (Device* dev : {&a, &b}) {
            const auto w = ops::upload_weight(*dev, t, p.N, p.K, p.w.data(), "w");
            CHECK(w.view.layout == (dev->caps().repack ? ops::WeightLayout::grouped : ops::WeightLayout::gguf));
            CHECK(ops::upload_layout(*dev, t) == w.view.layout);
            std::vector<float>& y = ys[dev == &b];
            for (MatmulPath path : {MatmulPath::gemv, MatmulPath::gemv_int, MatmulPath::gemv_f16}) {
                if ((path == MatmulPath::gemv_int && !(has_int(t) && dev->caps().int_dot)) ||
                    (path == MatmulPath::gemv_f16 && !(has_int(t) && dev->caps().fp16)))
                    continue;
                const auto out = run_path(*dev, p, w.view, path);
                y.insert(y.end(), out.begin(), out.end());
            }
        }
        REQUIRE(ys[0].size() == ys[1].size());
        CHECK_MESSAGE(std::memcmp(ys[0].data(), ys[1].data(), ys[0].size() * 4) == 0, fmt::name(t),
                      ": the grouped and the file's layout give different products");
    }
    CHECK_NO_VALIDATION(a);
    CHECK_NO_VALIDATION(b);
}

TEST_CASE("matmul and embed: unsupported formats, shape and operand errors") {
    Device& dev = test::gpu();
    Buffer x(dev, 1 << 16), w(dev, 1 << 16), y(dev, 1 << 16);
    Recorder rec(dev);
    rec.begin();
    CHECK_THROWS_WITH_AS(ops::matmul(rec, x, w, Format::Q4_0, y, 1, 4, 48), doctest::Contains("multiple of 32"),
                         vkrt::Error);
    CHECK_THROWS_WITH_AS(ops::matmul(rec, x, w, Format::Q4_K, y, 1, 4, 96), doctest::Contains("multiple of 256"),
                         vkrt::Error);
    try {
        ops::matmul(rec, x, w, Format::Q8_0, y, 2, 3, 33);
        FAIL("no throw");
    } catch (const vkrt::Error& e) {
        CHECK(e.status() == Status::invalid_argument);
    }
    // Types without GPU kernels: listed in the registry (named) or unknown ids.
    CHECK_THROWS_WITH_AS(ops::matmul(rec, x, w, Format::Q8_K, y, 1, 4, 256), doctest::Contains("Q8_K"), vkrt::Error);
    CHECK_THROWS_WITH_AS(ops::matmul(rec, x, w, Format(99), y, 1, 4, 32), doctest::Contains("not supported"),
                         vkrt::Error);
    CHECK_THROWS_WITH_AS(ops::embed(rec, w, Format::IQ2_XXS, x, y, 1, 256, 2), doctest::Contains("IQ2_XXS"),
                         vkrt::Error);
    CHECK_THROWS_WITH_AS(ops::embed(rec, w, Format::Q4_0, x, y, 1, 40, 2), doctest::Contains("multiple of 32"),
                         vkrt::Error);
    CHECK_THROWS_WITH_AS(ops::embed(rec, w, Format::F32, x, y, 1, 64, 1000), doctest::Contains("operand 'table'"),
                         vkrt::Error);
    CHECK_THROWS_WITH_AS(ops::matmul(rec, x, w, Format::F32, y, 1, 64, 1024), doctest::Contains("operand 'w'"),
                         vkrt::Error);
    CHECK_THROWS_WITH_AS(ops::matmul(rec, x, w, Format::Q4_0, y, 1, 4, 32, {}, MatmulPath::gemv_int),
                         doctest::Contains(dev.caps().int_dot ? "scratch" : "integer dot"), vkrt::Error);
    CHECK_THROWS_WITH_AS(ops::matmul(rec, x, w, Format::F16, y, 1, 4, 32, {}, MatmulPath::gemv_f16),
                         doctest::Contains("integer interface"), vkrt::Error);
    CHECK_THROWS_WITH_AS(ops::matmul(rec, x, w, Format::BF16, y, 1, 4, 256, w, MatmulPath::gemv_int),
                         doctest::Contains("VKRT_K_INT"), vkrt::Error);
    CHECK_THROWS_WITH_AS(ops::matmul(rec, x, w, Format::F16, y, 9, 4, 256, w, MatmulPath::mmq),
                         doctest::Contains("VKRT_K_INT"), vkrt::Error);
    if (dev.caps().int_dot)  // a tile beyond the invocation and shared-memory limits
        CHECK_THROWS_WITH_AS(ops::matmul_mmq(rec, ops::Q8Activations{x, 9, 32}, ops::single_part(w, Format::Q4_0, 4, 32),
                                             y, ops::MmqTiles{1024, 1024, 4, 4, 1}),
                             doctest::Contains("exceed the device's limits"), vkrt::Error);
    // Q4_0 with N*K/32 odd: 18*3 = 54 bytes, the view must hold 56.
    Buffer w54(dev, 54);
    CHECK_THROWS_WITH_AS(ops::matmul(rec, x, w54, Format::Q4_0, y, 1, 3, 32), doctest::Contains("56"), vkrt::Error);
    // Parts that do not cover the rows in order.
    ops::WeightView parts{Format::F32, 8, 4, {{BufferView(w), 0, 4}, {BufferView(w), 5, 3}}};
    CHECK_THROWS_WITH_AS(ops::matmul(rec, x, parts, y, 1), doctest::Contains("expected 4"), vkrt::Error);
    rec.end();
    CHECK_THROWS_WITH_AS(ops::check_ids(std::vector<int32_t>{3, 40}, 40), doctest::Contains("vocabulary"),
                         vkrt::Error);
    // The generated kernel table: a missing variant is a clear error, not a bad name.
    CHECK_THROWS_WITH_AS(spv::format_kernel(spv::Family::matvec, Format::F16, spv::Path::int_),
                         doctest::Contains("no matvec kernel for weight type F16"), vkrt::Error);
    CHECK(spv::format_kernel(spv::Family::gemm, Format::Q6_K, spv::Path::plain) == spv::Variant::gemm_q6_k);
    // A binding limit smaller than one row.
    CHECK_THROWS_WITH_AS(ops::rows_per_part(Format::Q6_K, 256, 200, "t", ops::WeightLayout::grouped),
                         doctest::Contains("binding limit"), vkrt::Error);
    CHECK_NO_VALIDATION(dev);
}

TEST_CASE("matmul: recorded command buffer replays with new x (decode pattern), views with offsets") {
    Device& dev = test::gpu();
    const uint32_t M = 1, N = 50, K = 256;
    Problem p = make_problem(Format::Q4_K, M, N, K, 7777);
    // x lives at an offset of a larger buffer, y too.
    const uint64_t align = std::max<uint64_t>(dev.caps().min_storage_offset_alignment, 16);
    Buffer bx(dev, align + K * 4), by(dev, align + N * 4);
    const Buffer bw = weight_buffer(dev, p.w);
    bx.upload(p.x.data(), K * 4, align);
    Recorder rec(dev);
    rec.begin();
    ops::matmul(rec, BufferView(bx, align, K * 4), bw, Format::Q4_K, BufferView(by, align, N * 4), M, N, K);
    rec.end();
    rec.submit();
    check_close(p, by.download_as<float>(N, align), kF16RelTol, "replay 1");
    p.x = test::random_floats(K, 8888);
    matmul_ref(p.x, p.wd, M, N, K, p.ref, p.S);
    bx.upload(p.x.data(), K * 4, align);
    rec.submit();
    check_close(p, by.download_as<float>(N, align), kF16RelTol, "replay 2");
    CHECK_NO_VALIDATION(dev);
}

// The float GEMV's rolled-loop form (shaders/matvec.comp ROLLED: what a device whose
// compiler keeps loops rolled gets, Arm Mali; VKRT_DISABLE=unroll anywhere), every block
// format in its upload layout, 1 and 8 columns of X (the 1- and 8-column workgroups), a
// GLU epilogue; the GPU shapes (cpu_tuning off) with and without
// subgroups. The same bound as the unrolled form (kF32RelTol: only the order of the float
// operations differs).
TEST_CASE("matmul: the GEMV's rolled-loop form (VKRT_DISABLE=unroll), every block format, 1 and 8 columns") {
    uint32_t seed = 9100;
    for (bool no_sg : {false, true}) {
        DeviceOptions o = DeviceOptions::from_env();
        o.disable_unroll = true;
        o.disable_cpu_tuning = true;
        o.disable_subgroup |= no_sg;
        if (o.pipeline_cache.empty()) o.pipeline_cache = "off";
        Device dev(o);
        REQUIRE_FALSE(dev.caps().unrolls_loops);
        for (Format t : kernel_formats()) {
            // The scalar formats have one form; without subgroups (only the reduction differs)
            // a grouped 32-element format and a 256-element one.
            if (!is_block(t) || (no_sg && t != Format::Q4_0 && t != Format::Q6_K)) continue;
            for (const Shape& s : {Shape{1, 5, 2 * block_k(t)}, Shape{8, 3, 3 * block_k(t)}}) {
                const Problem p = make_problem(t, s.M, s.N, s.K, seed += 7);
                const auto w = ops::upload_weight(dev, t, p.N, p.K, p.w.data(), "w");
                check_close(p, run_path(dev, p, w.view, MatmulPath::gemv), kF32RelTol,
                            std::string("rolled gemv") + (no_sg ? " nosg" : " sg"));
            }
        }
        // SwiGLU over [gate; up] (twice the rows a workgroup): act(gate) * up of the plain sums.
        const uint32_t F = 19, K = 64, M = 2;
        const Problem p = make_problem(Format::Q4_0, M, 2 * F, K, seed += 7);
        const auto w = ops::upload_weight(dev, Format::Q4_0, 2 * F, K, p.w.data(), "w");
        Buffer x = make_buffer(dev, p.x, "x");
        Buffer y(dev, uint64_t(M) * 2 * F * 4, MemoryKind::device, "y");
        Buffer yg(dev, uint64_t(M) * F * 4, MemoryKind::device, "y glu");
        test::run(dev, [&](Recorder& rec) {
            ops::matmul(rec, x, w.view, y, M, {}, MatmulPath::gemv);
            ops::matmul(rec, x, w.view, yg, M, {}, MatmulPath::gemv, {{}, ops::Glu::swiglu});
        });
        const auto plain = y.download_as<float>(size_t(M) * 2 * F), got = yg.download_as<float>(size_t(M) * F);
        std::vector<float> gate(size_t(M) * F), up(size_t(M) * F);
        for (uint32_t m = 0; m < M; ++m)
            for (uint32_t f = 0; f < F; ++f) {
                gate[m * F + f] = plain[m * 2 * F + f];
                up[m * F + f] = plain[m * 2 * F + F + f];
            }
        const auto ref = ref::swiglu(gate, up);
        size_t bad = 0;
        for (size_t i = 0; i < got.size(); ++i)
            bad += !(std::fabs(double(got[i]) - ref[i]) <= 2e-5 * std::fabs(double(gate[i]) * up[i]) + 1e-30);
        CHECK_MESSAGE(bad == 0, "rolled gemv swiglu", no_sg ? " nosg" : " sg");
        CHECK_NO_VALIDATION(dev);
    }
}

// ---- cooperative-matrix GEMM (shaders/gemm_coopmat.comp)

// X and the decoded W rounded to half (u = 2^-11 each; their product is exact in float),
// the float decoding and the float sums as kF32RelTol: (2u + u^2) * S + kF32RelTol * S,
// with margin 3u. Values below half's normal range round to its subnormal grid (2^-24
// apart): 2^-25 per element, so 2^-25 * (sum_k |w[n,k]| + sum_k |x[m,k]|) more (doubled).
constexpr double kCoopmatRelTol = 3.0 / 2048.0 + kF32RelTol;

std::vector<double> coopmat_allowed(const Problem& p) {
    std::vector<double> a(size_t(p.M) * p.N);
    for (uint32_t m = 0; m < p.M; ++m)
        for (uint32_t n = 0; n < p.N; ++n) {
            double sw = 0, sx = 0;
            for (uint32_t k = 0; k < p.K; ++k) {
                sw += std::fabs(p.wd[size_t(n) * p.K + k]);
                sx += std::fabs(p.x[size_t(m) * p.K + k]);
            }
            a[size_t(m) * p.N + n] = kCoopmatRelTol * double(p.S[size_t(m) * p.N + n]) + 0x1p-24 * (sw + sx);
        }
    return a;
}

TEST_CASE("matmul: cooperative-matrix GEMM (gemm_cm), every format, odd shapes, split-K; fallback elsewhere") {
    Device& dev = test::gpu();
    const auto& caps = dev.caps();
    if (!ops::gemm_coopmat_supported(dev)) {
        // lavapipe: no VK_KHR_cooperative_matrix. The product is not run here; what is
        // checked: the choice falls back and a forced call is refused, naming the feature.
        MESSAGE("gemm_cm not run: ", caps.name, " reports no 16x16x16 f16 x f16 -> f32 cooperative matrix",
                std::string(caps.cooperative_matrix ? "" : " (cooperative matrices off") +
                    (caps.coopmat_off.empty() ? ")" : ": " + caps.coopmat_off + ")"));
        const Problem p = make_problem(Format::F32, 9, 3, 32, 11);
        const Buffer wb = weight_buffer(dev, p.w);
        Buffer x = make_buffer(dev, p.x, "x");
        Buffer y(dev, uint64_t(p.M) * p.N * 4, MemoryKind::device, "y");
        CHECK_THROWS_WITH_AS(test::run(dev, [&](Recorder& rec) {
                                 ops::matmul_gemm_coopmat(rec, x, ops::single_part(wb, p.type, p.N, p.K), y, p.M);
                             }),
                             doctest::Contains("cooperative matrices"), Error);
        check_close(p, run_path(dev, p, ops::single_part(wb, p.type, p.N, p.K), MatmulPath::gemm), kF32RelTol,
                    "gemm (scalar fallback)");
        CHECK_NO_VALIDATION(dev);
        return;
    }
    uint32_t seed = 7000;
    for (Format t : kernel_formats()) {
        const uint32_t K = is_block(t) ? 3 * block_k(t) : 77;
        for (auto MN : std::initializer_list<std::pair<uint32_t, uint32_t>>{{130, 201}, {9, 1}, {33, 129}}) {
            const uint32_t M = MN.first, N = MN.second;  // no structured binding: clang 14 cannot capture one
            if (M != 130 && !sweep_format(t)) continue;
            const Problem p = make_problem(t, M, N, K, seed += 5);
            const Buffer wb = weight_buffer(dev, p.w);
            const auto allowed = coopmat_allowed(p);
            for (uint32_t split : {0u, 3u}) {
                Buffer x = make_buffer(dev, p.x, "x");
                Buffer y(dev, uint64_t(M) * N * 4, MemoryKind::device, "y");
                test::run(dev, [&](Recorder& rec) {
                    rec.fill(y, 0x7fc00000u);  // NaN: an output the kernel misses fails
                    ops::matmul_gemm_coopmat(rec, x, ops::single_part(wb, t, N, K), y, M, split);
                });
                check_within(p, y.download_as<float>(size_t(M) * N), allowed, "gemm_cm split " + std::to_string(split));
            }
            // path gemm takes it here: the same outputs bit for bit
            if (M == 130) {
                const auto a = run_path(dev, p, ops::single_part(wb, t, N, K), MatmulPath::gemm);
                check_within(p, a, allowed, "path gemm");
            }
        }
    }
    CHECK_NO_VALIDATION(dev);
}

TEST_CASE("matmul: int8 GEMM on cooperative matrices (mmq_cm) within the integer paths' bound; refused elsewhere") {
    Device& dev = test::gpu();
    const auto& caps = dev.caps();
    if (!ops::mmq_coopmat_supported(dev)) {
        // lavapipe: no VK_KHR_cooperative_matrix. Not run here; what is checked: a forced
        // call is refused naming the feature (the mmq tests above run the OpSDot tiles).
        MESSAGE("mmq_cm not run: ", caps.name, " reports no 16x16x16 s8 x s8 -> s32 cooperative matrix",
                std::string(caps.int8 ? "" : " (no shaderInt8)"), caps.coopmat_off);
        if (!caps.int_dot) return;  // the operands' check refuses first there
        const Problem p = make_problem(Format::Q8_0, 9, 3, 32, 13);
        const Buffer wb = weight_buffer(dev, p.w);
        Buffer xq(dev, ops::matmul_scratch_bytes(p.M, p.K), MemoryKind::device, "xq");
        Buffer y(dev, uint64_t(p.M) * p.N * 4, MemoryKind::device, "y");
        CHECK_THROWS_WITH_AS(test::run(dev, [&](Recorder& rec) {
                                 ops::matmul_mmq_coopmat(rec, ops::Q8Activations{xq, p.M, p.K},
                                                         ops::single_part(wb, p.type, p.N, p.K), y);
                             }),
                             doctest::Contains("cooperative matrices"), Error);
        CHECK_NO_VALIDATION(dev);
        return;
    }
    // On such a device the mmq cases above already run mmq_cm (the runtime's choice)
    // against the reference; here: forced, one K part, beside the OpSDot tiles.
    uint32_t seed = 8000;
    for (Format t : kernel_formats()) {
        if (!has_mmq(t)) continue;
        const uint32_t K = 3 * block_k(t);
        for (auto MN : std::initializer_list<std::pair<uint32_t, uint32_t>>{{130, 201}, {9, 1}, {33, 129}}) {
            const uint32_t M = MN.first, N = MN.second;  // no structured binding: clang 14 cannot capture one
            if (M != 130 && !sweep_format(t)) continue;
            const Problem p = make_problem(t, M, N, K, seed += 5);
            const Buffer wb = weight_buffer(dev, p.w);
            const auto wv = ops::single_part(wb, t, N, K);
            Buffer x = make_buffer(dev, p.x, "x");
            Buffer xq(dev, ops::matmul_scratch_bytes(M, K), MemoryKind::device, "xq");
            Buffer y1(dev, uint64_t(M) * N * 4, MemoryKind::device, "y1"), y2(dev, uint64_t(M) * N * 4,
                                                                             MemoryKind::device, "y2");
            ops::MmqTiles tiles = ops::default_mmq_tiles(dev, M);
            tiles.split = 1;
            test::run(dev, [&](Recorder& rec) {
                const ops::Q8Activations q{xq, M, K};
                ops::quantize_q8_1(rec, x, q);
                ops::matmul_mmq(rec, q, wv, y1, tiles);
                ops::matmul_mmq_coopmat(rec, q, wv, y2, 1);
            });
            // the reference fed the GPU's own quantized X, as check_int_path (one K part: split 1)
            const auto words = xq.download_as<uint32_t>(ops::matmul_scratch_bytes(M, K) / 4);
            check_int_result(p, y2.download_as<float>(size_t(M) * N), words, "mmq_cm");
            // the same integer sums and float epilogue as the OpSDot tiles: equal up to how
            // each pipeline's compiler contracts the epilogue's multiply-adds
            const auto a = y1.download_as<float>(size_t(M) * N), b = y2.download_as<float>(size_t(M) * N);
            size_t differ = 0;
            for (size_t i = 0; i < a.size(); ++i) differ += a[i] != b[i];
            if (differ) MESSAGE("mmq_cm vs mmq ", describe(p), ": ", differ, " outputs differ in the last bits");
        }
    }
    CHECK_NO_VALIDATION(dev);
}
