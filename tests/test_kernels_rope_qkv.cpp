// ops::rope_qkv (shaders/rope_qkv.comp), the q/k/v step of a layer in one dispatch, against
// the separate kernels it replaces (add_bias, the per-head rmsnorm, rope, rope_store,
// kv_store; each tested against runtime/ref in test_kernels_block.cpp and
// test_kernels_kv_cache.cpp): fused [q | k | v] rows and separate q / k / v slices, NORM and
// NEOX, partial rotation, frequency factors, GQA, F32, F16 and q8_0 caches, ring rows.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/fp16.hpp"
#include "gpu.hpp"
#include "ops/attention.hpp"
#include "ops/elementwise.hpp"
#include "ops/norm.hpp"
#include "ops/rope.hpp"
#include "test_util.hpp"

using namespace vkrt;

namespace {

// Bound: without the q/k norms both paths run the same float operations (bias add, theta,
// the `precise` rotation): equal bit for bit. With them only the head's sum of squares is
// added in another order: each partial sum of hd squares is within hd * 2^-24 relative of
// the exact one, so the scale (1/sqrt: half of it) and every rotated value (|a c - b s| <=
// |a| + |b| <= 2 * the head's largest normalized value h_max) differ by at most
// hd * 2^-24 * 2 h_max (+ one float ulp of rounding: 2^-23 h_max). An F16 cache may then
// round a value the other way: one half ulp (2^-11 relative) more. A q8_0 block (same
// quantization code in both paths, equal inputs: equal bytes) may round a value to the
// next step, d = the block's max / 127 <= h_max / 127, and its d moves with its max (by
// the value bound, times |q| / 127 <= 1): one step + twice the value bound.
float bound(uint32_t hd, float h_max, bool norm, ops::KvType t, float v) {
    if (!norm) return 0.0f;
    float b = (float(hd) * 0x1p-24f * 2.0f + 0x1p-23f) * h_max;
    if (t == ops::KvType::f16) b += std::ldexp(1.0f, std::ilogb(std::max(std::fabs(v), 0x1p-14f)) - 10);
    if (t == ops::KvType::q8_0) b = 2.0f * b + h_max / 127.0f * 1.01f;
    return b;
}

// The cache's elements as floats (q8_0: d * q of its 34-byte blocks, packed).
std::vector<float> cache_floats(const std::vector<uint8_t>& bytes, ops::KvType t) {
    std::vector<float> out;
    if (t == ops::KvType::q8_0) {
        for (size_t b = 0; b + 34 <= bytes.size(); b += 34) {
            const float d = fp16_to_fp32(uint16_t(bytes[b] | bytes[b + 1] << 8));
            for (size_t j = 0; j < 32; ++j) out.push_back(d * float(int8_t(bytes[b + 2 + j])));
        }
    } else if (t == ops::KvType::f32) {
        out.resize(bytes.size() / 4);
        std::memcpy(out.data(), bytes.data(), out.size() * 4);
    } else {
        for (size_t i = 0; i + 1 < bytes.size(); i += 2) out.push_back(fp16_to_fp32(uint16_t(bytes[i] | bytes[i + 1] << 8)));
    }
    return out;
}

}  // namespace

TEST_CASE("rope_qkv: one dispatch equals bias + q/k norm + rope + rope_store + kv_store") {
    Device& dev = test::gpu();
    struct Case {
        uint32_t M, n_head, n_head_kv, hd, n_rot;
        bool fused, neox, bias, norm, rope_on, factors;
        int32_t pos0;
        uint32_t rows;  // ring rows (>= M)
    };
    const Case cases[] = {
        {3, 4, 2, 32, 32, true, false, true, true, true, false, 5, 64},     // qwen-like: fused, bias, norms
        {2, 8, 8, 8, 8, false, false, false, false, true, true, 0, 16},     // stories260K shape, factors, slices
        {4, 4, 1, 64, 32, true, true, false, true, true, false, 30, 7},     // NEOX, partial rotation, ring of 7
        {1, 2, 2, 16, 16, true, false, true, false, false, false, 3, 8},    // no rope (q, k as projected)
        {2, 4, 2, 16, 16, true, false, true, true, true, false, 9, 16},     // qwen3-f32's heads of 16: a q8_0 block spans 2
        {5, 2, 1, 256, 256, true, true, false, true, true, false, 100, 128},  // gemma's head_dim 256
    };
    using KT = ops::KvType;
    for (const Case& c : cases) {
        // Every F32 / F16 pair; q8_0 for both caches (rows of whole blocks: heads of 8 and 16
        // share blocks), and mixed once.
        std::vector<std::pair<KT, KT>> types = {{KT::f32, KT::f16}, {KT::f32, KT::f32}, {KT::f16, KT::f16}, {KT::f16, KT::f32}};
        if (c.n_head_kv * c.hd % 32 == 0) types.push_back({KT::q8_0, KT::q8_0});
        if (&c == &cases[0]) types.insert(types.end(), {{KT::q8_0, KT::f16}, {KT::f32, KT::q8_0}});
        for (const auto& kv : types) {
            // Plain names, not a structured binding: clang 14 (Debian 12, CI's sanitizer
            // build) cannot capture structured bindings in the lambdas below.
            const KT kt = kv.first, vt = kv.second;
            {
                CAPTURE(c.hd);
                CAPTURE(c.fused);
                CAPTURE(ops::kv_type_name(kt));
                CAPTURE(ops::kv_type_name(vt));
                const uint32_t Q = c.n_head * c.hd, KV = c.n_head_kv * c.hd;
                // Fused rows [q | pad | k | pad | v]; slices: q (M,Q), then k (M,KV), then v.
                const uint32_t k0 = c.fused ? Q + 4 : c.M * Q, v0 = c.fused ? k0 + KV + 4 : k0 + c.M * KV;
                const uint32_t qs = c.fused ? v0 + KV : Q, kvs = c.fused ? qs : KV;
                const size_t n = c.fused ? size_t(c.M) * qs : size_t(v0) + size_t(c.M) * KV;
                const auto x = test::random_floats(n, 7 + c.hd + c.M, -2.f, 2.f);
                const auto bias = test::random_floats(c.fused ? qs : 1, 9, -0.5f, 0.5f);
                const auto qn = test::random_floats(c.hd, 10, 0.5f, 1.5f), kn = test::random_floats(c.hd, 11, 0.5f, 1.5f);
                const auto fac = test::random_floats(c.n_rot / 2, 12, 1.0f, 4.0f);
                std::vector<int32_t> pos(c.M);
                for (uint32_t m = 0; m < c.M; ++m) pos[m] = c.pos0 + int32_t(m);
                Buffer bx1 = make_buffer(dev, x), bx2 = make_buffer(dev, x), bp = make_buffer(dev, pos);
                Buffer bb = make_buffer(dev, bias), bqn = make_buffer(dev, qn), bkn = make_buffer(dev, kn),
                       bf = make_buffer(dev, fac);
                auto cache = [&](ops::KvType t) {
                    Buffer b(dev, ops::kv_cache_bytes(t, KV, c.rows));
                    std::vector<uint8_t> z(b.size(), 0);
                    b.upload(z.data(), z.size());
                    return b;
                };
                Buffer k1 = cache(kt), v1 = cache(vt), k2 = cache(kt), v2 = cache(vt);
                const ops::RopeParams rp{c.n_head, c.hd, c.n_rot, 10000.f,
                                         c.neox ? ops::RopeMode::neox : ops::RopeMode::norm, 0.5f, 1.1f,
                                         c.factors ? BufferView(bf) : BufferView{}};
                const float eps = 1e-6f;
                // The separate passes on bx1.
                const BufferView q(bx1, 0, (uint64_t(c.M - 1) * qs + Q) * 4),
                    k(bx1, uint64_t(k0) * 4, (uint64_t(c.M - 1) * kvs + KV) * 4),
                    v(bx1, uint64_t(v0) * 4, (uint64_t(c.M - 1) * kvs + KV) * 4);
                test::run(dev, [&](Recorder& r) {
                    if (c.bias) ops::add_bias(r, BufferView(bx1, 0, uint64_t(c.M) * qs * 4), bb,
                                              BufferView(bx1, 0, uint64_t(c.M) * qs * 4), c.M, qs);
                    if (c.norm) {
                        ops::rmsnorm(r, q, bqn, q, c.M * c.n_head, c.hd, eps, {c.n_head, qs});
                        ops::rmsnorm(r, k, bkn, k, c.M * c.n_head_kv, c.hd, eps, {c.n_head_kv, kvs});
                    }
                    if (c.rope_on) {
                        ops::rope(r, q, bp, q, c.M, rp, qs, qs);
                        ops::RopeParams rk = rp;
                        rk.n_head = c.n_head_kv;
                        ops::rope_store(r, k, bp, k1, c.M, rk, c.rows, kvs, kt);
                    } else {
                        ops::kv_store(r, k, bp, k1, c.M, KV, c.rows, kt, kvs);
                    }
                    ops::kv_store(r, v, bp, v1, c.M, KV, c.rows, vt, kvs);
                });
                // One dispatch on bx2.
                ops::QkvStep st;
                st.rope = rp;
                st.rope_on = c.rope_on;
                st.n_head_kv = c.n_head_kv;
                st.k0 = k0, st.v0 = v0, st.q_stride = qs, st.kv_stride = kvs;
                if (c.bias) st.bias = bb;
                if (c.norm) st.q_norm = bqn, st.k_norm = bkn;
                st.eps = eps;
                st.rows = c.rows, st.k_type = kt, st.v_type = vt;
                test::run(dev, [&](Recorder& r) { ops::rope_qkv(r, bx2, bp, k2, v2, c.M, st); });
                const auto x1 = bx1.download_as<float>(n), x2 = bx2.download_as<float>(n);
                // q: the head's largest value sets the norm's bound.
                for (uint32_t m = 0; m < c.M; ++m)
                    for (uint32_t h = 0; h < c.n_head; ++h) {
                        const size_t b0 = size_t(m) * qs + size_t(h) * c.hd;
                        float hmax = 0.f;
                        for (uint32_t i = 0; i < c.hd; ++i) hmax = std::max(hmax, std::fabs(x1[b0 + i]));
                        for (uint32_t i = 0; i < c.hd; ++i)
                            REQUIRE_MESSAGE(std::fabs(x1[b0 + i] - x2[b0 + i]) <= bound(c.hd, hmax, c.norm, KT::f32, 0),
                                            "q token " << m << " head " << h << " dim " << i << ": " << x2[b0 + i]
                                                       << " vs " << x1[b0 + i]);
                    }
                // The caches: every row (rows no token wrote stay zero in both).
                auto check_cache = [&](const Buffer& a, const Buffer& b, ops::KvType t, bool normed, const char* what) {
                    const auto fa = cache_floats(a.download_as<uint8_t>(a.size()), t);
                    const auto fb = cache_floats(b.download_as<uint8_t>(b.size()), t);
                    for (size_t r = 0; r < c.rows; ++r)
                        for (uint32_t h = 0; h < c.n_head_kv; ++h) {
                            const size_t b0 = r * KV + size_t(h) * c.hd;
                            float hmax = 0.f;
                            for (uint32_t i = 0; i < c.hd; ++i) hmax = std::max(hmax, std::fabs(fa[b0 + i]));
                            for (uint32_t i = 0; i < c.hd; ++i)
                                REQUIRE_MESSAGE(std::fabs(fa[b0 + i] - fb[b0 + i]) <=
                                                    bound(c.hd, hmax, normed, t, fa[b0 + i]),
                                                what << " row " << r << " head " << h << " dim " << i << ": "
                                                     << fb[b0 + i] << " vs " << fa[b0 + i]);
                        }
                };
                check_cache(k1, k2, kt, c.norm, "K cache");
                check_cache(v1, v2, vt, false, "V cache");
            }
        }
    }
    // Refusals: strides below the widths, a q norm without a k norm.
    Buffer b(dev, 1 << 16);
    ops::QkvStep st;
    st.rope = ops::RopeParams{2, 8, 8, 10000.f};
    st.n_head_kv = 2, st.q_stride = 16, st.kv_stride = 16, st.k0 = 32, st.v0 = 64, st.rows = 4;
    Recorder rec(dev);
    rec.begin();
    st.kv_stride = 8;
    CHECK_THROWS_WITH_AS(ops::rope_qkv(rec, b, b, b, b, 1, st), doctest::Contains("strides"), vkrt::Error);
    st.kv_stride = 16;
    st.q_norm = b;
    CHECK_THROWS_WITH_AS(ops::rope_qkv(rec, b, b, b, b, 1, st), doctest::Contains("norms"), vkrt::Error);
    rec.end();
    CHECK_NO_VALIDATION(dev);
}
