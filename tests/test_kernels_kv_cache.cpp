// KV caches of every element type (f32, f16, q8_0): the store kernels (kv_store and
// rope_store) against ref::encode_kv_row byte for byte, and attention over caches of
// every K x V type pair against ref::attention on the values the cache holds, on every
// capability path the attention kernels have (subgroup, shared memory; dot and fp16
// arithmetic are not used by them).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "core/format.hpp"
#include "core/fp16.hpp"
#include "gpu.hpp"
#include "ops/attention.hpp"
#include "ops/matmul.hpp"
#include "ops/rope.hpp"
#include "ref/reference.hpp"
#include "test_util.hpp"
#include "shared/attention.h"
#include "vk/shaders.hpp"

using namespace vkrt;

namespace {

using ops::KvType;
constexpr KvType kTypes[] = {KvType::f32, KvType::f16, KvType::q8_0};

// ---- bounds -------------------------------------------------------------------
// Store kernels: F32 and F16 are exact (fp16 conversion is correctly rounded on Vulkan).
// Q8_0 follows ggml's rule (ref/reference.hpp) with two GPU divisions (amax / 127 and
// 1 / d) that SPIR-V allows 2.5 ulp of error: an fp16 d may then differ by one unit where
// the float d lies within kDivUlps ulp of an fp16 rounding tie, and a q by one where
// x * id lies within kTieRel (relative) of a .5 tie. Anywhere else the bytes are equal.
constexpr int kDivUlps = 4;
constexpr float kTieRel = 3e-6f;
// attention: the same bound as over float caches (test_kernels_block.cpp): the kernel
// reads the cache as the exact float values it holds, and so does the reference.
constexpr float kAttnAbsTol = 3e-5f;

// Attention outputs against the reference: all finite, each within kAttnAbsTol.
void check_attention_output(const std::vector<float>& o, const std::vector<float>& want) {
    REQUIRE(o.size() == want.size());
    float worst = 0;
    size_t bad = 0;
    for (size_t i = 0; i < o.size(); ++i) {
        if (!std::isfinite(o[i])) ++bad;
        else worst = std::max(worst, std::fabs(o[i] - want[i]));
    }
    CAPTURE(worst);
    CHECK(bad == 0);
    CHECK(worst <= kAttnAbsTol);
}

// The cooperative-matrix prefill kernel (shaders/attention_flash_cm.comp) rounds q * scale,
// K and V to half (u = 2^-11 relative; 2^-25 absolute below half's normal range) and p to
// half; products are exact and sums f32. Per query row, with s_j's error at most D =
// max_j sum_d [(2u + u^2) |q'_d k_jd| + 2^-25 (|q'_d| + |k_jd|)] (1 + hd 2^-23) (q' = scale q):
// each softmax weight is the exact one times a factor in [e^-D (1-u), e^D (1+u)] before the
// normalization, so the weights' error times V is at most (e^2D (1+u)/(1-u) - 1) vmax; V's
// rounding adds u vmax + 2^-25, p's below half's normal range 2^-25 each relative to the
// row's sum (<= 2 n 2^-25 vmax over n positions), and the f32 sums the float kernels' bound
// (kAttnAbsTol). vmax: the largest |V| of the kv head; the max over j runs over every cached
// position (a superset of the visible ones: the bound only grows).
std::vector<float> flash_cm_allowed(const std::vector<float>& q, const std::vector<float>& kr, const std::vector<float>& vr,
                                    uint32_t M, uint32_t n_head, uint32_t n_head_kv, uint32_t hd, uint32_t n_pos) {
    const double u = 0x1p-11, tiny = 0x1p-25, scale = 1.0 / std::sqrt(double(hd));
    const uint32_t grp = n_head / n_head_kv, width = n_head_kv * hd;
    std::vector<float> allowed(size_t(M) * n_head * hd);
    for (uint32_t m = 0; m < M; ++m)
        for (uint32_t h = 0; h < n_head; ++h) {
            const uint32_t kvh = h / grp;
            const float* qr = q.data() + (size_t(m) * n_head + h) * hd;
            double D = 0, vmax = 0;
            for (uint32_t j = 0; j < n_pos; ++j) {
                const float* k = kr.data() + size_t(j) * width + kvh * hd;
                const float* v = vr.data() + size_t(j) * width + kvh * hd;
                double e = 0;
                for (uint32_t d = 0; d < hd; ++d) {
                    const double qa = std::fabs(scale * qr[d]), ka = std::fabs(double(k[d]));
                    e += (2 * u + u * u) * qa * ka + tiny * (qa + ka);
                    vmax = std::max(vmax, std::fabs(double(v[d])));
                }
                D = std::max(D, e * (1 + hd * 0x1p-23));
            }
            const double w = (std::exp(2 * D) * (1 + u) / (1 - u) - 1) + u + 2.0 * n_pos * tiny;
            const float a = float(w * vmax + tiny + kAttnAbsTol);
            std::fill_n(allowed.begin() + int64_t((size_t(m) * n_head + h) * hd), hd, a);
        }
    return allowed;
}

// Outputs within a bound each (flash_cm_allowed), all finite.
void check_attention_within(const std::vector<float>& o, const std::vector<float>& want, const std::vector<float>& allowed) {
    REQUIRE(o.size() == want.size());
    REQUIRE(allowed.size() == want.size());
    size_t bad = 0, worst_i = 0;
    float worst = 0;
    for (size_t i = 0; i < o.size(); ++i) {
        if (!std::isfinite(o[i]) || !(std::fabs(o[i] - want[i]) <= allowed[i])) ++bad;
        if (std::isfinite(o[i]) && std::fabs(o[i] - want[i]) / allowed[i] > worst) {
            worst = std::fabs(o[i] - want[i]) / allowed[i];
            worst_i = i;
        }
    }
    CAPTURE(worst);  // the largest error as a fraction of its bound
    CAPTURE(worst_i);
    CHECK(bad == 0);
}

uint32_t ty(KvType t) { return uint32_t(t); }

std::vector<Device*> paths() {
    std::vector<Device*> d;
    if (test::gpu().caps().subgroup) d.push_back(&test::gpu());
    else MESSAGE("device has no subgroup arithmetic: only the shared-memory path runs");
    // The shared-memory path also decodes halves with the integer decoder (caps.native_half off).
    d.push_back(&test::gpu_with(false, false, true, true));
    return d;
}

std::vector<int32_t> iota_pos(uint32_t M, int32_t start) {
    std::vector<int32_t> p(M);
    for (uint32_t i = 0; i < M; ++i) p[i] = start + int32_t(i);
    return p;
}

float nudge(float x, int ulps) {
    for (int i = 0; i < std::abs(ulps); ++i) x = std::nextafter(x, ulps > 0 ? INFINITY : -INFINITY);
    return x;
}

// Compares one cache row the GPU wrote (`got`, kv_row_bytes) with the reference encoding
// of the source values x (width), allowing the Q8_0 tie cases above. Returns the number
// of tolerated differences (REQUIREs on anything else).
int check_row(KvType t, const uint8_t* got, std::span<const float> x) {
    const std::vector<uint8_t> want = ref::encode_kv_row(ty(t), x);
    if (t != KvType::q8_0 || std::memcmp(got, want.data(), want.size()) == 0) {
        REQUIRE(std::memcmp(got, want.data(), want.size()) == 0);
        return 0;
    }
    int tolerated = 0;
    for (size_t b = 0; b < x.size() / 32; ++b) {
        CAPTURE(b);
        const uint8_t* g = got + b * 34;
        const uint8_t* w = want.data() + b * 34;
        const float* xb = x.data() + b * 32;
        float amax = 0;
        for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(xb[j]));
        const float d = amax / 127.0f, id = d != 0.f ? 1.0f / d : 0.f;
        const uint16_t dg = uint16_t(g[0] | g[1] << 8), dw = uint16_t(w[0] | w[1] << 8);
        if (dg != dw) {
            const bool near_tie = fp32_to_fp16(nudge(d, -kDivUlps)) != fp32_to_fp16(nudge(d, kDivUlps));
            REQUIRE_MESSAGE((near_tie && std::abs(int(dg) - int(dw)) == 1), "d " << dg << " vs " << dw);
            ++tolerated;
        }
        for (int j = 0; j < 32; ++j) {
            const int qg = int8_t(g[2 + j]), qw = int8_t(w[2 + j]);
            if (qg == qw) continue;
            const float v = xb[j] * id;
            const bool near_tie = std::fabs(std::fabs(v - std::trunc(v)) - 0.5f) <= kTieRel * std::fabs(v);
            CAPTURE(j);
            CAPTURE(v);
            REQUIRE_MESSAGE((near_tie && std::abs(qg - qw) == 1), "q " << qg << " vs " << qw);
            ++tolerated;
        }
    }
    return tolerated;
}

// A cache of `rows` rows whose bytes are all `fill` (rows nobody writes must keep them).
Buffer filled_cache(Device& dev, KvType t, uint32_t width, uint32_t rows, uint8_t fill) {
    std::vector<uint8_t> bytes(ops::kv_cache_bytes(t, width, rows), fill);
    return make_buffer(dev, bytes);
}

// Checks a downloaded cache of `rows` rows (a ring): row pos[m] % rows (pos[m] >= 0)
// holds src row m encoded, all other bytes are still `fill`.
void check_cache(KvType t, const std::vector<uint8_t>& cache, const std::vector<float>& src,
                 const std::vector<int32_t>& pos, uint32_t width, uint32_t rows, uint8_t fill) {
    const uint64_t rb = ops::kv_row_bytes(t, width);
    std::vector<int> src_row(rows, -1);
    for (size_t m = 0; m < pos.size(); ++m) {
        if (pos[m] < 0) continue;
        REQUIRE_MESSAGE(src_row[size_t(pos[m]) % rows] < 0, "two positions of the test map to one row");
        src_row[size_t(pos[m]) % rows] = int(m);
    }
    int tolerated = 0;
    for (uint32_t r = 0; r < rows; ++r) {
        CAPTURE(r);
        const uint8_t* got = cache.data() + r * rb;
        if (src_row[r] < 0) {
            for (uint64_t i = 0; i < rb; ++i) REQUIRE(got[i] == fill);
        } else {
            tolerated += check_row(t, got, std::span<const float>(src).subspan(size_t(src_row[r]) * width, width));
        }
    }
    for (uint64_t i = rows * rb; i < cache.size(); ++i) REQUIRE(cache[i] == fill);  // padding to a whole word
    if (tolerated) MESSAGE(tolerated << " q8_0 values at a rounding tie differ by one unit");
}

}  // namespace

TEST_CASE("kv_type: names, row sizes, and widths a type cannot hold") {
    CHECK(ops::parse_kv_type("F16", "-ctk") == KvType::f16);
    CHECK(ops::parse_kv_type("q8_0", "-ctv") == KvType::q8_0);
    CHECK(ops::parse_kv_type("f32", "-ctk") == KvType::f32);
    CHECK_THROWS_WITH_AS(ops::parse_kv_type("q4_0", "-ctk"), doctest::Contains("-ctk: unsupported KV cache type 'q4_0'"),
                         vkrt::Error);
    CHECK(ops::kv_row_bytes(KvType::f32, 32) == 128);
    CHECK(ops::kv_row_bytes(KvType::f16, 32) == 64);
    CHECK(ops::kv_row_bytes(KvType::q8_0, 32) == 34);
    CHECK(ops::kv_row_bytes(KvType::q8_0, 4096) == 4352);
    CHECK(ops::kv_cache_bytes(KvType::q8_0, 32, 3) == 104);  // 102 bytes, rounded up to words
    CHECK_THROWS_WITH_AS(ops::kv_row_bytes(KvType::q8_0, 24), doctest::Contains("multiple of 32"), vkrt::Error);
    CHECK_THROWS_WITH_AS(ops::kv_row_bytes(KvType::f16, 7), doctest::Contains("even"), vkrt::Error);
}

TEST_CASE("kv_store: f32 / f16 / q8_0 rows land at pos[m] % rows as the reference encodes them; other bytes are kept") {
    Device& dev = test::gpu();
    const uint32_t n_ctx = 11;  // rows of the cache
    // Adjacent rows (2, 3, 4: q8_0 rows of 34 bytes share words with their neighbours,
    // written by other invocations or not at all), the first and last row, a position
    // past the rows (the cache is a ring: 17 goes to row 6) and a negative one (skipped).
    const std::vector<int32_t> pos{3, 2, 10, 17, -1, 0, 4};
    const uint32_t M = uint32_t(pos.size());
    for (KvType t : kTypes) {
        for (uint32_t width : {32u, 64u, 96u, 256u}) {
            CAPTURE(ops::kv_type_name(t));
            CAPTURE(width);
            auto src = test::random_floats(size_t(M) * width, 400 + width);
            for (uint32_t c = 0; c < width; ++c) src[c] = 0.f;  // an all-zero row: d = 0, q = 0
            for (uint32_t c = 0; c < width; c += 5) src[size_t(width) + c] *= 300.f;  // wide range in a row
            Buffer bs = make_buffer(dev, src), bp = make_buffer(dev, pos);
            Buffer bc = filled_cache(dev, t, width, n_ctx, 0xA5);
            test::run(dev, [&](Recorder& r) { ops::kv_store(r, bs, bp, bc, M, width, n_ctx, t); });
            check_cache(t, bc.download_as<uint8_t>(bc.size()), src, pos, width, n_ctx, 0xA5);
        }
    }
    Buffer b(dev, 1 << 16);
    Recorder rec(dev);
    rec.begin();
    CHECK_THROWS_WITH_AS(ops::kv_store(rec, b, b, b, 1, 24, 4, KvType::q8_0), doctest::Contains("multiple of 32"),
                         vkrt::Error);
    Buffer small(dev, 34 * 4);  // 4 rows of 34 bytes need 136 bytes: exactly fits; 5 rows do not
    ops::kv_store(rec, b, b, small, 1, 32, 4, KvType::q8_0);
    CHECK_THROWS_WITH_AS(ops::kv_store(rec, b, b, small, 1, 32, 5, KvType::q8_0), doctest::Contains("operand 'cache'"),
                         vkrt::Error);
    rec.end();
    CHECK_NO_VALIDATION(dev);
}

TEST_CASE("rope_store: f16 / q8_0 caches hold ops::rope's float output rounded as kv_store rounds it") {
    Device& dev = test::gpu();
    struct Case {
        uint32_t M, n_head, hd, n_rot, x_stride;
        int32_t pos0;
    };
    // hd 8 x 4 heads: a q8_0 block spans four heads (stories260K's K rows); partial
    // rotation; a K slice of a wider (fused) row; NEOX pairs 64 dims apart.
    const Case cases[] = {{5, 4, 8, 8, 0, 3}, {3, 2, 64, 32, 0, 290}, {4, 4, 8, 8, 96, 0}, {2, 2, 128, 128, 0, 7},
                          {6, 1, 96, 64, 0, 1}};
    for (bool neox : {false, true}) {
        for (const Case& c : cases) {
            CAPTURE(neox);
            CAPTURE(c.hd);
            CAPTURE(c.n_head);
            const uint32_t width = c.n_head * c.hd, stride = c.x_stride ? c.x_stride : width;
            auto x = test::random_floats(size_t(c.M) * stride, 500 + c.hd + c.M, -2.f, 2.f);
            auto pos = iota_pos(c.M, c.pos0);
            Buffer bx = make_buffer(dev, x), bp = make_buffer(dev, pos);
            ops::RopeParams rp{c.n_head, c.hd, c.n_rot, 10000.f, neox ? ops::RopeMode::neox : ops::RopeMode::norm};
            // The float result of ops::rope (its accuracy is tested in test_kernels_block.cpp).
            Buffer bo(dev, size_t(c.M) * width * 4);
            test::run(dev, [&](Recorder& r) { ops::rope(r, bx, bp, bo, c.M, rp, stride, width); });
            const auto o = bo.download_as<float>(size_t(c.M) * width);
            const uint32_t n_ctx = uint32_t(c.pos0) + c.M + 2;
            for (KvType t : kTypes) {
                CAPTURE(ops::kv_type_name(t));
                Buffer bc = filled_cache(dev, t, width, n_ctx, 0x5A);
                test::run(dev, [&](Recorder& r) { ops::rope_store(r, bx, bp, bc, c.M, rp, n_ctx, stride, t); });
                check_cache(t, bc.download_as<uint8_t>(bc.size()), o, pos, width, n_ctx, 0x5A);
            }
        }
    }
    CHECK_NO_VALIDATION(dev);
}

namespace {
// Attention for queries at `pos` over K/V caches of types tk/tv holding random values
// (rows past the largest position hold bytes 0xFF: NaN in f32/f16, a NaN scale in q8_0;
// the kernels must not read them).
// splits: the decode kernel's split count (0: the device's choice); the split buffer is
// attention_scratch for the shape (its counters must be zero again after each call: the
// q8 run below reuses it).
// prefill: the blocked kernel (auto: the device's choice; the cooperative-matrix kernel is
// checked within flash_cm_allowed, the others within kAttnAbsTol).
// q8: the decode kernel also writes its rows as q8_1 (out_q8, the integer Wo's input): the
// words ops::quantize_q8_1 writes from the float rows, bit for bit (one block writer's
// arithmetic, shaders/q8_1.glsl; the rows' values are the float output's).
void check_attention(Device& dev, KvType tk, KvType tv, uint32_t M, uint32_t n_head, uint32_t n_head_kv, uint32_t hd,
                     const std::vector<int32_t>& pos, uint32_t n_ctx, uint32_t seed, uint32_t splits = 0,
                     ops::AttentionShape::Prefill prefill = ops::AttentionShape::Prefill::auto_, bool q8 = false) {
    CAPTURE(ops::kv_type_name(tk));
    CAPTURE(ops::kv_type_name(tv));
    CAPTURE(M);
    CAPTURE(n_head);
    CAPTURE(n_head_kv);
    CAPTURE(hd);
    const uint32_t width = n_head_kv * hd;
    const uint32_t rows = uint32_t(*std::max_element(pos.begin(), pos.end())) + 1;
    auto q = test::random_floats(size_t(M) * n_head * hd, seed);
    auto kf = test::random_floats(size_t(n_ctx) * width, seed + 1);
    auto vf = test::random_floats(size_t(n_ctx) * width, seed + 2);
    std::vector<uint8_t> kb(ops::kv_cache_bytes(tk, width, n_ctx), 0xFF), vb(ops::kv_cache_bytes(tv, width, n_ctx), 0xFF);
    std::vector<float> kr(kf.size(), 0.f), vr(vf.size(), 0.f);  // what the caches hold (rows < `rows`)
    for (uint32_t r = 0; r < rows; ++r) {
        const std::span<const float> ks(kf.data() + size_t(r) * width, width), vs(vf.data() + size_t(r) * width, width);
        const auto ke = ref::encode_kv_row(ty(tk), ks), ve = ref::encode_kv_row(ty(tv), vs);
        std::copy(ke.begin(), ke.end(), kb.begin() + int64_t(r * ke.size()));
        std::copy(ve.begin(), ve.end(), vb.begin() + int64_t(r * ve.size()));
        const auto kx = ref::round_kv_row(ty(tk), ks), vx = ref::round_kv_row(ty(tv), vs);
        std::copy(kx.begin(), kx.end(), kr.begin() + int64_t(size_t(r) * width));
        std::copy(vx.begin(), vx.end(), vr.begin() + int64_t(size_t(r) * width));
    }
    Buffer bq = make_buffer(dev, q), bk = make_buffer(dev, kb), bv = make_buffer(dev, vb), bp = make_buffer(dev, pos);
    Buffer bo(dev, q.size() * 4);
    ops::AttentionShape sh{n_head, n_head_kv, hd, n_ctx, tk, tv, splits, prefill};
    CAPTURE(splits);
    Buffer split_buf = ops::attention_scratch(dev, sh);
    test::run(dev, [&](Recorder& r) { ops::attention(r, bq, bk, bv, bp, bo, M, sh, 0.f, 0, 0, 0, split_buf); });
    const auto o = bo.download_as<float>(q.size());
    const auto want = ref::attention(q, kr, vr, pos, M, n_head, n_head_kv, hd, n_ctx);
    const bool cm = ops::attention_uses_coopmat(dev.caps(), sh, M);
    CAPTURE(cm);
    if (cm) check_attention_within(o, want, flash_cm_allowed(q, kr, vr, M, n_head, n_head_kv, hd, rows));
    else check_attention_output(o, want);
    if (!q8) return;
    REQUIRE(ops::attention_q8_out(sh, M));
    const uint32_t K = n_head * hd;
    const uint64_t qbytes = ops::matmul_scratch_bytes(M, K);
    Buffer bq8(dev, qbytes), bref(dev, qbytes);
    bq8.fill_zero();
    test::run(dev, [&](Recorder& r) {
        ops::attention(r, bq, bk, bv, bp, bo, M, sh, 0.f, 0, 0, 0, split_buf, bq8);
        ops::quantize_q8_1(r, bo, ops::Q8Activations{bref, M, K});
    });
    CHECK(bo.download_as<float>(q.size()) == o);  // out is not written with out_q8
    const auto got = bq8.download_as<uint32_t>(qbytes / 4), exp = bref.download_as<uint32_t>(qbytes / 4);
    size_t diff = 0;
    for (size_t i = 0; i < got.size(); ++i) diff += got[i] != exp[i];
    CHECK_MESSAGE(diff == 0, diff << " of " << got.size() << " q8_1 words differ from quantize_q8_1's");
}
}  // namespace

TEST_CASE("attention over f32 / f16 / q8_0 caches: same-type and mixed K x V pairs, decode and blocked prefill, both paths") {
    static_assert(ops::kAttentionBlockMinRows == 8, "M = 1 and 3 below run the per-query kernel, M >= 20 the blocked one");
    for (Device* dev : paths()) {
        CAPTURE(dev->caps().subgroup);
        uint32_t seed = 600;
        for (KvType tk : kTypes) {
            for (KvType tv : kTypes) {
                // Each path takes the same K and V types and two mixed pairs here, each pair
                // with q8_0 (the type whose blocks the head dims below straddle) as K once and
                // as V once: the subgroup path f32/q8_0 and q8_0/f16, the shared-memory path
                // f16/q8_0 and q8_0/f32 (suite time: each pair x shape is a lavapipe compile).
                // Every K x V pair runs on both paths in the ring test (decode and blocked
                // prefill) and the split decode test below.
                const bool sg = dev->caps().subgroup;
                const bool mixed_pair_kept = sg ? (tk == KvType::f32 && tv == KvType::q8_0) ||
                                                      (tk == KvType::q8_0 && tv == KvType::f16)
                                                : (tk == KvType::f16 && tv == KvType::q8_0) ||
                                                      (tk == KvType::q8_0 && tv == KvType::f32);
                if (tk != tv && !mixed_pair_kept) {
                    seed += 5;
                    continue;
                }
                // Decode: heads of 8 (a q8_0 block spans four kv heads), 96 (blocks straddle heads)
                // and 256 (more dims than threads).
                check_attention(*dev, tk, tv, 1, 8, 4, 8, {299}, 320, seed++);
                check_attention(*dev, tk, tv, 3, 4, 2, 96, iota_pos(3, 74), 80, seed++);
                check_attention(*dev, tk, tv, 1, 2, 2, 256, {32}, 40, seed++);
                // Blocked prefill from 0 and continuing a cache at an offset.
                check_attention(*dev, tk, tv, 64, 8, 4, 8, iota_pos(64, 0), 80, seed++);
                check_attention(*dev, tk, tv, 20, 8, 2, 64, iota_pos(20, 100), 128, seed++);
            }
        }
        CHECK_NO_VALIDATION(*dev);
    }
    Device& dev = test::gpu();
    check_attention(dev, KvType::q8_0, KvType::q8_0, 40, 32, 8, 128, iota_pos(40, 7), 64, 700);
    check_attention(dev, KvType::f16, KvType::f16, 40, 32, 8, 128, iota_pos(40, 7), 64, 701);
    // Blocked prefill over F16 caches whose head rows the kernel cannot read four halves
    // from two words throughout: hd % 4 == 2 (the last four dims element by element) and
    // odd hd (heads start mid-word: every load element by element).
    check_attention(dev, KvType::f16, KvType::f16, 24, 4, 2, 6, iota_pos(24, 3), 32, 702);
    check_attention(dev, KvType::f16, KvType::f16, 24, 4, 2, 7, iota_pos(24, 0), 32, 703);
    Recorder rec(dev);
    Buffer b(dev, 1 << 16);
    rec.begin();
    CHECK_THROWS_WITH_AS(ops::attention(rec, b, b, b, b, b, 1, ops::AttentionShape{4, 3, 8, 4, KvType::q8_0}),
                         doctest::Contains("multiple of n_head_kv"), vkrt::Error);
    CHECK_THROWS_WITH_AS(ops::attention(rec, b, b, b, b, b, 1, ops::AttentionShape{4, 2, 8, 4, KvType::f32, KvType::q8_0}),
                         doctest::Contains("v_cache: a q8_0 cache needs rows"), vkrt::Error);
    CHECK_THROWS_WITH_AS(
        ops::attention(rec, b, b, b, b, b, 1, ops::AttentionShape{4, 4, 64, 1024, KvType::f16, KvType::f16}),
        doctest::Contains("operand 'k_cache'"), vkrt::Error);
    rec.end();
    CHECK_NO_VALIDATION(dev);
}

// The blocked kernel's shapes: one thread a query row (hd <= 16), rows of 2..16 threads
// that exchange scores by subgroup shuffles (tpr <= the subgroup size) or through shared
// memory, f16 tiles (halves) and float tiles; M not a multiple of the query-row blocks nor
// the positions of the kv tiles, GQA groups 1..8, the head dims of the archs.
TEST_CASE("blocked prefill attention: head dims 16..256, GQA groups 1..8, odd M, every cache type, both paths") {
    struct Case {
        KvType tk, tv;
        uint32_t M, n_head, n_head_kv, hd;
        int32_t pos0;
    };
    const Case cases[] = {
        {KvType::f32, KvType::f32, 9, 2, 2, 16, 0},      // one thread a row, MHA
        {KvType::f16, KvType::f16, 33, 8, 1, 32, 5},     // 2 threads a row, 8 heads a kv head
        {KvType::q8_0, KvType::q8_0, 37, 6, 2, 64, 0},   // 4 threads, groups of 3
        {KvType::f16, KvType::q8_0, 21, 10, 2, 80, 40},  // 8 threads x 12 dims (padded head)
        {KvType::q8_0, KvType::f16, 19, 12, 2, 96, 3},   // groups of 6
        {KvType::f16, KvType::f16, 45, 8, 2, 128, 17},   // groups of 4
        {KvType::f32, KvType::f16, 11, 7, 1, 128, 60},   // groups of 7
        {KvType::f16, KvType::f16, 13, 4, 2, 256, 2},    // 16 threads a row
        {KvType::q8_0, KvType::f32, 10, 5, 1, 256, 0},   // groups of 5
    };
    for (Device* dev : paths()) {
        CAPTURE(dev->caps().subgroup);
        uint32_t seed = 4000;
        for (const Case& c : cases) {
            // The shared-score path (no subgroups) has its own cases in the tests above: here
            // only the head dims they lack (padded heads of 80 and 96, 16 threads a row), so
            // that the test stays quick (each case is a pipeline for lavapipe to compile).
            if (!dev->caps().subgroup && c.hd != 80 && c.hd != 96 && c.hd != 256) continue;
            const auto t = ops::flash_tiles(dev->caps(), c.hd, c.tk, c.tv);
            REQUIRE(t.has_value());
            CAPTURE(t->subgroup);
            CAPTURE(t->tpr);
            CAPTURE(t->bc);
            // The shuffle path runs wherever the device has subgroups as wide as a row.
            const uint32_t sg = dev->caps().subgroup_size;
            CHECK(t->subgroup == (dev->caps().subgroup && t->tpr > 1 && t->tpr <= sg && t->wg % sg == 0));
            const uint32_t n_ctx = uint32_t(c.pos0) + c.M + 3;
            check_attention(*dev, c.tk, c.tv, c.M, c.n_head, c.n_head_kv, c.hd, iota_pos(c.M, c.pos0), n_ctx, seed++);
        }
        CHECK_NO_VALIDATION(*dev);
    }
}

// ---- prefill attention on cooperative matrices (shaders/attention_flash_cm.comp) -----------

TEST_CASE("prefill attention on cooperative matrices (flash_cm): chosen from the device's shapes; every cache type, "
          "GQA, odd head dims, rings within the derived bound where it runs; fallback elsewhere") {
    using Prefill = ops::AttentionShape::Prefill;
    // The choice, on the capabilities of a device that has the matrices (RDNA3's report:
    // 16x16x16 f16 x f16 + f32 -> f32 at subgroup scope; wave64, 64 KiB of shared memory).
    Capabilities c = test::gpu().caps();
    c.cooperative_matrix = true;
    c.fp16 = true;
    c.subgroup_size = 64;
    c.max_workgroup_invocations = 1024;
    c.shared_memory = 65536;
    c.max_workgroup_count[0] = c.max_workgroup_count[1] = 65535;
    c.coopmat_shapes = {{16, 16, 16, 0, 0, 0, 0, false}, {16, 16, 16, 0, 0, 1, 1, false}};
    for (uint32_t hd : {1u, 6u, 7u, 16u, 64u, 80u, 96u, 128u, 256u}) {
        CAPTURE(hd);
        const auto t = ops::flash_cm_tiles(c, hd);
        REQUIRE(t.has_value());
        CHECK(t->wg == 64);
        CHECK((t->hdp % 16 == 0 && t->hdp >= hd && t->hdp < hd + 16));
        CHECK(t->q_size == 16 * (t->hdp + 8));
        CHECK(t->kv_size == t->bc * (t->hdp + 8));
        CHECK(t->o_size == 16 * (t->hdp + 4));
        CHECK(t->shared_bytes() <= c.shared_memory);
        // 32-row kv tiles where they fit 32 KiB, else 16
        ops::FlashCmTiles t32 = *t;
        t32.bc = 32;
        t32.kv_size = 32 * (t->hdp + 8);
        CHECK(t->bc == (t32.shared_bytes() <= 32768 ? 32u : 16u));
    }
    CHECK(ops::flash_cm_tiles(c, 64)->bc == 32);
    CHECK(ops::flash_cm_tiles(c, 256)->bc == 16);
    CHECK(!ops::flash_cm_tiles(c, 0));
    CHECK(!ops::flash_cm_tiles(c, 257));
    const ops::AttentionShape sh{8, 2, 64, 512, KvType::f16, KvType::f16};
    CHECK(!ops::attention_uses_coopmat(c, sh, ops::kAttentionBlockMinRows - 1));  // decode: attention.comp
    CHECK(ops::attention_uses_coopmat(c, sh, ops::kAttentionBlockMinRows));
    CHECK(!ops::attention_uses_coopmat(c, ops::AttentionShape{8, 2, 64, 512, KvType::f16, KvType::f16, 0, Prefill::scalar}, 64));
    {
        Capabilities d = c;
        d.subgroup_size = 32;  // NVIDIA, RDNA in wave32
        CHECK(ops::flash_cm_tiles(d, 128)->wg == 32);
        d.subgroup_size = 8;  // fewer lanes than query rows
        CHECK(!ops::flash_cm_tiles(d, 128));
        d = c;
        d.shared_memory = 32768;  // hd 256's 16-row tiles need ~45 KiB
        CHECK(!ops::flash_cm_tiles(d, 256));
        CHECK(ops::flash_cm_tiles(d, 128).has_value());
        d = c;
        d.fp16 = false;
        CHECK(!ops::flash_cm_tiles(d, 64));
        d = c;
        d.coopmat_shapes = {{16, 16, 16, 0, 0, 0, 0, false}, {16, 16, 16, 3, 3, 5, 5, false}};  // no f32 sums
        CHECK(!ops::flash_cm_tiles(d, 64));
        d.coopmat_shapes = {{16, 16, 16, 0, 0, 1, 1, true}};  // saturating only
        CHECK(!ops::flash_cm_tiles(d, 64));
        d = c;
        d.cooperative_matrix = false;  // VKRT_DISABLE=coopmat, or an old validation layer
        CHECK(!ops::flash_cm_tiles(d, 64));
        CHECK(!ops::attention_uses_coopmat(d, sh, 64));
        d = c;
        d.max_workgroup_count[1] = 3;  // 64 queries x 4 heads a kv head: 16 blocks
        CHECK(!ops::attention_uses_coopmat(d, sh, 64));
    }

    Device& dev = test::gpu();
    const auto& caps = dev.caps();
    if (!ops::flash_cm_tiles(caps, 64)) {
        // lavapipe: no VK_KHR_cooperative_matrix. The kernel is not run here; what is checked:
        // the runtime falls back to attention_flash (the other tests check its values) and a
        // forced call is refused, naming the feature.
        MESSAGE("flash_cm not run: ", caps.name, " reports no 16x16x16 f16 x f16 -> f32 cooperative matrix",
                std::string(caps.cooperative_matrix ? "" : " (cooperative matrices off") +
                    (caps.coopmat_off.empty() ? ")" : ": " + caps.coopmat_off + ")"));
        CHECK(!ops::attention_uses_coopmat(caps, sh, 64));
        Recorder rec(dev);
        Buffer b(dev, 1 << 20);
        rec.begin();
        CHECK_THROWS_WITH_AS(ops::attention(rec, b, b, b, b, b, 64,
                                            ops::AttentionShape{8, 2, 64, 512, KvType::f16, KvType::f16, 0, Prefill::coopmat}),
                             doctest::Contains("cooperative matrices"), vkrt::Error);
        rec.end();
        CHECK_NO_VALIDATION(dev);
        return;
    }
    // A device with the matrices: the kernel forced over every K x V type pair (head dims 64
    // and 128, GQA 4), odd and padded head dims, GQA groups 1..7, a block's rows past M, a
    // cache continued at an offset; the scalar kernels forced beside it. (The other tests of
    // this file, rings included, run this device's choice: this kernel, within its bound.)
    uint32_t seed = 12000;
    for (KvType tk : kTypes)
        for (KvType tv : kTypes) {
            check_attention(dev, tk, tv, 40, 8, 2, 64, iota_pos(40, 0), 64, seed++, 0, Prefill::coopmat);
            check_attention(dev, tk, tv, 21, 8, 2, 128, iota_pos(21, 30), 64, seed++, 0, Prefill::coopmat);
        }
    check_attention(dev, KvType::f16, KvType::f16, 24, 4, 2, 6, iota_pos(24, 3), 32, seed++, 0, Prefill::coopmat);
    check_attention(dev, KvType::f16, KvType::f16, 24, 4, 2, 7, iota_pos(24, 0), 32, seed++, 0, Prefill::coopmat);
    check_attention(dev, KvType::f32, KvType::f32, 33, 7, 1, 80, iota_pos(33, 5), 48, seed++, 0, Prefill::coopmat);
    check_attention(dev, KvType::q8_0, KvType::f16, 19, 12, 2, 96, iota_pos(19, 3), 32, seed++, 0, Prefill::coopmat);
    check_attention(dev, KvType::f16, KvType::q8_0, 13, 4, 2, 256, iota_pos(13, 2), 20, seed++, 0, Prefill::coopmat);
    check_attention(dev, KvType::f32, KvType::f32, 9, 2, 2, 16, iota_pos(9, 0), 12, seed++, 0, Prefill::coopmat);
    check_attention(dev, KvType::f16, KvType::f16, 45, 8, 2, 128, iota_pos(45, 17), 64, seed++, 0, Prefill::scalar);
    check_attention(dev, KvType::q8_0, KvType::q8_0, 37, 6, 2, 64, iota_pos(37, 0), 40, seed++, 0, Prefill::scalar);
    CHECK_NO_VALIDATION(dev);
}

// Where the compiler keeps loops rolled (Arm Mali; VKRT_DISABLE=unroll anywhere) the kernels'
// register arrays are indexed dynamically, and Mesa's Mali-G610 backend spills or never
// finishes on the long ones (docs/GPU.md, "Mali-G610"): decode workgroups serve at most 2 query
// heads, the blocked prefill kernel gives a query row at least 2 threads and a thread at most
// 8 scores and 20 scores + output dims. The choices, then the results on those shapes (GPU
// shapes: cpu_tuning off) against the reference: decode with 5 and 8 query heads a kv head
// (workgroups of 2, 2, 1 and 2 x 4, split), prefill at the head dims whose shapes change
// (8, 16, 32, 64).
TEST_CASE("attention where the compiler keeps loops rolled (VKRT_DISABLE=unroll): decode <= 2 heads a workgroup, "
          "prefill >= 2 threads a row, <= 8 scores and <= 20 scores + dims a thread") {
    DeviceOptions o = DeviceOptions::from_env();
    o.disable_unroll = true;
    o.disable_cpu_tuning = true;
    if (o.pipeline_cache.empty()) o.pipeline_cache = "off";
    Device dev(o);
    REQUIRE_FALSE(dev.caps().unrolls_loops);
    const Capabilities& unrolled = test::gpu().caps();
    for (uint32_t grp : {1u, 2u, 3u, 5u, 7u, 8u, 12u}) {
        CAPTURE(grp);
        const ops::AttentionShape sh{2 * grp, 2, 64, 128};
        CHECK(ops::attention_decode_heads(dev.caps(), sh) == std::min(grp, 2u));
        const uint32_t groups = (grp + shader::kAttnMaxHeads - 1) / shader::kAttnMaxHeads;  // of <= 8 heads
        if (unrolled.unrolls_loops) CHECK(ops::attention_decode_heads(unrolled, sh) == (grp + groups - 1) / groups);
    }
    for (uint32_t hd : {8u, 16u, 32u, 64u, 80u, 96u, 128u, 256u}) {
        CAPTURE(hd);
        const auto t = ops::flash_tiles(dev.caps(), hd, KvType::f16, KvType::f16);
        REQUIRE(t.has_value());
        CHECK(t->tpr >= 2);
        CHECK(t->ns <= 8);
        CHECK(t->ns + t->dpt <= 20);
    }
    if (unrolled.unrolls_loops) CHECK(ops::flash_tiles(unrolled, 8, KvType::f16, KvType::f16)->tpr == 1);
    uint32_t seed = 5100;
    check_attention(dev, KvType::f16, KvType::f16, 1, 10, 2, 64, {150}, 160, seed++);
    check_attention(dev, KvType::q8_0, KvType::f16, 3, 16, 2, 128, iota_pos(3, 40), 48, seed++, 2);
    check_attention(dev, KvType::f32, KvType::f32, 20, 4, 2, 8, iota_pos(20, 0), 24, seed++);
    check_attention(dev, KvType::f16, KvType::f16, 33, 6, 2, 16, iota_pos(33, 5), 40, seed++);
    check_attention(dev, KvType::f16, KvType::q8_0, 21, 4, 1, 32, iota_pos(21, 10), 32, seed++);
    check_attention(dev, KvType::q8_0, KvType::f32, 19, 8, 2, 64, iota_pos(19, 30), 50, seed++);
    CHECK_NO_VALIDATION(dev);
}

// ---- ring caches (sliding-window layers) ----------------------------------------
// A sliding-window layer keeps rows = window + n_batch - 1 positions, position p in row
// p % rows (ops::kv_store); the stores and the attention kernels must agree on it.

TEST_CASE("rope_store into a ring of rows: row pos % rows holds what a full cache holds at row pos") {
    Device& dev = test::gpu();
    const uint32_t n_head = 2, hd = 32, width = n_head * hd, rows = 8, M = 6;
    const auto pos = iota_pos(M, 37);  // rows 5, 6, 7, 0, 1, 2: the batch wraps
    const uint32_t full = uint32_t(pos.back()) + 1;
    auto x = test::random_floats(size_t(M) * width, 880, -2.f, 2.f);
    Buffer bx = make_buffer(dev, x), bp = make_buffer(dev, pos);
    const ops::RopeParams rp{n_head, hd, hd, 10000.f, ops::RopeMode::neox};
    for (KvType t : kTypes) {
        CAPTURE(ops::kv_type_name(t));
        Buffer ring = filled_cache(dev, t, width, rows, 0x5A), whole = filled_cache(dev, t, width, full, 0x5A);
        test::run(dev, [&](Recorder& r) {
            ops::rope_store(r, bx, bp, ring, M, rp, rows, 0, t);
            ops::rope_store(r, bx, bp, whole, M, rp, full, 0, t);
        });
        const auto a = ring.download_as<uint8_t>(ring.size()), b = whole.download_as<uint8_t>(whole.size());
        const uint64_t rb = ops::kv_row_bytes(t, width);
        std::vector<bool> written(rows, false);
        for (int32_t p : pos) {
            CAPTURE(p);
            const uint32_t r = uint32_t(p) % rows;
            written[r] = true;
            CHECK(std::memcmp(a.data() + r * rb, b.data() + uint64_t(p) * rb, rb) == 0);
        }
        for (uint32_t r = 0; r < rows; ++r)
            if (!written[r])
                for (uint64_t i = 0; i < rb; ++i) REQUIRE(a[r * rb + i] == 0x5A);
    }
    CHECK_NO_VALIDATION(dev);
}

namespace {
// A layer's cache at the kernel level, as a session drives it: positions 0.. in batches
// of the given sizes; each batch stores its K and V rows (kv_store) into rings of `rows`
// rows, then its queries attend with `window`. The ring starts as 0xFF bytes (NaN) and
// every batch overwrites older positions. The reference has no ring: ref::attention over
// every position, each position's values decoded from the ring right after its batch
// stored them (and checked against the reference encoding of its source row).
void check_ring(Device& dev, KvType tk, KvType tv, uint32_t n_head, uint32_t n_head_kv, uint32_t hd, uint32_t window,
                uint32_t rows, const std::vector<uint32_t>& batches, uint32_t seed, uint32_t splits = 0,
                ops::AttentionShape::Prefill prefill = ops::AttentionShape::Prefill::auto_) {
    CAPTURE(ops::kv_type_name(tk));
    CAPTURE(ops::kv_type_name(tv));
    CAPTURE(hd);
    CAPTURE(window);
    CAPTURE(rows);
    const uint32_t width = n_head_kv * hd;
    uint32_t total = 0;
    for (uint32_t b : batches) total += b;
    REQUIRE(total > 2 * rows);  // the ring wraps more than once
    Buffer bk = filled_cache(dev, tk, width, rows, 0xFF), bv = filled_cache(dev, tv, width, rows, 0xFF);
    const uint64_t rbk = ops::kv_row_bytes(tk, width), rbv = ops::kv_row_bytes(tv, width);
    std::vector<float> kr(size_t(total) * width, 0.f), vr(size_t(total) * width, 0.f);
    const ops::AttentionShape sh{n_head, n_head_kv, hd, rows, tk, tv, splits, prefill};
    CAPTURE(splits);
    Buffer split_buf = ops::attention_scratch(dev, sh);
    uint32_t p0 = 0;
    int tolerated = 0;
    for (uint32_t M : batches) {
        CAPTURE(p0);
        CAPTURE(M);
        REQUIRE(rows >= window + M - 1);  // the precondition of a ring (ops::attention)
        const auto pos = iota_pos(M, int32_t(p0));
        const auto q = test::random_floats(size_t(M) * n_head * hd, seed++);
        const auto ks = test::random_floats(size_t(M) * width, seed++);
        const auto vs = test::random_floats(size_t(M) * width, seed++);
        Buffer bq = make_buffer(dev, q), bks = make_buffer(dev, ks), bvs = make_buffer(dev, vs);
        Buffer bp = make_buffer(dev, pos), bo(dev, q.size() * 4);
        test::run(dev, [&](Recorder& r) {
            ops::kv_store(r, bks, bp, bk, M, width, rows, tk);
            ops::kv_store(r, bvs, bp, bv, M, width, rows, tv);
            ops::attention(r, bq, bk, bv, bp, bo, M, sh, 0.f, 0, 0, window, split_buf);
        });
        const auto kb = bk.download_as<uint8_t>(bk.size()), vb = bv.download_as<uint8_t>(bv.size());
        for (uint32_t m = 0; m < M; ++m) {
            const uint64_t row = (p0 + m) % rows;
            const size_t at = size_t(p0 + m) * width;
            tolerated += check_row(tk, kb.data() + row * rbk, std::span<const float>(ks).subspan(size_t(m) * width, width));
            tolerated += check_row(tv, vb.data() + row * rbv, std::span<const float>(vs).subspan(size_t(m) * width, width));
            fmt::dequantize_row(Format(uint32_t(tk)), kb.data() + row * rbk, kr.data() + at, width);
            fmt::dequantize_row(Format(uint32_t(tv)), vb.data() + row * rbv, vr.data() + at, width);
        }
        const auto o = bo.download_as<float>(q.size());
        const auto want = ref::attention(q, kr, vr, pos, M, n_head, n_head_kv, hd, total, 0.f, window);
        if (ops::attention_uses_coopmat(dev.caps(), sh, M))
            check_attention_within(o, want, flash_cm_allowed(q, kr, vr, M, n_head, n_head_kv, hd, p0 + M));
        else
            check_attention_output(o, want);
        p0 += M;
    }
    if (tolerated) MESSAGE(tolerated << " q8_0 values at a rounding tie differ by one unit");
}

// Prefill batches of 12 (the blocked kernel) and 3 (per-query), decode steps (M = 1);
// several batches straddle the ring's wrap.
std::vector<uint32_t> session_batches(int repeats) {
    std::vector<uint32_t> b;
    for (int r = 0; r < repeats; ++r)
        for (uint32_t m : {12u, 1u, 1u, 1u, 1u, 1u, 9u, 1u, 1u, 1u, 1u, 12u, 3u, 1u, 1u, 1u, 1u, 1u, 1u, 1u, 1u, 12u})
            b.push_back(m);
    return b;
}
}  // namespace

TEST_CASE("ring caches: kv_store + windowed attention over fewer rows than positions match the reference, "
          "every K x V type, decode and blocked prefill, both paths") {
    static_assert(ops::kAttentionBlockMinRows == 8, "batches of 9 and 12 run the blocked kernel, 1 and 3 the per-query one");
    for (Device* dev : paths()) {
        CAPTURE(dev->caps().subgroup);
        uint32_t seed = 9000;
        for (KvType tk : kTypes) {
            for (KvType tv : kTypes) {
                // Window 7 inside a kv tile; rows = window + 12 - 1 (the session's rule).
                check_ring(*dev, tk, tv, 4, 2, 32, 7, 18, session_batches(1), seed);
                seed += 1000;
            }
        }
        // A window longer than the blocked kernel's tiles, heads of 8 (a q8_0 block spans
        // four kv heads), and a ring with spare rows.
        check_ring(*dev, KvType::f16, KvType::f16, 8, 4, 8, 40, 51, session_batches(3), seed += 1000);
        check_ring(*dev, KvType::q8_0, KvType::q8_0, 8, 4, 8, 40, 60, session_batches(3), seed += 1000);
        check_ring(*dev, KvType::f32, KvType::f16, 4, 1, 256, 5, 16, session_batches(1), seed += 1000);
        CHECK_NO_VALIDATION(*dev);
    }
}

// The cooperative-matrix kernel's code on every device: its _emu variants run the same tiles,
// masks, online softmax, GQA rows and rings with the two matrix products as plain loops
// over the same half tiles (the same roundings: flash_cm_allowed bounds them). K and V
// types each once as K and as V, GQA 4 and 7, a padded and an odd head dim, the largest
// head (16-row kv tiles), a block's rows past M, a cache continued at an offset, a ring.
TEST_CASE("prefill attention flash_cm with emulated matrix products: cache types, GQA, odd and padded heads, "
          "a ring, within the derived bound") {
    using Prefill = ops::AttentionShape::Prefill;
    Device& dev = test::gpu();
    if (!ops::flash_cm_tiles(dev.caps(), 64, true)) {
        MESSAGE("flash_cm_emu not run: ", dev.caps().name, " has no shaderFloat16 or 64-thread workgroups");
        return;
    }
    CHECK(ops::attention_uses_coopmat(dev.caps(), ops::AttentionShape{8, 2, 64, 64, KvType::f32, KvType::f32, 0,
                                                                      Prefill::coopmat_emulated}, 40));
    uint32_t seed = 13000;
    check_attention(dev, KvType::f32, KvType::f16, 40, 8, 2, 64, iota_pos(40, 0), 64, seed++, 0, Prefill::coopmat_emulated);
    check_attention(dev, KvType::f16, KvType::q8_0, 21, 8, 2, 128, iota_pos(21, 30), 64, seed++, 0,
                    Prefill::coopmat_emulated);
    check_attention(dev, KvType::q8_0, KvType::f32, 33, 14, 2, 80, iota_pos(33, 5), 48, seed++, 0,
                    Prefill::coopmat_emulated);
    check_attention(dev, KvType::f16, KvType::f16, 24, 4, 2, 7, iota_pos(24, 0), 32, seed++, 0, Prefill::coopmat_emulated);
    if (ops::flash_cm_tiles(dev.caps(), 256, true))
        check_attention(dev, KvType::f16, KvType::f16, 13, 4, 2, 256, iota_pos(13, 2), 20, seed++, 0,
                        Prefill::coopmat_emulated);
    else
        MESSAGE("hd 256 not run: ", dev.caps().shared_memory, " bytes of shared memory");
    check_ring(dev, KvType::q8_0, KvType::q8_0, 4, 2, 32, 7, 18, session_batches(1), seed += 100, 0,
               Prefill::coopmat_emulated);
    CHECK_NO_VALIDATION(dev);
}

// ---- split decode attention (shaders/attention.comp: the last split of a head merges) ----
// The decode kernel splits each query's visible positions into n_split chunks of
// ceil(n / n_split) and walks a chunk in tiles of kAttnDecodeThreads positions; a workgroup
// serves up to kAttnMaxHeads query heads of one kv head. The lengths below sit at the
// edges of those: one and two positions (splits left empty), a chunk of exactly one tile
// and one more, odd chunks. Most cases have 12 query heads a kv head (two workgroups of 6:
// one pipeline per type pair keeps the test quick); GQA groups of 1, 7 and 8 once each.

TEST_CASE("decode attention split over the KV length: every K x V type, GQA groups, split and tile edges, both paths") {
    static_assert(shader::kAttnDecodeThreads == 128, "the lengths below straddle 128-position tiles");
    static_assert(shader::kAttnMaxHeads == 8, "12 query heads a kv head take two workgroups of 6");
    for (Device* dev : paths()) {
        CAPTURE(dev->caps().subgroup);
        uint32_t seed = 1200;
        for (KvType tk : kTypes) {
            for (KvType tv : kTypes) {
                // n = 1 and 2 over 3 splits (splits left empty, a position a split)
                check_attention(*dev, tk, tv, 2, 12, 1, 64, {0, 1}, 8, seed++, 3);
                // n = 384, 385 over 3 splits: chunks of one tile, and one tile + 1 (a last
                // split one shorter)
                check_attention(*dev, tk, tv, 2, 24, 2, 32, {383, 384}, 400, seed++, 3);
                // heads of 256 (two row groups in P.V), n = 131 over 5 splits of 27
                check_attention(*dev, tk, tv, 1, 12, 1, 256, {130}, 140, seed++, 5);
            }
        }
        // MHA; 7 and 8 query heads a kv head (one workgroup), unsplit and split.
        check_attention(*dev, KvType::f16, KvType::f16, 1, 4, 4, 64, {200}, 256, seed++, 2);
        check_attention(*dev, KvType::q8_0, KvType::f16, 3, 14, 2, 64, iota_pos(3, 60), 64, seed++, 1);
        check_attention(*dev, KvType::f16, KvType::q8_0, 1, 16, 2, 64, {300}, 320, seed++, 4);
        // q8_1 output rows (the integer Wo's input): unsplit and split (the last split's
        // merge writes them), a head of 32, 64 and 256 (blocks a thread: 1, 2, 8).
        check_attention(*dev, KvType::f16, KvType::f16, 2, 24, 2, 32, {383, 384}, 400, seed++, 3,
                        ops::AttentionShape::Prefill::auto_, true);
        check_attention(*dev, KvType::q8_0, KvType::q8_0, 3, 14, 2, 64, iota_pos(3, 60), 64, seed++, 1,
                        ops::AttentionShape::Prefill::auto_, true);
        check_attention(*dev, KvType::f16, KvType::q8_0, 1, 12, 1, 256, {130}, 140, seed++, 5,
                        ops::AttentionShape::Prefill::auto_, true);
        // Odd head dims (f16 rows of the second kv head start mid-word: element loads) and
        // hd % 4 != 0 (the last vec4 of a head partial).
        check_attention(*dev, KvType::f16, KvType::f16, 3, 24, 2, 7, iota_pos(3, 50), 56, seed++, 4);
        check_attention(*dev, KvType::f32, KvType::f16, 2, 24, 2, 6, iota_pos(2, 20), 24, seed++, 3);
        CHECK_NO_VALIDATION(*dev);
    }
}

TEST_CASE("ring caches with split decode attention: windows over a wrapping ring, every cache type") {
    for (Device* dev : paths()) {
        CAPTURE(dev->caps().subgroup);
        uint32_t seed = 20000;
        for (KvType t : kTypes) check_ring(*dev, t, t, 12, 1, 32, 7, 18, session_batches(1), seed += 1000, 3);
        check_ring(*dev, KvType::f16, KvType::q8_0, 24, 2, 32, 40, 51, session_batches(2), seed += 1000, 4);
        CHECK_NO_VALIDATION(*dev);
    }
}

namespace {
// Private arrays of a SPIR-V module: OpVariables in the Function or Private storage class
// whose type is an array (GPU compilers keep such arrays in scratch memory when they are
// indexed by anything but a constant).
uint32_t private_arrays(const spv::ShaderBlob& b) {
    std::set<uint32_t> arrays, array_ptrs;
    uint32_t n = 0;
    for (size_t i = 5; i < b.size;) {
        const uint32_t op = b.words[i] & 0xffffu, len = b.words[i] >> 16;
        const uint32_t* a = b.words + i + 1;
        if (op == 28) arrays.insert(a[0]);                                                    // OpTypeArray
        if (op == 32 && (a[1] == 7 || a[1] == 6) && arrays.count(a[2])) array_ptrs.insert(a[0]);  // OpTypePointer
        if (op == 59 && array_ptrs.count(a[0])) ++n;                                          // OpVariable
        i += len ? len : 1;
    }
    return n;
}
}  // namespace

TEST_CASE("KV writers: no private arrays in any cache type's writer (q8_0: values asked for, never stored in an array)") {
    // The q8_0 writers kept the block's 32 values and 34 bytes in arrays indexed by the loop
    // and by the block's alignment: 2.8k-9.2k instructions and scratch memory on RADV,
    // Adreno and Mali (../shared/gpu-baseline), 67-249 for the f16 writers.
    uint32_t writers = 0;
    for (const auto& b : spv::all_shaders()) {
        const std::string name = b.name;
        if (name.rfind("kv_store", 0) != 0 && name.find("_store") == std::string::npos) continue;
        CAPTURE(name);
        CHECK(private_arrays(b) == 0);
        ++writers;
    }
    CHECK(writers == 7);  // kv_store (f32, f16, q8_0), rope_store and rope_factors_store (f16, q8_0)
    // The check itself sees arrays where there are some (matvec.comp's accumulators).
    CHECK(private_arrays(spv::shader(spv::Variant::matvec_f32)) > 0);
}
