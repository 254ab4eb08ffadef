#include "quant/gptq.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <random>

#include "core/error.hpp"
#include "quant/scale_search.hpp"

namespace vkrt::quant {

namespace {

inline bool flip_changes(float a, float b) {  // NaN == NaN here: only a real change counts
    return std::memcmp(&a, &b, sizeof a) != 0;
}

inline void set_bit(uint8_t* p, uint32_t bit, bool v) {
    if (v)
        p[bit >> 3] = uint8_t(p[bit >> 3] | (1u << (bit & 7)));
    else
        p[bit >> 3] = uint8_t(p[bit >> 3] & ~(1u << (bit & 7)));
}

inline bool get_bit(const uint8_t* p, uint32_t bit) { return (p[bit >> 3] >> (bit & 7)) & 1; }

QuantBits probe_quant_bits(const fmt::Traits& t) {
    const size_t be = t.block_elems, bb = t.block_bytes, nbits = bb * 8;
    // owner[i]: -1 = no probe saw bit i change anything yet, j = it changed only element j
    // every time it changed something, -2 = it changed several elements (a scale) or different ones.
    std::vector<int> owner(nbits, -1);
    std::mt19937 rng(20261206);
    std::normal_distribution<float> nd;
    std::vector<float> x(be), y0(be), y1(be);
    std::vector<uint8_t> blk(bb), tmp(bb);
    for (int probe = 0; probe < 8; ++probe) {
        // Gaussian blocks at several magnitudes, some shifted (the formats with a min).
        const float scale = std::pow(10.0f, float(probe % 4) - 2.0f), shift = probe % 2 ? 0.7f * scale : 0.0f;
        for (float& v : x) v = nd(rng) * scale + shift;
        t.quantize(x.data(), blk.data(), be);
        t.dequantize(blk.data(), y0.data(), be);
        for (size_t i = 0; i < nbits; ++i) {
            if (owner[i] == -2) continue;
            tmp = blk;
            tmp[i >> 3] = uint8_t(tmp[i >> 3] ^ (1u << (i & 7)));
            t.dequantize(tmp.data(), y1.data(), be);
            int changed = -1, n = 0;
            for (size_t j = 0; j < be; ++j)
                if (flip_changes(y0[j], y1[j])) changed = int(j), ++n;
            if (n == 0) continue;
            owner[i] = (n == 1 && (owner[i] == -1 || owner[i] == changed)) ? changed : -2;
        }
    }
    std::vector<std::vector<uint32_t>> per(be);
    for (size_t i = 0; i < nbits; ++i)
        if (owner[i] >= 0) per[size_t(owner[i])].push_back(uint32_t(i));
    QuantBits qb;
    qb.per_elem = uint32_t(per[0].size());
    for (size_t j = 0; j < be; ++j) {
        VKRT_CHECK(per[j].size() == qb.per_elem && qb.per_elem >= 1 && qb.per_elem <= 8, Status::unsupported,
                   "--gptq: ", t.name, "'s blocks do not split into per-element quant bits of one width (element ",
                   j, " has ", per[j].size(), ", element 0 ", qb.per_elem, ")");
        qb.bit.insert(qb.bit.end(), per[j].begin(), per[j].end());
    }
    return qb;
}

// Lower Cholesky factor in place (A = L L^T, upper part left as is); false if A is not
// positive definite.
bool cholesky_lower(std::vector<double>& A, size_t k) {
    for (size_t j = 0; j < k; ++j) {
        double d = A[j * k + j];
        for (size_t p = 0; p < j; ++p) d -= A[j * k + p] * A[j * k + p];
        if (!(d > 0)) return false;
        d = std::sqrt(d);
        A[j * k + j] = d;
        for (size_t i = j + 1; i < k; ++i) {
            double s = A[i * k + j];
            for (size_t p = 0; p < j; ++p) s -= A[i * k + p] * A[j * k + p];
            A[i * k + j] = s / d;
        }
    }
    return true;
}

}  // namespace

const QuantBits& quant_bits(Format f) {
    static std::mutex mu;
    static std::map<uint32_t, QuantBits> cache;
    const fmt::Traits& t = fmt::traits(f);
    VKRT_CHECK(t.quantize && t.dequantize && t.block_elems > 1, Status::unsupported, "--gptq: ", t.name,
               " has no block encoder and decoder");
    std::lock_guard<std::mutex> lock(mu);
    auto it = cache.find(uint32_t(f));
    if (it == cache.end()) it = cache.emplace(uint32_t(f), probe_quant_bits(t)).first;
    return it->second;
}

std::vector<double> gptq_factor(const float* Hin, size_t k, double damp, const std::vector<uint32_t>& perm) {
    VKRT_CHECK(perm.empty() || perm.size() == k, Status::invalid_argument, "gptq_factor: order of ", perm.size(),
               " columns for ", k);
    std::vector<float> Hp;
    const float* H = Hin;
    if (!perm.empty()) {
        Hp.resize(k * k);
        for (size_t i = 0; i < k; ++i)
            for (size_t j = 0; j < k; ++j) Hp[i * k + j] = Hin[size_t(perm[i]) * k + perm[j]];
        H = Hp.data();
    }
    double mean = 0;
    size_t live = 0;
    for (size_t j = 0; j < k; ++j)
        if (H[j * k + j] > 0) mean += H[j * k + j], ++live;
    mean = live ? mean / double(live) : 1.0;
    for (int attempt = 0;; ++attempt) {
        std::vector<double> L(k * k);
        for (size_t i = 0; i < k * k; ++i) L[i] = H[i];
        for (size_t j = 0; j < k; ++j) {
            if (!(H[j * k + j] > 0)) {  // a dead column (zero input): decoupled, error costs nothing
                for (size_t i = 0; i < k; ++i) L[j * k + i] = L[i * k + j] = 0;
                L[j * k + j] = 1;
            }
            L[j * k + j] += damp * mean;
        }
        if (!cholesky_lower(L, k)) {
            VKRT_CHECK(attempt < 6, Status::invalid_argument, "--gptq: the calibration's x x^T is not positive "
                       "definite even with ", damp, " of its mean diagonal added");
            damp *= 10;
            continue;
        }
        // Li = L^-1 (lower), then H^-1 = Li^T Li.
        std::vector<double> Li(k * k, 0.0);
        for (size_t c = 0; c < k; ++c) {
            Li[c * k + c] = 1.0 / L[c * k + c];
            for (size_t i = c + 1; i < k; ++i) {
                double s = 0;
                for (size_t p = c; p < i; ++p) s += L[i * k + p] * Li[p * k + c];
                Li[i * k + c] = -s / L[i * k + i];
            }
        }
        std::vector<double> Hi(k * k);
        for (size_t i = 0; i < k; ++i)
            for (size_t j = i; j < k; ++j) {
                double s = 0;
                for (size_t p = j; p < k; ++p) s += Li[p * k + i] * Li[p * k + j];
                Hi[i * k + j] = Hi[j * k + i] = s;
            }
        VKRT_CHECK(cholesky_lower(Hi, k), Status::invalid_argument,
                   "--gptq: the inverse of the calibration's x x^T lost positive definiteness (rounding)");
        // U = M^T where H^-1 = M M^T: U_ij = M_ji for i <= j.
        std::vector<double> U(k * k, 0.0);
        for (size_t i = 0; i < k; ++i)
            for (size_t j = i; j < k; ++j) U[i * k + j] = Hi[j * k + i];
        return U;
    }
}

std::vector<uint32_t> gptq_group_order(const float* H, size_t k, size_t block) {
    VKRT_CHECK(block > 0 && k % block == 0, Status::invalid_argument, "gptq_group_order: rows of ", k,
               " in blocks of ", block);
    const size_t gs = std::min<size_t>(32, block);
    VKRT_CHECK(block % gs == 0, Status::invalid_argument, "gptq_group_order: blocks of ", block,
               " do not split into groups of ", gs);
    auto diag = [&](uint32_t j) { return double(H[size_t(j) * k + j]); };
    auto sum_diag = [&](size_t j0, size_t n) {
        double s = 0;
        for (size_t j = j0; j < j0 + n; ++j) s += diag(uint32_t(j));
        return s;
    };
    // Blocks (their first columns) by summed H_jj, descending; ties keep file order.
    std::vector<uint32_t> blocks(k / block);
    for (size_t b = 0; b < blocks.size(); ++b) blocks[b] = uint32_t(b * block);
    std::stable_sort(blocks.begin(), blocks.end(),
                     [&](uint32_t a, uint32_t b) { return sum_diag(a, block) > sum_diag(b, block); });
    std::vector<uint32_t> perm;
    perm.reserve(k);
    for (uint32_t b0 : blocks) {
        std::vector<uint32_t> groups(block / gs);
        for (size_t g = 0; g < groups.size(); ++g) groups[g] = uint32_t(b0 + g * gs);
        std::stable_sort(groups.begin(), groups.end(),
                         [&](uint32_t a, uint32_t b) { return sum_diag(a, gs) > sum_diag(b, gs); });
        for (uint32_t g0 : groups) {
            const size_t at = perm.size();
            for (uint32_t j = g0; j < g0 + gs; ++j) perm.push_back(j);
            std::stable_sort(perm.begin() + ptrdiff_t(at), perm.end(),
                             [&](uint32_t a, uint32_t b) { return diag(a) > diag(b); });
        }
    }
    return perm;
}

GptqFactors gptq_factors(const float* H, size_t k, size_t block, double damp, bool group) {
    VKRT_CHECK(block > 0 && k % block == 0, Status::invalid_argument, "gptq_factors: rows of ", k,
               " in blocks of ", block);
    GptqFactors g;
    g.act_perm.resize(k);
    for (size_t j = 0; j < k; ++j) g.act_perm[j] = uint32_t(j);
    for (size_t b = 0; b < k; b += block)
        std::stable_sort(g.act_perm.begin() + ptrdiff_t(b), g.act_perm.begin() + ptrdiff_t(b + block),
                         [&](uint32_t i, uint32_t j) { return H[size_t(i) * k + i] > H[size_t(j) * k + j]; });
    g.natural = gptq_factor(H, k, damp);
    g.act = gptq_factor(H, k, damp, g.act_perm);
    if (group) {
        g.group_perm = gptq_group_order(H, k, block);
        g.group = gptq_factor(H, k, damp, g.group_perm);
    }
    return g;
}

double hessian_error(Format f, const float* x, const void* q, size_t k, const float* H) {
    std::vector<float> y(k);
    fmt::dequantize_row(f, q, y.data(), k);
    std::vector<double> e(k);
    for (size_t j = 0; j < k; ++j) e[j] = double(x[j]) - y[j];
    double err = 0;
    for (size_t i = 0; i < k; ++i) {
        if (e[i] == 0) continue;
        double s = 0;
        for (size_t j = 0; j < k; ++j) s += double(H[i * k + j]) * e[j];
        err += e[i] * s;
    }
    return err;
}

void quantize_row_gptq(Format f, const float* x, void* dst, size_t k, const float* imp, const float* H,
                       const GptqFactors& g) {
    const fmt::Traits& t = fmt::traits(f);
    const QuantBits& qb = quant_bits(f);
    VKRT_CHECK(t.quantize_weighted, Status::unsupported, "--gptq: ", t.name, " has no weighted encoder");
    const size_t be = t.block_elems, bb = t.block_bytes, nb = k / be, rb = nb * bb;
    VKRT_CHECK(k % be == 0, Status::invalid_argument, "quantize_row_gptq: a row of ", k, " is not a multiple of ",
               t.name, "'s block of ", be);
    const uint32_t nbit = qb.per_elem, npat = 1u << nbit;

    // The search without feedback is a candidate too: never worse than it in e^T H e.
    std::vector<uint8_t> best(rb);
    quantize_row_importance(f, x, best.data(), k, imp, H);
    double best_e = hessian_error(f, x, best.data(), k, H);

    std::vector<double> w(k);
    std::vector<float> wf(be), vals(size_t(npat) * be);
    std::vector<uint8_t> out(rb), tmp(bb);
    std::vector<uint32_t> code(be), natural(k);
    for (size_t j = 0; j < k; ++j) natural[j] = uint32_t(j);
    // Scales from each weighting through ggml's weighted encoder and, where the registry has
    // one, through the format's refined search (candidates n_weight.. of n_cand).
    const size_t n_weight = ImportanceCandidates(x, k, imp).size();
    const size_t n_cand = n_weight * (t.quantize_refined ? 2 : 1);
    std::vector<double> w0(k);  // w as the block's start found it (a refit pass restarts from it)
    std::vector<float> target(be);  // each column's compensated value when it was rounded
    const int n_orders = g.group.empty() ? 2 : 3;
    for (int refit = 0; refit < 2; ++refit)
    for (int order = 0; order < n_orders; ++order) {
        // perm[p]: the column rounded p-th (positions [pb*be, (pb+1)*be) hold one block's
        // columns: file and act order keep the blocks in file order, group order does not);
        // U in that order.
        const std::vector<uint32_t>& perm = order == 2 ? g.group_perm : order ? g.act_perm : natural;
        const double* U = order == 2 ? g.group.data() : order ? g.act.data() : g.natural.data();
        for (size_t c = 0; c < n_cand; ++c) {
            for (size_t j = 0; j < k; ++j) w[j] = x[j];
            for (size_t pb = 0; pb < nb; ++pb) {
                const size_t p0 = pb * be, j0 = perm[p0] / be * be;  // positions p0.., the block's columns j0..
                uint8_t* blk = out.data() + j0 / be * bb;
                // The columns rounded so far do not move again: saving (and restoring) all of w
                // is saving the ones left.
                if (refit) w0 = w;
                for (int pass = 0; pass <= refit; ++pass) {
                    // The block's scales: first from its columns as the feedback so far left them;
                    // a refit pass instead fits them to the values the columns had when the first
                    // pass rounded them (the feedback inside the block moves its later columns, most
                    // in a 256-element super-block), and rounds the block again from its start.
                    if (pass) {
                        w = w0;
                        wf = target;
                    } else {
                        for (size_t i = 0; i < be; ++i) wf[i] = float(w[j0 + i]);
                    }
                    const ImportanceCandidates cand(wf.data(), be, imp + j0);
                    (c < n_weight ? t.quantize_weighted : t.quantize_refined)(wf.data(), blk, be, cand[c % n_weight]);
                    // vals (npat, be): each element's value for every pattern of its quant bits.
                    for (uint32_t p = 0; p < npat; ++p) {
                        std::memcpy(tmp.data(), blk, bb);
                        for (size_t i = 0; i < be; ++i)
                            for (uint32_t s = 0; s < nbit; ++s)
                                set_bit(tmp.data(), qb.bit[i * nbit + s], (p >> s) & 1);
                        t.dequantize(tmp.data(), vals.data() + size_t(p) * be, be);
                    }
                    for (size_t pos = p0; pos < p0 + be; ++pos) {
                        const size_t j = perm[pos], i = j - j0;
                        target[i] = float(w[j]);
                        uint32_t bp = 0;
                        for (uint32_t s = 0; s < nbit; ++s) bp |= uint32_t(get_bit(blk, qb.bit[i * nbit + s])) << s;
                        double bd = INFINITY;
                        for (uint32_t p = 0; p < npat; ++p) {
                            const double v = vals[size_t(p) * be + i];
                            if (!std::isfinite(v)) continue;
                            const double d = std::fabs(v - w[j]);
                            if (d < bd) bd = d, bp = p;
                        }
                        code[i] = bp;
                        const double err = (w[j] - vals[size_t(bp) * be + i]) / U[pos * k + pos];
                        const double* u = U + pos * k;
                        for (size_t m = pos + 1; m < k; ++m) w[perm[m]] -= err * u[m];
                    }
                    for (size_t i = 0; i < be; ++i)
                        for (uint32_t s = 0; s < nbit; ++s) set_bit(blk, qb.bit[i * nbit + s], (code[i] >> s) & 1);
                }
            }
            const double e = hessian_error(f, x, out.data(), k, H);
            if (e < best_e) best_e = e, best = out;
        }
    }
    std::memcpy(dst, best.data(), rb);
}

}  // namespace vkrt::quant
