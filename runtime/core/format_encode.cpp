// The format registry's encoders (see format.hpp): float rows -> ggml's block bytes.
//
// Two entry points per block format, both named in the registry (format.cpp):
//   encode_<fmt>(x, y, k)                 ggml's quantize_row_<fmt>_ref, byte for byte
//                                         (tests/test_quant_encoders.cpp checks digests of
//                                         ggml's own output, scripts/ggml_quant_digests.*);
//   encode_<fmt>_w(x, y, k, weights)      ggml's quantize_<fmt>(row, weights), the function
//                                         llama-quantize calls: weights == nullptr gives
//                                         llama-quantize's bytes without an importance matrix
//                                         (the _ref bytes, except IQ4_NL, whose chunk
//                                         quantizer searches its scale and the _ref does not);
//                                         weights = one importance per column (the row's k
//                                         entries) gives its importance-weighted scale search.
// Every function follows ggml-quants.c operation by operation (the same float operations in
// the same order, int operands converted as C converts them), because the point is equal
// bytes: a different summation order moves a rounding and flips a quant. The search
// helpers keep ggml's names (make_qx_quants, ...) so a reader can hold them side by side.
#include "core/format_encode.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "core/fp16.hpp"
#include "core/quant.hpp"

namespace vkrt::fmt::enc {

namespace {

constexpr int kQK = 32;    // elements per block of Q4_0..Q8_0 and IQ4_NL
constexpr int kQKK = 256;  // elements per super-block of the K and IQ4_XS formats
constexpr float kGroupMaxEps = 1e-15f;  // ggml's GROUP_MAX_EPS: a group below it is all zero

// IQ4_NL / IQ4_XS codebook (ggml-common.h kvalues_iq4nl).
constexpr int8_t kIQ4NL[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

inline void put16(uint8_t* p, uint16_t v) {
    p[0] = uint8_t(v);
    p[1] = uint8_t(v >> 8);
}
inline void put_f16(uint8_t* p, float f) { put16(p, fp32_to_fp16(f)); }
inline float rt_f16(const uint8_t* p) { return fp16_to_fp32(uint16_t(p[0] | (p[1] << 8))); }

// ggml's nearest_int: round to nearest, ties to even, through the 1.5 * 2^23 trick (exact for
// |f| <= 2^22, which every caller guarantees by construction).
inline int nearest_int(float f) {
    const float v = f + 12582912.f;
    int32_t i;
    std::memcpy(&i, &v, 4);
    return (i & 0x007fffff) - 0x00400000;
}
inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

// C's float -> int8_t / uint8_t conversion as x86-64 gcc does it for ggml's `(int8_t)(x + 8.5f)`:
// through int32 (the values here are in range; NaN/inf input gives what cvttss2si gives).
inline int8_t to_i8(float f) { return int8_t(std::isfinite(f) ? int32_t(f) : INT32_MIN); }
inline uint8_t to_u8(float f) { return uint8_t(std::isfinite(f) ? int32_t(f) : INT32_MIN); }

// ---- ggml's scale searches (ggml-quants.c), same names ----

// The element of largest magnitude, with its sign (the first of equal magnitudes), as
// ggml's symmetric searches start from.
static float signed_max(int n, const float* x) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; ++i) {
        const float ax = std::fabs(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    return max;
}

// Symmetric: L[i] in [0, 2*nmax) with x ~ scale * (L - nmax). rmse_type 1 weights by x^2 (or qw),
// and tries 18 scales around nmax/max keeping the weighted-least-squares best.
float make_qx_quants(int n, int nmax, const float* x, int8_t* L, int rmse_type, const float* qw) {
    const float max = signed_max(n, x);
    if (std::fabs(max) < kGroupMaxEps) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.f;
    }
    float iscale = -float(nmax) / max;
    if (rmse_type == 0) {
        for (int i = 0; i < n; ++i) L[i] = int8_t(nmax + clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1));
        return 1 / iscale;
    }
    bool return_early = false;
    if (rmse_type < 0) {
        rmse_type = -rmse_type;
        return_early = true;
    }
    auto weight = [&](int i) -> float {
        return qw ? qw[i]
                  : rmse_type == 1 ? x[i] * x[i]
                  : rmse_type == 2 ? 1.f
                  : rmse_type == 3 ? std::fabs(x[i])
                                   : std::sqrt(std::fabs(x[i]));
    };
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        const int l = clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = int8_t(l + nmax);
        const float w = weight(i);
        sumlx += w * x[i] * float(l);
        suml2 += w * float(l) * float(l);
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    if (return_early) return suml2 > 0 ? 0.5f * (scale + 1 / iscale) : 1 / iscale;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) continue;
        iscale = -(float(nmax) + 0.1f * float(is)) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; ++i) {
            const int l = clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1);
            const float w = weight(i);
            sumlx += w * x[i] * float(l);
            suml2 += w * float(l) * float(l);
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; ++i) L[i] = int8_t(nmax + clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

// Q3_K's symmetric search: start at nmax/max, then move single quants while the x^2-weighted
// fit improves (up to 5 passes). L[i] in [0, 2*nmax).
float make_q3_quants(int n, int nmax, const float* x, int8_t* L, bool do_rmse) {
    const float max = signed_max(n, x);
    if (std::fabs(max) < kGroupMaxEps) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.f;
    }
    const float iscale = -float(nmax) / max;
    if (do_rmse) {
        float sumlx = 0, suml2 = 0;
        for (int i = 0; i < n; ++i) {
            const int l = clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1);
            L[i] = int8_t(l);
            const float w = x[i] * x[i];
            sumlx += w * x[i] * float(l);
            suml2 += w * float(l) * float(l);
        }
        for (int itry = 0; itry < 5; ++itry) {
            int n_changed = 0;
            for (int i = 0; i < n; ++i) {
                const float w = x[i] * x[i];
                float slx = sumlx - w * x[i] * float(L[i]);
                if (slx > 0) {
                    float sl2 = suml2 - w * float(L[i]) * float(L[i]);
                    const int new_l = clampi(nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
                    if (new_l != L[i]) {
                        slx += w * x[i] * float(new_l);
                        sl2 += w * float(new_l) * float(new_l);
                        if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                            L[i] = int8_t(new_l);
                            sumlx = slx;
                            suml2 = sl2;
                            ++n_changed;
                        }
                    }
                }
            }
            if (!n_changed) break;
        }
        for (int i = 0; i < n; ++i) L[i] = int8_t(L[i] + nmax);
        return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
    }
    for (int i = 0; i < n; ++i) L[i] = int8_t(clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1) + nmax);
    return 1 / iscale;
}

// Scale and min (x ~ scale * L - the_min, L in [0, nmax]): min-max start, then nstep+1 trial
// scales (rmin + rdelta*is + nmax)/(max - min), each with its weighted least-squares scale and
// min, keeping the least weighted error (|diff| with use_mad). make_qkx2 takes the weights as
// given; make_qkx3 (the imatrix path) defaults them to x^2 and treats max <= min as flat.
template <bool kX3>
float make_qkx_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min,
                      uint8_t* Laux, float rmin, float rdelta, int nstep, bool use_mad) {
    auto wt = [&](int i) -> float { return (!kX3 || weights) ? weights[i] : x[i] * x[i]; };
    float min = x[0], max = x[0];
    float sum_w = wt(0);
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        const float w = wt(i);
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (kX3 ? max <= min : max == min) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        *the_min = -min;
        return 0.f;
    }
    float iscale = float(nmax) / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; ++i) {
        const int l = nearest_int(iscale * (x[i] - min));
        L[i] = uint8_t(clampi(l, 0, nmax));
        float diff = scale * float(L[i]) + min - x[i];
        diff = use_mad ? std::fabs(diff) : diff * diff;
        best_error += wt(i) * diff;
    }
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    for (int is = 0; is <= nstep; ++is) {
        iscale = (rmin + rdelta * float(is) + float(nmax)) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            const int l = clampi(nearest_int(iscale * (x[i] - min)), 0, nmax);
            Laux[i] = uint8_t(l);
            const float w = wt(i);
            sum_l += w * float(l);
            sum_l2 += w * float(l) * float(l);
            sum_xl += w * float(l) * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; ++i) {
                float diff = this_scale * float(Laux[i]) + this_min - x[i];
                diff = use_mad ? std::fabs(diff) : diff * diff;
                cur_error += wt(i) * diff;
            }
            if (cur_error < best_error) {
                for (int i = 0; i < n; ++i) L[i] = Laux[i];
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

// Positive-only scale for a super-block's sub-block scales (imatrix path): L[i] in [0, nmax].
float make_qp_quants(int n, int nmax, const float* x, uint8_t* L, const float* quant_weights) {
    float max = 0;
    for (int i = 0; i < n; ++i) max = std::max(max, x[i]);
    if (max < kGroupMaxEps) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.f;
    }
    float iscale = float(nmax) / max;
    for (int i = 0; i < n; ++i) L[i] = uint8_t(nearest_int(iscale * x[i]));
    const float scale = 1 / iscale;
    float best_mse = 0;
    for (int i = 0; i < n; ++i) {
        const float diff = x[i] - scale * float(L[i]);
        best_mse += quant_weights[i] * diff * diff;
    }
    for (int is = -4; is <= 4; ++is) {
        if (is == 0) continue;
        const float iscale_is = (0.1f * float(is) + float(nmax)) / max;
        const float scale_is = 1 / iscale_is;
        float mse = 0;
        for (int i = 0; i < n; ++i) {
            const int l = std::min(nmax, nearest_int(iscale_is * x[i]));
            const float diff = x[i] - scale_is * float(l);
            mse += quant_weights[i] * diff * diff;
        }
        if (mse < best_mse) {
            best_mse = mse;
            iscale = iscale_is;
        }
    }
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        const int l = std::min(nmax, nearest_int(iscale * x[i]));
        L[i] = uint8_t(l);
        const float w = quant_weights[i];
        sumlx += w * x[i] * float(l);
        suml2 += w * float(l) * float(l);
    }
    for (int itry = 0; itry < 5; ++itry) {
        int n_changed = 0;
        for (int i = 0; i < n; ++i) {
            const float w = quant_weights[i];
            float slx = sumlx - w * x[i] * float(L[i]);
            float sl2 = suml2 - w * float(L[i]) * float(L[i]);
            if (slx > 0 && sl2 > 0) {
                const int new_l = std::min(nmax, nearest_int(x[i] * sl2 / slx));
                if (new_l != L[i]) {
                    slx += w * x[i] * float(new_l);
                    sl2 += w * float(new_l) * float(new_l);
                    if (slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = uint8_t(new_l);
                        sumlx = slx;
                        suml2 = sl2;
                        ++n_changed;
                    }
                }
            }
        }
        if (!n_changed) break;
    }
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// Packs the 8 (scale, min) 6-bit pairs of Q4_K / Q5_K into scales[12] (inverse of scale_min_k4).
inline void pack_scale_min_k4(const uint8_t* ls, const uint8_t* lm, uint8_t* s) {
    for (int j = 0; j < 8; ++j) {
        if (j < 4) {
            s[j] = ls[j];
            s[j + 4] = lm[j];
        } else {
            s[j + 4] = uint8_t((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
            s[j - 4] |= uint8_t((ls[j] >> 4) << 6);
            s[j] |= uint8_t((lm[j] >> 4) << 6);
        }
    }
}
// Packs Q3_K's 16 6-bit scales (biased by 32) into scales[12]: low nibbles in bytes 0..7,
// the high 2 bits of scale j at bits 2*(j/4) of byte 8 + j%4.
inline void pack_scales_q3_k(const int* l6, uint8_t* s) {
    std::memset(s, 0, 12);
    for (int j = 0; j < 16; ++j) {
        int l = l6[j];
        if (j < 8)
            s[j] = uint8_t(l & 0xF);
        else
            s[j - 8] |= uint8_t((l & 0xF) << 4);
        l >>= 4;
        s[j % 4 + 8] |= uint8_t(l << (2 * (j / 4)));
    }
}
inline int scale_q3_k(const uint8_t* s, int j) {
    const int lo = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
    return int8_t((lo | (((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32);
}

// The 2-bit quants of a Q2_K / Q3_K super-block: byte l of each 32-byte run holds elements
// l, l+32, l+64, l+96 of its 128-element half in bits 0-1, 2-3, 4-5, 6-7.
inline void pack_2bit(const uint8_t* L, uint8_t* qs) {
    for (int j = 0; j < kQKK; j += 128)
        for (int l = 0; l < 32; ++l)
            qs[j / 4 + l] = uint8_t(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
}

// Sum of x^2 over n elements, in ggml's order.
inline float sum_sq(const float* x, int64_t n) {
    float s = 0;
    for (int64_t j = 0; j < n; ++j) s += x[j] * x[j];
    return s;
}

// The Q5 5th bits of a 32-element block: bit j of qh = bit 4 of element j; qs as Q4_0's nibbles.
inline void pack_q5(const uint8_t* L, uint8_t* qh_out, uint8_t* qs) {
    uint32_t qh = 0;
    for (int j = 0; j < kQK / 2; ++j) {
        const uint8_t xi0 = L[j], xi1 = L[j + kQK / 2];
        qs[j] = uint8_t((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
        qh |= ((xi0 & 0x10u) >> 4) << (j + 0);
        qh |= ((xi1 & 0x10u) >> 4) << (j + kQK / 2);
    }
    std::memcpy(qh_out, &qh, 4);
}

// ---- IQ4_NL / IQ4_XS: ggml's quantize_row_iq4_nl_impl ----

inline int best_index_int8(int n, const int8_t* val, float x) {
    if (x <= val[0]) return 0;
    if (x >= val[n - 1]) return n - 1;
    int ml = 0, mu = n - 1;
    while (mu - ml > 1) {
        const int mav = (ml + mu) / 2;
        if (x < val[mav])
            mu = mav;
        else
            ml = mav;
    }
    return x - val[mu - 1] < val[mu] - x ? mu - 1 : mu;
}

// One super-block of super_block_size elements in groups of 32. IQ4_NL (super_block_size 32):
// dh = d, q4 = 16 bytes; IQ4_XS (256): dh, scales_h, scales_l, q4 = 128 bytes. ntry > 0 searches
// 2*ntry+1 scales around max/values[0]; ggml's _ref for IQ4_NL passes -1 (no search, and the
// opposite sign of the start scale, which the requantization makes harmless).
void iq4_impl(int super_block_size, const float* x, uint8_t* dh, uint8_t* q4, uint8_t* scales_h,
              uint8_t* scales_l, const float* quant_weights, int ntry) {
    constexpr int block_size = 32;
    float scales[kQKK / 32];
    float weight[32];
    uint8_t L[kQKK];
    float sigma2 = 0;
    for (int j = 0; j < super_block_size; ++j) sigma2 += x[j] * x[j];
    sigma2 *= 2.f / float(super_block_size);

    std::memset(q4, 0, size_t(super_block_size / 2));
    put_f16(dh, 0.f);

    float max_scale = 0, amax_scale = 0;
    for (int ib = 0; ib < super_block_size / block_size; ++ib) {
        const float* xb = x + ib * block_size;
        uint8_t* Lb = L + ib * block_size;
        if (quant_weights) {
            const float* qw = quant_weights + ib * block_size;
            for (int j = 0; j < block_size; ++j) weight[j] = qw[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
        } else {
            for (int j = 0; j < block_size; ++j) weight[j] = xb[j] * xb[j];
        }
        float amax = 0, max = 0;
        for (int j = 0; j < block_size; ++j) {
            const float ax = std::fabs(xb[j]);
            if (ax > amax) {
                amax = ax;
                max = xb[j];
            }
        }
        if (amax < kGroupMaxEps) {
            scales[ib] = 0;
            continue;
        }
        float d = ntry > 0 ? -max / float(kIQ4NL[0]) : max / float(kIQ4NL[0]);
        float id = 1 / d;
        float sumqx = 0, sumq2 = 0;
        for (int j = 0; j < block_size; ++j) {
            const int l = best_index_int8(16, kIQ4NL, id * xb[j]);
            Lb[j] = uint8_t(l);
            const float q = float(kIQ4NL[l]);
            const float w = weight[j];
            sumqx += w * q * xb[j];
            sumq2 += w * q * q;
        }
        d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
        float best = d * sumqx;
        for (int itry = -ntry; itry <= ntry; ++itry) {
            id = (float(itry) + float(kIQ4NL[0])) / max;
            sumqx = sumq2 = 0;
            for (int j = 0; j < block_size; ++j) {
                const int l = best_index_int8(16, kIQ4NL, id * xb[j]);
                const float q = float(kIQ4NL[l]);
                const float w = weight[j];
                sumqx += w * q * xb[j];
                sumq2 += w * q * q;
            }
            if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                d = sumqx / sumq2;
                best = d * sumqx;
            }
        }
        scales[ib] = d;
        const float abs_d = std::fabs(d);
        if (abs_d > amax_scale) {
            amax_scale = abs_d;
            max_scale = d;
        }
    }

    if (super_block_size / block_size > 1) {
        uint16_t sh = 0;
        const float d = -max_scale / 32;
        put_f16(dh, d);
        const float id = d ? 1 / d : 0.f;
        for (int ib = 0; ib < super_block_size / block_size; ++ib) {
            int l = clampi(nearest_int(id * scales[ib]), -32, 31);
            const float dl = d * float(l);
            const float idl = dl ? 1 / dl : 0.f;
            uint8_t* Lb = L + ib * block_size;
            const float* xb = x + ib * block_size;
            for (int j = 0; j < block_size; ++j) Lb[j] = uint8_t(best_index_int8(16, kIQ4NL, idl * xb[j]));
            l += 32;
            const uint8_t l_l = uint8_t(l & 0xf), l_h = uint8_t(l >> 4);
            if (ib % 2 == 0)
                scales_l[ib / 2] = l_l;
            else
                scales_l[ib / 2] |= uint8_t(l_l << 4);
            sh = uint16_t(sh | (l_h << 2 * (ib % 8)));
        }
        put16(scales_h, sh);
    } else {
        put_f16(dh, scales[0]);
        if (ntry > 0) {
            const float id = scales[0] ? 1 / scales[0] : 0;
            for (int j = 0; j < super_block_size; ++j) L[j] = uint8_t(best_index_int8(16, kIQ4NL, id * x[j]));
        }
    }
    for (int i = 0; i < super_block_size / 32; ++i)
        for (int j = 0; j < 16; ++j) q4[16 * i + j] = uint8_t(L[32 * i + j] | (L[32 * i + 16 + j] << 4));
}

}  // namespace

// ===================== _ref encoders (ggml's quantize_row_*_ref) =====================

namespace {
// Q4_1 / Q5_1's block scale: d = (max - min) / levels, m = min, both stored as fp16 at y, y + 2;
// returns 1/d (0 for a flat block).
float min_max_scale(const float* x, int levels, uint8_t* y, float& min) {
    min = FLT_MAX;
    float max = -FLT_MAX;
    for (int j = 0; j < kQK; ++j) {
        if (x[j] < min) min = x[j];
        if (x[j] > max) max = x[j];
    }
    const float d = (max - min) / float(levels);
    put_f16(y, d);
    put_f16(y + 2, min);
    return d ? 1.0f / d : 0.0f;
}
}  // namespace

// Q4_1 (20 B): d = (max - min)/15, m = min, q = min(15, (int8)((x - min)/d + 0.5)).
void q4_1(const float* x, void* vy, size_t k) {
    uint8_t* y = static_cast<uint8_t*>(vy);
    for (size_t i = 0; i < k / kQK; ++i, x += kQK, y += 20) {
        float min;
        const float id = min_max_scale(x, 15, y, min);
        for (int j = 0; j < kQK / 2; ++j) {
            const uint8_t xi0 = uint8_t(std::min<int>(15, to_i8((x[j] - min) * id + 0.5f)));
            const uint8_t xi1 = uint8_t(std::min<int>(15, to_i8((x[kQK / 2 + j] - min) * id + 0.5f)));
            y[4 + j] = uint8_t(xi0 | (xi1 << 4));
        }
    }
}

// Q5_0 (22 B): the signed max over -16, q = min(31, (int8)(x/d + 16.5)).
void q5_0(const float* x, void* vy, size_t k) {
    uint8_t* y = static_cast<uint8_t*>(vy);
    for (size_t i = 0; i < k / kQK; ++i, x += kQK, y += 22) {
        float amax = 0, max = 0;
        for (int j = 0; j < kQK; ++j)
            if (amax < std::fabs(x[j])) {
                amax = std::fabs(x[j]);
                max = x[j];
            }
        const float d = max / -16;
        const float id = d ? 1.0f / d : 0.0f;
        put_f16(y, d);
        uint8_t L[kQK];
        for (int j = 0; j < kQK; ++j) L[j] = uint8_t(std::min<int>(31, to_i8(x[j] * id + 16.5f)));
        pack_q5(L, y + 2, y + 6);
    }
}

// Q5_1 (24 B): d = (max - min)/31, m = min, q = (uint8)((x - min)/d + 0.5).
void q5_1(const float* x, void* vy, size_t k) {
    uint8_t* y = static_cast<uint8_t*>(vy);
    for (size_t i = 0; i < k / kQK; ++i, x += kQK, y += 24) {
        float min;
        const float id = min_max_scale(x, 31, y, min);
        uint8_t L[kQK];
        for (int j = 0; j < kQK; ++j) L[j] = to_u8((x[j] - min) * id + 0.5f);
        pack_q5(L, y + 4, y + 8);
    }
}

// Q2_K (84 B): scales[16] | qs[64] | d | dmin. Each group of 16 gets a scale and min from
// make_qkx2_quants (|x| weights, 4 levels), quantized to 4 bits against the largest.
void q2_k(const float* x, void* vy, size_t k) {
    uint8_t* y = static_cast<uint8_t*>(vy);
    uint8_t L[kQKK], Laux[16];
    float weights[16], mins[16], scales[16];
    const float q4scale = 15.f;
    for (size_t i = 0; i < k / kQKK; ++i, x += kQKK, y += 84) {
        uint8_t* sc = y;
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < 16; ++j) {
            for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
            scales[j] = make_qkx_quants<false>(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15,
                                               true);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        if (max_scale > 0) {
            const float iscale = q4scale / max_scale;
            for (int j = 0; j < 16; ++j) sc[j] = uint8_t(nearest_int(iscale * scales[j]));
            put_f16(y + 80, max_scale / q4scale);
        } else {
            for (int j = 0; j < 16; ++j) sc[j] = 0;
            put_f16(y + 80, 0.f);
        }
        if (max_min > 0) {
            const float iscale = q4scale / max_min;
            for (int j = 0; j < 16; ++j) sc[j] = uint8_t(sc[j] | (nearest_int(iscale * mins[j]) << 4));
            put_f16(y + 82, max_min / q4scale);
        } else {
            put_f16(y + 82, 0.f);
        }
        for (int j = 0; j < 16; ++j) {
            const float d = rt_f16(y + 80) * float(sc[j] & 0xF);
            if (!d) continue;
            const float dm = rt_f16(y + 82) * float(sc[j] >> 4);
            for (int ii = 0; ii < 16; ++ii) L[16 * j + ii] = uint8_t(clampi(nearest_int((x[16 * j + ii] + dm) / d), 0, 3));
        }
        pack_2bit(L, y + 16);
    }
}

namespace {
// Q3_K's tail shared by the _ref and weighted encoders: requantize each group of 16 with its
// stored 6-bit scale, then split the 3-bit quants into hmask (bit 2) and qs (bits 0-1).
void q3_k_finish(const float* x, uint8_t* y, int8_t* L) {
    const float d_all = rt_f16(y + 108);
    for (int j = 0; j < 16; ++j) {
        const float d = d_all * float(scale_q3_k(y + 96, j));
        if (!d) continue;
        for (int ii = 0; ii < 16; ++ii) L[16 * j + ii] = int8_t(clampi(nearest_int(x[16 * j + ii] / d), -4, 3) + 4);
    }
    uint8_t* hmask = y;
    std::memset(hmask, 0, 32);
    int m = 0;
    uint8_t hm = 1;
    for (int j = 0; j < kQKK; ++j) {
        if (L[j] > 3) {
            hmask[m] |= hm;
            L[j] = int8_t(L[j] - 4);
        }
        if (++m == kQKK / 8) {
            m = 0;
            hm = uint8_t(hm << 1);
        }
    }
    pack_2bit(reinterpret_cast<const uint8_t*>(L), y + 32);
}
}  // namespace

// Q3_K (110 B): hmask[32] | qs[64] | scales[12] | d. Groups of 16 with make_q3_quants, their
// scales quantized to signed 6 bits against the largest.
void q3_k(const float* x, void* vy, size_t k) {
    uint8_t* y = static_cast<uint8_t*>(vy);
    int8_t L[kQKK];
    float scales[16];
    for (size_t i = 0; i < k / kQKK; ++i, x += kQKK, y += 110) {
        float max_scale = 0, amax = 0;
        for (int j = 0; j < 16; ++j) {
            scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j, true);
            const float scale = std::fabs(scales[j]);
            if (scale > amax) {
                amax = scale;
                max_scale = scales[j];
            }
        }
        if (max_scale) {
            const float iscale = -32.f / max_scale;
            int l6[16];
            for (int j = 0; j < 16; ++j) {
                // ggml stores nearest_int into an int8_t before the clamp.
                const int8_t l = int8_t(nearest_int(iscale * scales[j]));
                l6[j] = clampi(l, -32, 31) + 32;
            }
            pack_scales_q3_k(l6, y + 96);
            put_f16(y + 108, 1 / iscale);
        } else {
            std::memset(y + 96, 0, 12);
            put_f16(y + 108, 0.f);
        }
        q3_k_finish(x, y, L);
    }
}

namespace {
// Q4_K / Q5_K's tail: store the 6-bit scales and mins and d / dmin, requantize every group of 32
// with them (L in [0, nmax]).
void k_scales_requant(const float* x, uint8_t* y, const uint8_t* ls, const uint8_t* lm, float d, float dmin,
                      int nmax, uint8_t* L) {
    put_f16(y, d);
    put_f16(y + 2, dmin);
    std::memset(y + 4, 0, 12);
    pack_scale_min_k4(ls, lm, y + 4);
    for (int j = 0; j < 8; ++j) {
        uint8_t sc, m;
        scale_min_k4(j, y + 4, sc, m);
        const float dd = rt_f16(y) * float(sc);
        if (!dd) continue;
        const float dm = rt_f16(y + 2) * float(m);
        for (int ii = 0; ii < 32; ++ii) L[32 * j + ii] = uint8_t(clampi(nearest_int((x[32 * j + ii] + dm) / dd), 0, nmax));
    }
}

// The _ref path of Q4_K / Q5_K: per group of 32, weights av_x + |x| (av_x = the group's RMS),
// make_qkx2_quants with (rmin, rdelta, nstep); then 6-bit scales and mins against the largest.
void k_ref_scales(const float* x, int nmax, float rmin, float rdelta, int nstep, uint8_t* y, uint8_t* L) {
    uint8_t Laux[32], ls[8], lm[8];
    float weights[32], mins[8], scales[8];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; ++j) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
        const float av_x = std::sqrt(sum_x2 / 32);
        for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(x[32 * j + l]);
        scales[j] = make_qkx_quants<false>(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin, rdelta,
                                           nstep, false);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < 8; ++j) {
        // ggml: uint8_t ls = nearest_int(...); MIN(63, ls) -- the uint8 truncation comes first.
        ls[j] = std::min<uint8_t>(63, uint8_t(nearest_int(inv_scale * scales[j])));
        lm[j] = std::min<uint8_t>(63, uint8_t(nearest_int(inv_min * mins[j])));
    }
    k_scales_requant(x, y, ls, lm, max_scale / 63.f, max_min / 63.f, nmax, L);
}

// Q4_K's quants: byte l of each 32-byte run = element l (low nibble) and l+32 (high) of a 64-chunk.
void pack_q4_k(const uint8_t* L, uint8_t* q) {
    for (int j = 0; j < kQKK; j += 64, q += 32)
        for (int l = 0; l < 32; ++l) q[l] = uint8_t(L[j + l] | (L[j + l + 32] << 4));
}
// Q5_K's quants: as Q4_K plus the 5th bits in qh[32] (bit 2c / 2c+1 for chunk c's low / high).
void pack_q5_k(const uint8_t* L, uint8_t* qh, uint8_t* ql) {
    std::memset(qh, 0, 32);
    uint8_t m1 = 1, m2 = 2;
    for (int n = 0; n < kQKK; n += 64, ql += 32) {
        for (int j = 0; j < 32; ++j) {
            int l1 = L[n + j], l2 = L[n + j + 32];
            if (l1 > 15) {
                l1 -= 16;
                qh[j] |= m1;
            }
            if (l2 > 15) {
                l2 -= 16;
                qh[j] |= m2;
            }
            ql[j] = uint8_t(l1 | (l2 << 4));
        }
        m1 = uint8_t(m1 << 2);
        m2 = uint8_t(m2 << 2);
    }
}

// Q6_K's tail: 8-bit scales against the largest, requantize, pack ql / qh.
void q6_k_finish(const float* x, uint8_t* y, const float* scales, float max_scale, int8_t* L) {
    const float iscale = -128.f / max_scale;
    put_f16(y + 208, 1 / iscale);
    int8_t* sc = reinterpret_cast<int8_t*>(y + 192);
    for (int ib = 0; ib < 16; ++ib) sc[ib] = int8_t(std::min(127, nearest_int(iscale * scales[ib])));
    const float d_all = rt_f16(y + 208);
    for (int j = 0; j < 16; ++j) {
        const float d = d_all * float(sc[j]);
        if (!d) continue;
        for (int ii = 0; ii < 16; ++ii) L[16 * j + ii] = int8_t(clampi(nearest_int(x[16 * j + ii] / d), -32, 31) + 32);
    }
    uint8_t* ql = y;
    uint8_t* qh = y + 128;
    for (int j = 0; j < kQKK; j += 128, ql += 64, qh += 32) {
        for (int l = 0; l < 32; ++l) {
            const uint8_t q1 = L[j + l] & 0xF, q2 = L[j + l + 32] & 0xF;
            const uint8_t q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
            ql[l] = uint8_t(q1 | (q3 << 4));
            ql[l + 32] = uint8_t(q2 | (q4 << 4));
            qh[l] = uint8_t((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
                            ((L[j + l + 96] >> 4) << 6));
        }
    }
}

// Q6_K, _ref and weighted: per group of 16, make_qx_quants (x^2 or the importance weights).
void q6_k_row(const float* x, uint8_t* y, size_t k, const float* qw) {
    int8_t L[kQKK];
    float scales[16];
    for (size_t i = 0; i < k / kQKK; ++i, x += kQKK, y += 210) {
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < 16; ++ib) {
            const float scale = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib, 1, qw ? qw + kQKK * i + 16 * ib : nullptr);
            scales[ib] = scale;
            if (std::fabs(scale) > max_abs_scale) {
                max_abs_scale = std::fabs(scale);
                max_scale = scale;
            }
        }
        if (max_abs_scale < kGroupMaxEps) {
            std::memset(y, 0, 210);
            continue;
        }
        q6_k_finish(x, y, scales, max_scale, L);
    }
}
}  // namespace

// Q4_K (144 B): d | dmin | scales[12] | qs[128].
void q4_k(const float* x, void* vy, size_t k) {
    uint8_t* y = static_cast<uint8_t*>(vy);
    uint8_t L[kQKK];
    for (size_t i = 0; i < k / kQKK; ++i, x += kQKK, y += 144) {
        k_ref_scales(x, 15, -1.f, 0.1f, 20, y, L);
        pack_q4_k(L, y + 16);
    }
}

// Q5_K (176 B): d | dmin | scales[12] | qh[32] | qs[128].
void q5_k(const float* x, void* vy, size_t k) {
    uint8_t* y = static_cast<uint8_t*>(vy);
    uint8_t L[kQKK];
    for (size_t i = 0; i < k / kQKK; ++i, x += kQKK, y += 176) {
        k_ref_scales(x, 31, -0.5f, 0.1f, 15, y, L);
        pack_q5_k(L, y + 16, y + 48);
    }
}

// Q6_K (210 B): ql[128] | qh[64] | int8 scales[16] | d.
void q6_k(const float* x, void* vy, size_t k) { q6_k_row(x, static_cast<uint8_t*>(vy), k, nullptr); }

// IQ4_NL (18 B): ggml's _ref (no scale search).
void iq4_nl(const float* x, void* vy, size_t k) {
    uint8_t* y = static_cast<uint8_t*>(vy);
    for (size_t i = 0; i < k / kQK; ++i) iq4_impl(kQK, x + kQK * i, y + 18 * i, y + 18 * i + 2, nullptr, nullptr, nullptr, -1);
}

// IQ4_XS (136 B): d | scales_h | scales_l[4] | qs[128]; ggml's _ref is its chunk quantizer.
void iq4_xs(const float* x, void* vy, size_t k) { iq4_xs_w(x, vy, k, nullptr); }

// ===================== weighted encoders (ggml's quantize_<fmt>(row, weights)) =====================

namespace {
// The *_0 / *_1 formats' importance path (ggml's quantize_row_q{4,5}_{0,1}_impl): per block of
// 32, weights qw * sqrt(sigma2 + x^2) with sigma2 the whole row's mean x^2; the symmetric
// formats (d only, L in [0, 2*nmax)) search with make_qx_quants, the ones with a min (d, m,
// L in [0, nmax]) with make_qkx3_quants. pack(L, block) stores the quants.
template <bool kMin, int kNmax, size_t kBytes, typename Pack>
void small_blocks_w(const float* x, uint8_t* y, size_t k, const float* qw, Pack pack) {
    float weight[kQK];
    uint8_t L[kQK], Laux[kQK];
    const float sigma2 = sum_sq(x, int64_t(k)) / float(int64_t(k));
    for (size_t ib = 0; ib < k / kQK; ++ib, y += kBytes) {
        const float* xb = x + kQK * ib;
        const float* w = qw + kQK * ib;
        for (int j = 0; j < kQK; ++j) weight[j] = w[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
        if constexpr (kMin) {
            float min;
            put_f16(y, make_qkx_quants<true>(kQK, kNmax, xb, weight, L, &min, Laux, -0.9f, 0.05f, 36, false));
            put_f16(y + 2, -min);
        } else {
            put_f16(y, make_qx_quants(kQK, kNmax, xb, reinterpret_cast<int8_t*>(L), 1, weight));
        }
        pack(L, y);
    }
}
inline void pack_nibbles(const uint8_t* L, uint8_t* qs) {
    for (int j = 0; j < 16; ++j) qs[j] = uint8_t(L[j] | (L[j + 16] << 4));
}
}  // namespace

void q4_0_w(const float* x, void* vy, size_t k, const float* qw) {
    if (!qw) return quantize_row_q4_0(x, vy, k);
    small_blocks_w<false, 8, 18>(x, static_cast<uint8_t*>(vy), k, qw,
                                 [](const uint8_t* L, uint8_t* b) { pack_nibbles(L, b + 2); });
}

void q4_1_w(const float* x, void* vy, size_t k, const float* qw) {
    if (!qw) return q4_1(x, vy, k);
    small_blocks_w<true, 15, 20>(x, static_cast<uint8_t*>(vy), k, qw,
                                 [](const uint8_t* L, uint8_t* b) { pack_nibbles(L, b + 4); });
}

void q5_0_w(const float* x, void* vy, size_t k, const float* qw) {
    if (!qw) return q5_0(x, vy, k);
    small_blocks_w<false, 16, 22>(x, static_cast<uint8_t*>(vy), k, qw,
                                  [](const uint8_t* L, uint8_t* b) { pack_q5(L, b + 2, b + 6); });
}

void q5_1_w(const float* x, void* vy, size_t k, const float* qw) {
    if (!qw) return q5_1(x, vy, k);
    small_blocks_w<true, 31, 24>(x, static_cast<uint8_t*>(vy), k, qw,
                                 [](const uint8_t* L, uint8_t* b) { pack_q5(L, b + 4, b + 8); });
}

void q8_0_w(const float* x, void* vy, size_t k, const float*) { quantize_row_q8_0(x, vy, k); }

void q2_k_w(const float* x, void* vy, size_t k, const float* qw) {
    if (!qw) return q2_k(x, vy, k);
    uint8_t* y = static_cast<uint8_t*>(vy);
    uint8_t L[kQKK], Laux[16], Ls[16], Lm[16];
    float mins[16], scales[16], sw[16], weight[16];
    for (size_t i = 0; i < k / kQKK; ++i, x += kQKK, y += 84) {
        std::memset(sw, 0, sizeof sw);
        const float sigma2 = sum_sq(x, kQKK) / kQKK;
        for (int j = 0; j < 16; ++j) {
            const float* w = qw + kQKK * i + 16 * j;
            for (int l = 0; l < 16; ++l) weight[l] = w[l] * std::sqrt(sigma2 + x[16 * j + l] * x[16 * j + l]);
            for (int l = 0; l < 16; ++l) sw[j] += weight[l];
            scales[j] = make_qkx_quants<true>(16, 3, x + 16 * j, weight, L + 16 * j, &mins[j], Laux, -0.9f, 0.05f, 36,
                                              false);
        }
        put_f16(y + 80, make_qp_quants(16, 15, scales, Ls, sw));
        put_f16(y + 82, make_qp_quants(16, 15, mins, Lm, sw));
        const float dm = rt_f16(y + 80), mm = rt_f16(y + 82);
        for (int j = 0; j < 16; ++j) y[j] = uint8_t(Ls[j] | (Lm[j] << 4));
        for (int j = 0; j < 16; ++j) {
            const float d = dm * float(y[j] & 0xF);
            if (!d) continue;
            const float m = mm * float(y[j] >> 4);
            for (int ii = 0; ii < 16; ++ii) L[16 * j + ii] = uint8_t(clampi(nearest_int((x[16 * j + ii] + m) / d), 0, 3));
        }
        pack_2bit(L, y + 16);
    }
}

void q3_k_w(const float* x, void* vy, size_t k, const float* qw) {
    if (!qw) return q3_k(x, vy, k);
    uint8_t* y = static_cast<uint8_t*>(vy);
    int8_t L[kQKK], Ls[16];
    float scales[16], weight[16], sw[16];
    for (size_t i = 0; i < k / kQKK; ++i, x += kQKK, y += 110) {
        const float sigma2 = 2 * sum_sq(x, kQKK) / kQKK;
        for (int j = 0; j < 16; ++j) {
            const float* w = qw + kQKK * i + 16 * j;
            for (int l = 0; l < 16; ++l) weight[l] = w[l] * std::sqrt(sigma2 + x[16 * j + l] * x[16 * j + l]);
            float sumw = 0;
            for (int l = 0; l < 16; ++l) sumw += weight[l];
            sw[j] = sumw;
            scales[j] = make_qx_quants(16, 4, x + 16 * j, L + 16 * j, 1, weight);
        }
        const float d_block = make_qx_quants(16, 32, scales, Ls, 1, sw);
        int l6[16];
        for (int j = 0; j < 16; ++j) l6[j] = Ls[j];
        pack_scales_q3_k(l6, y + 96);
        put_f16(y + 108, d_block);
        q3_k_finish(x, y, L);
    }
}

namespace {
// Q4_K / Q5_K weighted: make_qkx3_quants per group of 32 with qw * sqrt(sigma2 + x^2), then the
// sub-block scales and mins by make_qp_quants weighted by each group's total weight.
void k_weighted_scales(const float* x, const float* qw, int nmax, uint8_t* y, uint8_t* L) {
    uint8_t Laux[32], Ls[8], Lm[8];
    float weights[32], sw[8], mins[8], scales[8];
    const float sigma2 = 2 * sum_sq(x, kQKK) / kQKK;
    for (int j = 0; j < 8; ++j) {
        const float* w = qw + 32 * j;
        for (int l = 0; l < 32; ++l) weights[l] = w[l] * std::sqrt(sigma2 + x[32 * j + l] * x[32 * j + l]);
        float sumw = 0;
        for (int l = 0; l < 32; ++l) sumw += weights[l];
        sw[j] = sumw;
        scales[j] = make_qkx_quants<true>(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, -0.9f, 0.05f, 36,
                                          false);
    }
    const float d_block = make_qp_quants(8, 63, scales, Ls, sw);
    const float m_block = make_qp_quants(8, 63, mins, Lm, sw);
    for (int j = 0; j < 8; ++j) {
        Ls[j] = std::min<uint8_t>(63, Ls[j]);
        Lm[j] = std::min<uint8_t>(63, Lm[j]);
    }
    k_scales_requant(x, y, Ls, Lm, d_block, m_block, nmax, L);
}
}  // namespace

void q4_k_w(const float* x, void* vy, size_t k, const float* qw) {
    if (!qw) return q4_k(x, vy, k);
    uint8_t* y = static_cast<uint8_t*>(vy);
    uint8_t L[kQKK];
    for (size_t i = 0; i < k / kQKK; ++i, x += kQKK, y += 144) {
        k_weighted_scales(x, qw + kQKK * i, 15, y, L);
        pack_q4_k(L, y + 16);
    }
}

void q5_k_w(const float* x, void* vy, size_t k, const float* qw) {
    if (!qw) return q5_k(x, vy, k);
    uint8_t* y = static_cast<uint8_t*>(vy);
    uint8_t L[kQKK];
    for (size_t i = 0; i < k / kQKK; ++i, x += kQKK, y += 176) {
        k_weighted_scales(x, qw + kQKK * i, 31, y, L);
        pack_q5_k(L, y + 16, y + 48);
    }
}

void q6_k_w(const float* x, void* vy, size_t k, const float* qw) { q6_k_row(x, static_cast<uint8_t*>(vy), k, qw); }

void iq4_nl_w(const float* x, void* vy, size_t k, const float* qw) {
    uint8_t* y = static_cast<uint8_t*>(vy);
    for (size_t i = 0; i < k / kQK; ++i)
        iq4_impl(kQK, x + kQK * i, y + 18 * i, y + 18 * i + 2, nullptr, nullptr, qw ? qw + kQK * i : nullptr, 7);
}

void iq4_xs_w(const float* x, void* vy, size_t k, const float* qw) {
    uint8_t* y = static_cast<uint8_t*>(vy);
    for (size_t i = 0; i < k / kQKK; ++i) {
        uint8_t* b = y + 136 * i;
        iq4_impl(kQKK, x + kQKK * i, b, b + 8, b + 2, b + 4, qw ? qw + kQKK * i : nullptr, 7);
    }
}

// ---- IQ4_NL / IQ4_XS refined (a vkrt search, not ggml's bytes) ----
//
// ggml's IQ4 search fits each 32-element group's scale alone over 15 trial scales, then (IQ4_XS)
// rounds every group scale to 6 bits of one super-block scale d = -max/32 and re-assigns the
// quants without fitting d or the 6-bit scales again. Here d and the group scales are searched
// jointly under the same weights (ggml's: importance * sqrt(sigma2 + x^2), or x^2 without one),
// with the non-linear codebook assignment redone at every step (each element at its nearest
// codebook value, which is the weighted optimum for fixed scales: the weight multiplies that
// element's error alone). ggml's bytes are kept unless a point of strictly smaller error is found,
// so the weighted error is never above ggml's (tests/test_quant_presets.cpp checks it).
namespace {

// The weights ggml's iq4 search uses for a super-block of n elements (sigma2 over all n).
void iq4_search_weights(const float* x, int n, const float* qw, float* w) {
    float sigma2 = 0;
    for (int j = 0; j < n; ++j) sigma2 += x[j] * x[j];
    sigma2 *= 2.f / float(n);
    for (int j = 0; j < n; ++j) w[j] = qw ? qw[j] * std::sqrt(sigma2 + x[j] * x[j]) : x[j] * x[j];
}

// sum_j w_j (x_j - dl * value(nearest))^2 over one group of 32 at group scale dl.
double iq4_group_error(const float* x, const float* w, float dl) {
    double e = 0;
    if (dl == 0) {
        for (int j = 0; j < 32; ++j) e += double(w[j]) * x[j] * x[j];
        return e;
    }
    const float id = 1 / dl;
    for (int j = 0; j < 32; ++j) {
        const double r = double(x[j]) - double(dl) * kIQ4NL[best_index_int8(16, kIQ4NL, id * x[j])];
        e += double(w[j]) * r * r;
    }
    return e;
}

// Closed-form least-squares super-block scale for fixed integer group scales l and the current
// assignment at d: argmin_d' sum_j w_j (x_j - d' l_g v_j)^2, v_j the codebook value at scale d*l_g.
float iq4_refit_d(const float* x, const float* w, int groups, const int* l, float d) {
    double num = 0, den = 0;
    for (int g = 0; g < groups; ++g) {
        const float dl = d * float(l[g]);
        if (dl == 0) continue;
        const float id = 1 / dl;
        for (int j = 32 * g; j < 32 * g + 32; ++j) {
            const double lv = double(l[g]) * kIQ4NL[best_index_int8(16, kIQ4NL, id * x[j])];
            num += double(w[j]) * x[j] * lv;
            den += double(w[j]) * lv * lv;
        }
    }
    return den > 0 ? float(num / den) : d;
}

inline float f16_round(float f) { return fp16_to_fp32(fp32_to_fp16(f)); }

// The weighted error of the encoding already in q4 (groups of 32 at scales dl): ggml's own bytes,
// whose quants ggml assigned at its unrounded scale, so a few may differ from the nearest ones.
double iq4_packed_error(const float* x, const float* w, int groups, const float* dl, const uint8_t* q4) {
    double e = 0;
    for (int g = 0; g < groups; ++g)
        for (int j = 0; j < 32; ++j) {
            const uint8_t b = q4[16 * g + (j % 16)];
            const int v = kIQ4NL[j < 16 ? (b & 0xf) : (b >> 4)];
            const double r = double(x[32 * g + j]) - double(dl[g]) * v;
            e += double(w[32 * g + j]) * r * r;
        }
    return e;
}

void iq4_pack_quants(const float* x, int groups, const float* dl, uint8_t* q4) {
    for (int g = 0; g < groups; ++g) {
        const float id = dl[g] ? 1 / dl[g] : 0.f;
        for (int j = 0; j < 16; ++j) {
            const int lo = best_index_int8(16, kIQ4NL, id * x[32 * g + j]);
            const int hi = best_index_int8(16, kIQ4NL, id * x[32 * g + 16 + j]);
            q4[16 * g + j] = uint8_t(lo | (hi << 4));
        }
    }
}

// IQ4_XS super-block b (136 B) already holding ggml's encoding of x (256): searched again.
void iq4_xs_refine_block(const float* x, const float* w, uint8_t* b) {
    constexpr int G = kQKK / 32;
    const float d0 = rt_f16(b);
    if (d0 == 0) return;
    const uint16_t sh = uint16_t(b[2] | (b[3] << 8));
    int l0[G];
    for (int g = 0; g < G; ++g) l0[g] = int(((b[4 + g / 2] >> 4 * (g % 2)) & 0xf) | (((sh >> 2 * g) & 3) << 4)) - 32;
    // For super-block scale d: each group's best 6-bit scale within +-window of the one that
    // keeps its ggml group scale d0*l0; returns the total error.
    auto fit_groups = [&](float d, const int* center, int window, int* l) {
        double tot = 0;
        for (int g = 0; g < G; ++g) {
            double be = INFINITY;
            for (int c = std::max(center[g] - window, -32); c <= std::min(center[g] + window, 31); ++c) {
                const double e = iq4_group_error(x + 32 * g, w + 32 * g, d * float(c));
                if (e < be) be = e, l[g] = c;
            }
            tot += be;
        }
        return tot;
    };
    float dl0[G];
    for (int g = 0; g < G; ++g) dl0[g] = d0 * float(l0[g]);
    const double ggml_err = iq4_packed_error(x, w, G, dl0, b + 8);
    int best_l[G];
    float best_d = d0;
    double best = fit_groups(d0, l0, 0, best_l);  // ggml's scales, quants at the nearest values
    int l[G], center[G];
    for (int t = -8; t <= 8; ++t) {  // super-block scales around ggml's, 1/32 apart
        const float d = f16_round(d0 * (1.f + float(t) / 32.f));
        if (d == 0) continue;
        for (int g = 0; g < G; ++g) center[g] = clampi(nearest_int(float(l0[g]) * d0 / d), -32, 31);
        const double e = fit_groups(d, center, 2, l);
        if (e < best) best = e, best_d = d, std::copy(l, l + G, best_l);
    }
    // Coordinate descent: d by least squares for the current scales and assignment, then the
    // group scales again around theirs, while the error goes down.
    for (int it = 0; it < 4; ++it) {
        const float d = f16_round(iq4_refit_d(x, w, G, best_l, best_d));
        if (d == 0 || d == best_d) break;
        const double e = fit_groups(d, best_l, 1, l);
        if (!(e < best)) break;
        best = e, best_d = d, std::copy(l, l + G, best_l);
    }
    if (!(best < ggml_err)) return;  // ggml's bytes stay
    put_f16(b, best_d);
    uint16_t nsh = 0;
    float dl[G];
    for (int g = 0; g < G; ++g) {
        const int u = best_l[g] + 32;
        if (g % 2 == 0)
            b[4 + g / 2] = uint8_t(u & 0xf);
        else
            b[4 + g / 2] = uint8_t(b[4 + g / 2] | ((u & 0xf) << 4));
        nsh = uint16_t(nsh | ((u >> 4) << 2 * g));
        dl[g] = best_d * float(best_l[g]);
    }
    put16(b + 2, nsh);
    iq4_pack_quants(x, G, dl, b + 8);
}

// IQ4_NL block b (18 B) holding ggml's encoding of x (32): its scale searched finer and wider
// (ggml: 15 trials 1/127 apart) with a least-squares refit.
void iq4_nl_refine_block(const float* x, const float* w, uint8_t* b) {
    const float d0 = rt_f16(b);
    if (d0 == 0) return;
    const double ggml_err = iq4_packed_error(x, w, 1, &d0, b + 2);
    float best_d = d0;
    double best = iq4_group_error(x, w, d0);
    for (int t = -32; t <= 32; ++t) {
        const float d = f16_round(d0 * (1.f + float(t) / 256.f));
        const double e = iq4_group_error(x, w, d);
        if (e < best) best = e, best_d = d;
    }
    const int one = 1;
    for (int it = 0; it < 4; ++it) {
        const float d = f16_round(iq4_refit_d(x, w, 1, &one, best_d));
        if (d == 0 || d == best_d) break;
        const double e = iq4_group_error(x, w, d);
        if (!(e < best)) break;
        best = e, best_d = d;
    }
    if (!(best < ggml_err)) return;  // ggml's bytes stay
    put_f16(b, best_d);
    iq4_pack_quants(x, 1, &best_d, b + 2);
}

// Each block of n elements (nb bytes) of a row ggml's weighted encoder wrote, refined in place.
void iq4_refine_row(const float* x, uint8_t* y, size_t k, const float* qw, int n, int nb,
                    void (*refine)(const float*, const float*, uint8_t*)) {
    float w[kQKK];
    for (size_t i = 0; i < k / size_t(n); ++i) {
        iq4_search_weights(x + size_t(n) * i, n, qw ? qw + size_t(n) * i : nullptr, w);
        refine(x + size_t(n) * i, w, y + size_t(nb) * i);
    }
}

}  // namespace

void iq4_nl_refined(const float* x, void* vy, size_t k, const float* qw) {
    iq4_nl_w(x, vy, k, qw);
    iq4_refine_row(x, static_cast<uint8_t*>(vy), k, qw, kQK, 18, iq4_nl_refine_block);
}

void iq4_xs_refined(const float* x, void* vy, size_t k, const float* qw) {
    iq4_xs_w(x, vy, k, qw);
    iq4_refine_row(x, static_cast<uint8_t*>(vy), k, qw, kQKK, 136, iq4_xs_refine_block);
}

void f32_w(const float* x, void* y, size_t k, const float*) { std::memcpy(y, x, k * sizeof(float)); }
void f16_w(const float* x, void* y, size_t k, const float*) { quantize_row_f16(x, y, k); }
void bf16_w(const float* x, void* vy, size_t k, const float*) {
    uint8_t* y = static_cast<uint8_t*>(vy);
    for (size_t i = 0; i < k; ++i) put16(y + 2 * i, fp32_to_bf16(x[i]));
}

}  // namespace vkrt::fmt::enc
