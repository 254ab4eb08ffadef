// The prefill GEMMs' split-K (shaders/matmul.comp and shaders/mmq.comp over parts of K,
// shaders/splitk_reduce.comp; ops::matmul_gemm / ops::matmul_mmq, ops::splitk_parts) on
// odd shapes (M, N, K not multiples of the tiles; M from 9 to 2049), every capability
// path, explicit and automatic part counts, against the CPU reference, bit for bit.
//
// Bit for bit: the data are chosen so that every float operation of every path is exact,
// whatever the order of the sums (the split changes only that order):
//   - x: multiples of 1/64 in [-1/64, 1/64], one element of each block of 32 set to 127/64,
//     so q8_1 quantization (d = amax / 127 = 1/64, a power of two) gives q = 64 x exactly;
//   - weights: the format's random quants and sub-scales (ops::synthetic_weight) with every
//     block's float scales set to 1 (d), or 2 and 1/2 (d and dmin / m): the dequantized
//     values are multiples of 1/2;
//   - |sums| stay below 2^24 / 128 (K <= 1024; the largest: Q6_K's 128 * 32 at K = 768,
//     24 blocks x (127 + 31) / 64 x 4096 = 242688 < 2^24 / 64 as multiples of 1/64, and
//     Q4_K's 2 * 63 * 15 + 63 / 2, 24 x (158 / 64) x 1922 = 113885 < 2^24 / 128), so every
//     partial sum is an exact float (the int8-dot GEMM's integer sums, < 2^24, too).
// So the GEMM (float), the int8-dot GEMM (integer dot products, then d_x * d per unit) and
// the reference (double) all give the exact product, and any lost or doubled part of K, a
// misplaced partial sum or a missed barrier between split GEMMs shows as a difference.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/format.hpp"
#include "core/fp16.hpp"
#include "gguf/synthetic.hpp"
#include "gpu.hpp"
#include "model/model.hpp"
#include "ops/matmul.hpp"
#include "ops/weights.hpp"
#include "test_util.hpp"

using namespace vkrt;

namespace {

// Byte offsets of a block's float16 scales (d, and dmin or m) that are set to 1.0.
struct ExactFormat {
    Format type;
    std::vector<uint32_t> scale_offsets;
};
const ExactFormat kFormats[] = {
    {Format::F32, {}},  {Format::F16, {}},        {Format::Q4_0, {0}},   {Format::Q4_1, {0, 2}},
    {Format::Q5_1, {0, 2}}, {Format::Q8_0, {0}},  {Format::Q3_K, {108}}, {Format::Q4_K, {0, 2}},
    {Format::Q6_K, {208}},  {Format::IQ4_NL, {0}},   {Format::Q2_K, {80, 82}},
};

// The formats of the int8-dot GEMM (formats.def VKRT_K_INT or VKRT_K_MMQ).
bool has_mmq(Format t) { return (fmt::traits(t).kernels & (fmt::kKernelInt | fmt::kKernelMmq)) != 0; }

// N rows of K elements with integer values (above), GGUF bytes.
std::vector<uint8_t> exact_weight(const ExactFormat& f, uint32_t N, uint32_t K, uint32_t seed) {
    const fmt::Traits& tr = fmt::traits(f.type);
    if (tr.block_elems == 1) {  // float formats: integers in [-8, 8]
        const auto v = test::random_floats(size_t(N) * K, seed, -8.f, 8.f);
        std::vector<uint8_t> out(size_t(N) * K * tr.block_bytes);
        for (size_t i = 0; i < v.size(); ++i) {
            const float r = std::round(v[i]);
            if (f.type == Format::F32) {
                std::memcpy(&out[i * 4], &r, 4);
            } else {  // F16 of an integer in [-8, 8]: exact
                const uint16_t h = fp32_to_fp16(r);
                std::memcpy(&out[i * 2], &h, 2);
            }
        }
        return out;
    }
    std::vector<uint8_t> w = ops::synthetic_weight(f.type, N, K, seed);
    // d = 1 (one scale), or d = 2 and dmin / m = 1/2: distinct, so a swap shows.
    const uint16_t one = 0x3c00, two = 0x4000, half = 0x3800;  // float16 1, 2, 1/2
    for (size_t b = 0; b < w.size() / tr.block_bytes; ++b)
        for (size_t i = 0; i < f.scale_offsets.size(); ++i)
            std::memcpy(&w[b * tr.block_bytes + f.scale_offsets[i]],
                        f.scale_offsets.size() == 1 ? &one : i == 0 ? &two : &half, 2);
    return w;
}

// X (M,K): multiples of 1/64 in [-1/64, 1/64] and 127/64 at one random place per block of 32.
std::vector<float> exact_x(uint32_t M, uint32_t K, uint32_t seed) {
    auto x = test::random_floats(size_t(M) * K, seed, -1.49f, 1.49f);
    for (float& v : x) v = std::round(v) / 64.f;
    const auto pick = test::random_floats(size_t(M) * K / 32, seed + 7, 0.f, 31.99f);
    for (size_t g = 0; g < pick.size(); ++g) x[g * 32 + size_t(pick[g])] = (g % 2 ? 127.f : -127.f) / 64.f;
    return x;
}

struct Problem {
    const ExactFormat* f;
    uint32_t M, N, K;
    std::vector<float> x;
    std::vector<uint8_t> w;
    std::vector<float> ref;  // X . W^T, exact
};

Problem make_problem(const ExactFormat& f, uint32_t M, uint32_t N, uint32_t K, uint32_t seed) {
    Problem p{&f, M, N, K, exact_x(M, K, seed), exact_weight(f, N, K, seed + 1), {}};
    std::vector<float> wd(size_t(N) * K);
    const uint64_t rb = fmt::row_bytes(f.type, K);
    for (uint32_t n = 0; n < N; ++n) fmt::dequantize_row(f.type, p.w.data() + rb * n, wd.data() + size_t(n) * K, K);
    p.ref.assign(size_t(M) * N, 0.f);
    for (uint32_t m = 0; m < M; ++m)
        for (uint32_t n = 0; n < N; ++n) {
            double s = 0;
            for (uint32_t k = 0; k < K; ++k) s += double(p.x[size_t(m) * K + k]) * wd[size_t(n) * K + k];
            p.ref[size_t(m) * N + n] = float(s);
        }
    return p;
}

std::string describe(const Problem& p) {
    return std::string(fmt::name(p.f->type)) + " (M,N,K)=(" + std::to_string(p.M) + "," + std::to_string(p.N) + "," +
           std::to_string(p.K) + ")";
}

Buffer weight_buffer(Device& dev, const std::vector<uint8_t>& w) {
    Buffer b(dev, std::max<uint64_t>((w.size() + 3) & ~size_t(3), 4), MemoryKind::device, "w");
    std::vector<uint8_t> padded(b.size(), 0);
    std::memcpy(padded.data(), w.data(), w.size());
    b.upload(padded.data(), padded.size());
    return b;
}

// Every output equal to the exact reference (NaN, a missed output, fails).
void check_exact(const Problem& p, const std::vector<float>& y, const std::string& what) {
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < y.size(); ++i)
        if (!(y[i] == p.ref[i]) && !bad++) first = i;
    INFO(what, " ", describe(p), ": ", bad, " outputs differ, first ", first, " y=", y[first], " ref=", p.ref[first]);
    CHECK(bad == 0);
}

// One GEMM (float: xq unused; mmq: X quantized first) with explicit tiles and split.
enum class Kernel { gemm, mmq };
std::vector<float> run(Device& dev, const Problem& p, const Buffer& wb, Kernel k, uint32_t split, bool small_tiles) {
    const ops::WeightView w = ops::single_part(wb, p.f->type, p.N, p.K);
    Buffer x = make_buffer(dev, p.x, "x");
    Buffer y(dev, uint64_t(p.M) * p.N * 4, MemoryKind::device, "y");
    Buffer xq(dev, ops::matmul_scratch_bytes(p.M, p.K), MemoryKind::device, "xq");
    test::run(dev, [&](Recorder& rec) {
        rec.fill(y, 0x7fc00000u);  // NaN
        if (k == Kernel::gemm) {
            ops::GemmTiles t = small_tiles ? ops::GemmTiles{16, 16, 4, 4} : ops::default_gemm_tiles(dev);
            t.split = split;
            ops::matmul_gemm(rec, x, w, y, p.M, t);
        } else {
            ops::MmqTiles t = small_tiles ? ops::MmqTiles{32, 64, 4, 4, 2} : ops::default_mmq_tiles(dev, p.M);
            t.split = split;
            ops::quantize_q8_1(rec, x, xq, p.M, p.K);
            ops::matmul_mmq(rec, ops::Q8Activations{xq, p.M, p.K}, w, y, t);
        }
    });
    return y.download_as<float>(size_t(p.M) * p.N);
}

struct Caps {
    bool no_int_dot, no_fp16, no_subgroup;
};
const Caps kAllCaps[] = {
    {false, false, false}, {false, false, true}, {false, true, false}, {true, false, false}, {true, true, true},
};

}  // namespace

TEST_CASE("split-K GEMMs: odd shapes, every part count and capability path, bit-exact on exact data") {
    // The default capabilities get every shape, part count and tile choice; the others
    // (the same kernels; only the integer dot product changes which ones run) the odd
    // middle shape without and with a split, so that the suite stays quick.
    uint32_t seed = 7100;
    for (const Caps& c : kAllCaps) {
        Device& dev = test::gpu_with(c.no_int_dot, c.no_fp16, c.no_subgroup);
        const bool full = &c == kAllCaps;
        for (const ExactFormat& f : kFormats) {
            const uint32_t bk = std::max<uint32_t>(fmt::traits(f.type).block_elems, 32);
            // K: 3 blocks of 256, 13 of 32, or an odd K (float formats: the K tail).
            const uint32_t K = bk == 256 ? 768 : bk == 32 ? 416 : 419;
            // M in 9..2049: M = 2049 for every fourth format.
            const uint32_t big = (&f - kFormats) % 4 == 0 ? 2049u : 130u;
            std::vector<std::pair<uint32_t, uint32_t>> shapes = {{37, 70}};
            if (full) shapes = {{9, 17}, {37, 70}, {big, 5}};
            for (auto [M, N] : shapes) {
                const Problem p = make_problem(f, M, N, K, seed += 3);
                const Buffer wb = weight_buffer(dev, p.w);
                for (Kernel k : {Kernel::gemm, Kernel::mmq}) {
                    if (k == Kernel::mmq && !(has_mmq(f.type) && dev.caps().int_dot)) continue;
                    // 1 = no split, 0 = the runtime's choice, 2, 3, 7 parts of K (7: more than
                    // some shapes have stages: parts past the end are dropped).
                    const std::vector<uint32_t> splits = full ? std::vector<uint32_t>{1, 0, 2, 3, 7}
                                                              : std::vector<uint32_t>{1, 3};
                    for (uint32_t split : splits)
                        for (bool small : {false, true}) {
                            if ((split == 0 || !full) && small) continue;
                            check_exact(p, run(dev, p, wb, k, split, small),
                                        std::string(k == Kernel::gemm ? "gemm" : "mmq") + " split " +
                                            std::to_string(split) + (small ? " small tiles" : "") + " caps " +
                                            (c.no_int_dot ? "nodot" : "dot") + (c.no_fp16 ? "/nofp16" : "") +
                                            (c.no_subgroup ? "/nosg" : ""));
                        }
                }
            }
        }
        CHECK_NO_VALIDATION(dev);
    }
}

// The decode GEMVs (shaders/matvec.comp) on the same exact data: the integer GEMV (int8 dot
// products of the q8_1 activations: the integer sums, then (float(s) * d_x) * d per unit and
// the min terms, all exact here) and the float GEMV, in the file's layout and in the grouped
// layout ops::upload_weight repacks into, bit for bit the exact product: the integer GEMV of
// every integer format at 4 columns of X a workgroup, and Q2_K (the min per 16 elements, its
// two halves' integer sums of X) at 1, 4 and 8 columns on both paths (each variant a compile
// on a cold driver cache: the float GEMV of the others is held to its bound elsewhere).
TEST_CASE("GEMV: integer and float paths, the file's and the grouped layout, bit-exact on exact data") {
    Device& dev = test::gpu();
    uint32_t seed = 8100;
    for (const ExactFormat& f : kFormats) {
        const fmt::Traits& tr = fmt::traits(f.type);
        if (tr.block_elems == 1) continue;  // the float formats: no integer path, no grouped layout
        const uint32_t K = tr.block_elems == 256 ? 768 : 416, N = 37;
        for (uint32_t M : {1u, 3u, 8u}) {
            if (M != 3 && f.type != Format::Q2_K) continue;
            const Problem p = make_problem(f, M, N, K, seed += 3);
            Buffer x = make_buffer(dev, p.x, "x");
            Buffer xq(dev, ops::matmul_scratch_bytes(M, K), MemoryKind::device, "xq");
            Buffer y(dev, uint64_t(M) * N * 4, MemoryKind::device, "y");
            const Buffer wb = weight_buffer(dev, p.w);
            const ops::WeightBuffers wg = ops::upload_weight(dev, f.type, N, K, p.w.data(), "w");
            for (const ops::WeightView& w : {ops::single_part(wb, f.type, N, K), wg.view}) {
                for (ops::MatmulPath path : {ops::MatmulPath::gemv, ops::MatmulPath::gemv_int}) {
                    if (path == ops::MatmulPath::gemv_int && !dev.caps().int_dot) continue;
                    if (path == ops::MatmulPath::gemv && f.type != Format::Q2_K) continue;
                    test::run(dev, [&](Recorder& rec) {
                        rec.fill(y, 0x7fc00000u);  // NaN
                        ops::matmul(rec, x, w, y, M, xq, path);
                    });
                    check_exact(p, y.download_as<float>(size_t(M) * N),
                                std::string(ops::matmul_path_name(path)) +
                                    (w.layout == ops::WeightLayout::grouped ? " grouped" : " gguf"));
                }
            }
        }
    }
    CHECK_NO_VALIDATION(dev);
}

TEST_CASE("split-K: the runtime's part count fills the compute units and leaves full tiles alone") {
    Device& dev = test::gpu();
    const auto& caps = dev.caps();
    INFO("compute units ", caps.compute_units, " (", caps.compute_units_source, ")");
    CHECK(caps.compute_units >= 1);
    // Tiles at least the compute units, or K too short for two parts of 8 steps: no split.
    CHECK(ops::splitk_parts(dev, 64 * caps.compute_units, 64, 4096, 64, 64) == 1);
    CHECK(ops::splitk_parts(dev, 9, 17, 480, 64, 64) == 1);
    // One tile and a long K: as many parts as compute units (at most 16, at least 8 steps each).
    const uint32_t S = ops::splitk_parts(dev, 9, 17, 8192, 64, 64);
    CHECK(S == std::min<uint32_t>({caps.compute_units, 16u, 8192u / 32u / 8u}));
    if (caps.compute_units < 2) MESSAGE("one compute unit: the automatic split is never taken here (not run)");
    // Partial sums stay within 64 MiB.
    CHECK(uint64_t(ops::splitk_parts(dev, 4096, 4096, 1 << 16, 1 << 14, 1 << 14)) * 4096 * 4096 * 4 <=
          uint64_t(64) << 20);
}

TEST_CASE("split-K: several split GEMMs in one recording share the workspace, and the recording replays") {
    Device& dev = test::gpu();
    const Problem a = make_problem(kFormats[2], 21, 9, 1024, 8001);  // Q4_0
    const Problem b = make_problem(kFormats[7], 40, 33, 768, 8002);  // Q4_K: needs a larger workspace
    const Buffer wa = weight_buffer(dev, a.w), wbuf = weight_buffer(dev, b.w);
    Buffer xa = make_buffer(dev, a.x, "xa"), xb = make_buffer(dev, b.x, "xb");
    Buffer ya(dev, uint64_t(a.M) * a.N * 4, MemoryKind::device, "ya"), ya2(dev, uint64_t(a.M) * a.N * 4),
        yb(dev, uint64_t(b.M) * b.N * 4, MemoryKind::device, "yb");
    Recorder rec(dev);
    rec.begin();
    ops::GemmTiles t{16, 16, 4, 4, 4};
    ops::matmul_gemm(rec, xa, ops::single_part(wa, a.f->type, a.N, a.K), ya, a.M, t);
    t.split = 5;
    ops::matmul_gemm(rec, xb, ops::single_part(wbuf, b.f->type, b.N, b.K), yb, b.M, t);
    t.split = 3;
    ops::matmul_gemm(rec, xa, ops::single_part(wa, a.f->type, a.N, a.K), ya2, a.M, t);
    rec.end();
    for (int i = 0; i < 2; ++i) {
        test::run(dev, [&](Recorder& r) {
            r.fill(ya, 0x7fc00000u);
            r.fill(ya2, 0x7fc00000u);
            r.fill(yb, 0x7fc00000u);
        });
        rec.submit();
        check_exact(a, ya.download_as<float>(size_t(a.M) * a.N), "first of three, submit " + std::to_string(i));
        check_exact(b, yb.download_as<float>(size_t(b.M) * b.N), "second (larger workspace), submit " + std::to_string(i));
        check_exact(a, ya2.download_as<float>(size_t(a.M) * a.N), "third, submit " + std::to_string(i));
    }
    CHECK_NO_VALIDATION(dev);
}

TEST_CASE("split-K: bad part counts are refused") {
    Device& dev = test::gpu();
    Buffer b(dev, 1 << 16);
    Recorder rec(dev);
    rec.begin();
    ops::GemmTiles t{16, 16, 4, 4, 65};
    CHECK_THROWS_WITH_AS(ops::matmul_gemm(rec, b, ops::single_part(b, Format::F32, 4, 32), b, 9, t),
                         doctest::Contains("split 65 in 0..64"), vkrt::Error);
}

// A model's prefill (M > 8) takes the int8-dot GEMM exactly where ops::mmq_preferred says so
// (main 7cbb418 never did: the model counted only the integer GEMV as an integer path).
// On lavapipe that is with VKRT_MMQ=force (CTest: test_kernels_mmq_forced); without it the
// float paths. The pipelines the prefill asked for come from the device's records
// (DeviceOptions::shader_stats).
TEST_CASE("model prefill: the int8-dot GEMM where mmq_preferred, Q4_0") {
    DeviceOptions o = DeviceOptions::from_env();
    o.shader_stats = true;
    o.pipeline_cache = "off";
    Device dev(o);
    const gguf::SyntheticLlama c = gguf::small_preset("1B", gguf::TensorType::Q4_0, 1, 64);
    const std::string path = test::tmp_dir() + "/mmq-prefill-" + std::to_string(getpid()) + ".gguf";
    gguf::write_synthetic_llama(c, path);
    {
        model::Model model(dev, path);
        model::Session session(model, 64, 32);
        std::vector<int32_t> ids(16);
        for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t(3 + i * 7 % 290);
        session.eval(ids);
    }
    std::remove(path.c_str());
    bool mmq = false, gemm = false;
    for (const auto& r : dev.pipeline_records()) {
        mmq |= r.variant == "mmq_q4_0";
        gemm |= r.variant == "gemm_q4_0";
    }
    const bool preferred = ops::mmq_preferred(dev, 16);
    INFO("mmq_preferred(16) = ", preferred, " (", dev.caps().name, ")");
    CHECK(mmq == preferred);
    if (preferred) CHECK_FALSE(gemm);  // no prefill projection on the float GEMM
    CHECK_NO_VALIDATION(dev);
}
