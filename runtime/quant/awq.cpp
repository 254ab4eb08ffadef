#include "quant/awq.hpp"

#include <algorithm>
#include <cmath>

#include "arch/arch.hpp"
#include "core/error.hpp"
#include "quant/gptq.hpp"
#include "quant/scale_search.hpp"

namespace vkrt::quant {

using arch::Role;
using arch::Site;

std::vector<float> awq_factors(const std::vector<float>& imp, double alpha) {
    std::vector<float> s(imp.size(), 1.0f);
    if (alpha <= 0) return s;
    double lo = INFINITY, hi = 0;
    for (size_t j = 0; j < imp.size(); ++j) {
        if (!(imp[j] > 0)) continue;
        const double v = std::pow(double(imp[j]), alpha / 2);
        s[j] = float(v);
        lo = std::min(lo, v);
        hi = std::max(hi, v);
    }
    if (!(hi > 0)) return std::vector<float>(imp.size(), 1.0f);
    // Centre the factors on 1 (AWQ's normalization): only their ratios matter for the fold,
    // and centred factors keep the norm weights and columns near their magnitudes.
    const double c = std::sqrt(lo * hi);
    for (size_t j = 0; j < imp.size(); ++j)
        if (imp[j] > 0) s[j] = float(std::clamp(double(s[j]) / c, 1e-4, 1e4));
    return s;
}

namespace {

// One linear reading the site: its GGUF name, target format, x x^T and mean x^2, and its
// parts' float matrices (a fused tensor's rows are its parts' rows; each (rows, K)).
struct Consumer {
    std::string name;
    Format type;
    std::vector<std::vector<float>*> parts;
    const std::vector<float>* H = nullptr;
    const std::vector<float>* imp = nullptr;
};

// What divides a site's channel j by s_j: the shared block's producer of each input
// (arch.hpp's diagram). elems: vectors whose element j is divided (a norm weight, a bias);
// rows: matrices whose row j is divided. Both are over the producer's channels (for attn_out
// the KV channels, which the consumer's columns map onto).
struct Producer {
    std::vector<Role> elems, rows;
};
Producer producer(Site s) {
    switch (s) {
        case Site::attn_in: return {{Role::attn_norm}, {}};
        case Site::ffn_in: return {{Role::ffn_norm}, {}};
        case Site::attn_out: return {{Role::attn_v_bias}, {Role::attn_v}};
        case Site::ffn_down_in: return {{}, {Role::ffn_up}};
    }
    fail(Status::internal, "AWQ: site ", unsigned(s), " has no producer");
}

// The consumer's column j -> the producer's channel. attn_out: column h*hd + d of the q heads'
// concatenation reads KV head h / (n_head / n_head_kv), channel d; elsewhere the identity.
std::vector<uint32_t> column_channel(const ref::RefConfig& cfg, Site s, size_t K) {
    std::vector<uint32_t> m(K);
    if (s != Site::attn_out) {
        for (size_t j = 0; j < K; ++j) m[j] = uint32_t(j);
        return m;
    }
    const uint32_t hd = cfg.hd(), g = cfg.n_head / cfg.n_head_kv;
    for (size_t j = 0; j < K; ++j) m[j] = uint32_t(j / hd / g * hd + j % hd);
    return m;
}

// H' = diag(1/s) H diag(1/s) (K,K) and imp' = imp / s^2 for column factors sc (K).
std::vector<float> scale_hessian(const std::vector<float>& H, const std::vector<float>& sc) {
    const size_t K = sc.size();
    std::vector<float> out(K * K);
    for (size_t i = 0; i < K; ++i)
        for (size_t j = 0; j < K; ++j) out[i * K + j] = float(double(H[i * K + j]) / (double(sc[i]) * sc[j]));
    return out;
}
std::vector<float> scale_importance(const std::vector<float>& imp, const std::vector<float>& sc) {
    std::vector<float> out(imp.size());
    for (size_t j = 0; j < imp.size(); ++j) out[j] = float(double(imp[j]) / (double(sc[j]) * sc[j]));
    return out;
}

// sum over c's rows of e'^T H' e' for the columns scaled by sc (the objective of awq.hpp).
double consumer_error(const Consumer& c, const std::vector<float>& sc, const AwqOptions& opt) {
    const size_t K = sc.size();
    if (fmt::traits(c.type).block_elems <= 1) return 0;  // F16 / BF16: no scales to fit
    const std::vector<float> Hs = scale_hessian(*c.H, sc), imps = scale_importance(*c.imp, sc);
    std::vector<const float*> rows;
    for (const std::vector<float>* p : c.parts)
        for (size_t r = 0; r < p->size() / K; ++r) rows.push_back(p->data() + r * K);
    std::vector<double> err(rows.size(), 0.0);
    auto run = [&](uint64_t a, uint64_t b) {
        std::vector<float> x(K);
        std::vector<uint8_t> q(fmt::row_bytes(c.type, K));
        for (uint64_t r = a; r < b; ++r) {
            for (size_t j = 0; j < K; ++j) x[j] = rows[r][j] * sc[j];
            quantize_row_importance(c.type, x.data(), q.data(), K, imps.data(), Hs.data());
            err[r] = hessian_error(c.type, x.data(), q.data(), K, Hs.data());
        }
    };
    if (opt.parallel)
        opt.parallel(rows.size(), run);
    else
        run(0, rows.size());
    double sum = 0;
    for (double e : err) sum += e;
    return sum;
}

}  // namespace

std::vector<AwqSite> apply_awq(const ref::RefConfig& cfg, ref::RefWeights& w,
                               const std::function<Format(const std::string&)>& type_of, AwqImportance& importance,
                               AwqHessians& hessians, const AwqOptions& opt) {
    VKRT_CHECK(cfg.n_head_kv > 0 && cfg.n_head % cfg.n_head_kv == 0, Status::unsupported, "AWQ: ", cfg.n_head,
               " q heads do not group over ", cfg.n_head_kv, " KV heads");
    const std::vector<arch::TensorDesc> table = arch::tensor_table(cfg);
    std::vector<AwqSite> out;
    for (uint32_t l = 0; l < cfg.n_layer; ++l) {
        for (size_t si = 0; si < arch::kSites; ++si) {
            const Site site = Site(si);
            if (opt.progress) opt.progress(l * arch::kSites + si, cfg.n_layer * arch::kSites);
            std::vector<Consumer> cons;
            for (const arch::TensorDesc& d : table) {
                if (d.kind != arch::Kind::linear || d.layer != int(l) || d.site != site) continue;
                Consumer c{d.name, type_of(d.name), {}, nullptr, nullptr};
                for (Role r : d.parts) c.parts.push_back(&w.at(r, int(l)));
                auto h = hessians.find(d.name);
                auto im = importance.find(d.name);
                VKRT_CHECK(h != hessians.end() && h->second && im != importance.end(), Status::invalid_argument,
                           "--awq needs the mean x x^T of '", d.name, "''s input: calibrate (--scales imatrix) or "
                           "give an --imatrix written by vkrt-quantize --imatrix-out (llama-imatrix's files hold "
                           "only mean x^2)");
                c.H = h->second.get();
                c.imp = &im->second;
                cons.push_back(std::move(c));
            }
            if (cons.empty()) continue;
            const size_t K = cons[0].imp->size();
            for (const Consumer& c : cons)
                VKRT_CHECK(c.imp->size() == K && c.H->size() == K * K, Status::invalid_argument, "AWQ: '", c.name,
                           "' has statistics of ", c.imp->size(), " columns, its site ", K);

            // The producer's channels and their statistics (attn_out: each KV channel's mean over
            // the columns of its group's q heads).
            const std::vector<uint32_t> chan = column_channel(cfg, site, K);
            const size_t P = size_t(*std::max_element(chan.begin(), chan.end())) + 1;
            const Producer prod = producer(site);
            for (Role r : prod.rows) {
                const std::vector<float>& m = w.at(r, int(l));
                VKRT_CHECK(!m.empty() && m.size() % P == 0 && m.size() / P == cfg.n_embd, Status::unsupported,
                           "AWQ: layer ", l, "'s ", arch::role_name(r), " is not (", P, " rows of ", cfg.n_embd,
                           "): the ", arch::site_name(site), " fold would not be exact");
            }
            for (Role r : prod.elems) {
                const std::vector<float>& v = w.at(r, int(l));
                VKRT_CHECK(r == Role::attn_v_bias ? v.empty() || v.size() == P : v.size() == P, Status::unsupported,
                           "AWQ: layer ", l, "'s ", arch::role_name(r), " has ", v.size(), " weights for ", P,
                           " channels: the ", arch::site_name(site), " fold would not be exact");
            }
            std::vector<float> pimp(P, 0.0f), pn(P, 0.0f);
            for (size_t j = 0; j < K; ++j) {
                pimp[chan[j]] += (*cons[0].imp)[j];
                pn[chan[j]] += 1;
            }
            for (size_t c = 0; c < P; ++c) pimp[c] /= std::max(1.0f, pn[c]);

            auto columns = [&](const std::vector<float>& sp) {
                std::vector<float> sc(K);
                for (size_t j = 0; j < K; ++j) sc[j] = sp[chan[j]];
                return sc;
            };
            auto site_error = [&](const std::vector<float>& sp) {
                const std::vector<float> sc = columns(sp);
                double e = 0;
                for (const Consumer& c : cons) e += consumer_error(c, sc, opt);
                return e;
            };
            AwqSite rep{l, site, 0, 0, 0, {}};
            rep.err_before = rep.err_after = site_error(std::vector<float>(P, 1.0f));
            std::vector<float> best(P, 1.0f);
            for (double a : opt.alphas) {
                if (!(a > 0)) continue;
                std::vector<float> sp = awq_factors(pimp, a);
                const double e = site_error(sp);
                if (e < rep.err_after) {
                    rep.err_after = e;
                    rep.alpha = a;
                    best = std::move(sp);
                }
            }
            if (rep.alpha > 0) rep.scales = best;
            out.push_back(rep);
            if (rep.alpha == 0) continue;

            // The fold: producer / s, consumer columns * s, statistics of the scaled inputs.
            const std::vector<float> sc = columns(best);
            for (Role r : prod.elems)
                for (size_t c = 0; c < w.at(r, int(l)).size(); ++c) w.at(r, int(l))[c] /= best[c];
            for (Role r : prod.rows) {
                std::vector<float>& m = w.at(r, int(l));
                const size_t E = m.size() / P;
                for (size_t c = 0; c < P; ++c)
                    for (size_t j = 0; j < E; ++j) m[c * E + j] /= best[c];
            }
            for (Consumer& c : cons) {
                for (std::vector<float>* p : c.parts)
                    for (size_t r = 0; r < p->size() / K; ++r)
                        for (size_t j = 0; j < K; ++j) (*p)[r * K + j] *= sc[j];
                hessians[c.name] = std::make_shared<const std::vector<float>>(scale_hessian(*c.H, sc));
                importance[c.name] = scale_importance(*c.imp, sc);
            }
        }
    }
    return out;
}

}  // namespace vkrt::quant
