// The weight-format registry (see format.hpp) and its reference decoders.
//
// Each decoder follows ggml's dequantize_row_* (ggml/src/ggml-quants.c) operation by
// operation: the same integer unpacking and the same float operations in the same
// order, so the output is bit-identical (checked by tests/test_formats.cpp against
// digests of ggml's own output). Where ggml writes `a * b * c` the order is (a*b)*c,
// and an int operand becomes a float before the multiplication, as in C.
#include "core/format.hpp"

#include <array>
#include <cstring>
#include <limits>

#include "core/error.hpp"
#include "core/format_encode.hpp"
#include "core/fp16.hpp"
#include "core/quant.hpp"

namespace vkrt::fmt {

namespace {

constexpr size_t kQK = 32;   // elements per block of the *_0 / *_1 / IQ4_NL formats
constexpr size_t kQKK = 256; // elements per super-block of the K and IQ4_XS formats

inline uint16_t u16(const uint8_t* p) { return uint16_t(p[0] | (uint16_t(p[1]) << 8)); }
inline float f16(const uint8_t* p) { return fp16_to_fp32(u16(p)); }

// IQ4_NL / IQ4_XS codebook (ggml-common.h kvalues_iq4nl).
constexpr int8_t kIQ4NL[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

// ---- scalar types ----

void dq_f32(const void* src, float* dst, size_t k) { std::memcpy(dst, src, k * sizeof(float)); }

void dq_f16(const void* src, float* dst, size_t k) {
    const uint8_t* p = static_cast<const uint8_t*>(src);
    for (size_t i = 0; i < k; ++i) dst[i] = f16(p + 2 * i);
}

void dq_bf16(const void* src, float* dst, size_t k) {
    const uint8_t* p = static_cast<const uint8_t*>(src);
    for (size_t i = 0; i < k; ++i) dst[i] = bf16_to_fp32(u16(p + 2 * i));
}

void dq_i8(const void* src, float* dst, size_t k) {
    const int8_t* p = static_cast<const int8_t*>(src);
    for (size_t i = 0; i < k; ++i) dst[i] = float(p[i]);
}

void dq_i32(const void* src, float* dst, size_t k) {
    const uint8_t* p = static_cast<const uint8_t*>(src);
    for (size_t i = 0; i < k; ++i) {
        int32_t v;
        std::memcpy(&v, p + 4 * i, 4);
        dst[i] = float(v);
    }
}

void q_f32(const float* src, void* dst, size_t k) { std::memcpy(dst, src, k * sizeof(float)); }

void q_bf16(const float* src, void* dst, size_t k) {
    uint8_t* o = static_cast<uint8_t*>(dst);
    for (size_t i = 0; i < k; ++i) {
        const uint16_t h = fp32_to_bf16(src[i]);
        std::memcpy(o + 2 * i, &h, 2);
    }
}

// ---- 32-element blocks ----

// The 32-element blocks d | qs[16] (Q4_0, IQ4_NL): element j < 16 is the low nibble of qs[j],
// j >= 16 the high nibble of qs[j-16]; x = value(q, d).
template <typename Value>
void dq_nibbles_32(const void* src, float* y, size_t k, Value value) {
    const uint8_t* b = static_cast<const uint8_t*>(src);
    for (size_t i = 0; i < k / kQK; ++i, b += 18, y += kQK) {
        const float d = f16(b);
        const uint8_t* qs = b + 2;
        for (size_t j = 0; j < kQK / 2; ++j) {
            y[j] = value(qs[j] & 0x0F, d);
            y[j + kQK / 2] = value(qs[j] >> 4, d);
        }
    }
}

// Q4_0 (18 B): x = (q - 8) * d.
void dq_q4_0(const void* src, float* y, size_t k) {
    dq_nibbles_32(src, y, k, [](int q, float d) { return float(q - 8) * d; });
}

// Q4_1 (20 B): d | m | qs[16]; x = q * d + m.
void dq_q4_1(const void* src, float* y, size_t k) {
    const uint8_t* b = static_cast<const uint8_t*>(src);
    for (size_t i = 0; i < k / kQK; ++i, b += 20, y += kQK) {
        const float d = f16(b), m = f16(b + 2);
        const uint8_t* qs = b + 4;
        for (size_t j = 0; j < kQK / 2; ++j) {
            y[j] = float(qs[j] & 0x0F) * d + m;
            y[j + kQK / 2] = float(qs[j] >> 4) * d + m;
        }
    }
}

// The 5th bit of element j (0..31) of a Q5_0 / Q5_1 block: bit j of the little-endian u32 qh,
// returned as 0 or 16.
inline int q5_high(uint32_t qh, size_t j) { return int((qh >> j) & 1u) << 4; }

// Q5_0 (22 B): d | qh[4] | qs[16]; x = (q - 16) * d.
void dq_q5_0(const void* src, float* y, size_t k) {
    const uint8_t* b = static_cast<const uint8_t*>(src);
    for (size_t i = 0; i < k / kQK; ++i, b += 22, y += kQK) {
        const float d = f16(b);
        uint32_t qh;
        std::memcpy(&qh, b + 2, 4);
        const uint8_t* qs = b + 6;
        for (size_t j = 0; j < kQK / 2; ++j) {
            y[j] = float(((qs[j] & 0x0F) | q5_high(qh, j)) - 16) * d;
            y[j + kQK / 2] = float(((qs[j] >> 4) | q5_high(qh, j + kQK / 2)) - 16) * d;
        }
    }
}

// Q5_1 (24 B): d | m | qh[4] | qs[16]; x = q * d + m.
void dq_q5_1(const void* src, float* y, size_t k) {
    const uint8_t* b = static_cast<const uint8_t*>(src);
    for (size_t i = 0; i < k / kQK; ++i, b += 24, y += kQK) {
        const float d = f16(b), m = f16(b + 2);
        uint32_t qh;
        std::memcpy(&qh, b + 4, 4);
        const uint8_t* qs = b + 8;
        for (size_t j = 0; j < kQK / 2; ++j) {
            y[j] = float((qs[j] & 0x0F) | q5_high(qh, j)) * d + m;
            y[j + kQK / 2] = float((qs[j] >> 4) | q5_high(qh, j + kQK / 2)) * d + m;
        }
    }
}

// Q8_0 (34 B): d | int8 qs[32]; x = q * d.
void dq_q8_0(const void* src, float* y, size_t k) {
    const uint8_t* b = static_cast<const uint8_t*>(src);
    for (size_t i = 0; i < k / kQK; ++i, b += 34, y += kQK) {
        const float d = f16(b);
        for (size_t j = 0; j < kQK; ++j) y[j] = float(int8_t(b[2 + j])) * d;
    }
}

// IQ4_NL (18 B): nibbles as Q4_0, x = d * kIQ4NL[q].
void dq_iq4_nl(const void* src, float* y, size_t k) {
    dq_nibbles_32(src, y, k, [](int q, float d) { return d * float(kIQ4NL[q]); });
}

// ---- 256-element super-blocks ----

// Q2_K (84 B): scales[16] | qs[64] | d | dmin. Two halves of 128; in each, 4 shifts (0,2,4,6)
// x 2 groups of 16 (qs[l], qs[l+16]): 2-bit q = (qs >> shift) & 3, with group g's byte
// scales[g]: x = (d * (sc & 15)) * q - dmin * (sc >> 4).
void dq_q2_k(const void* src, float* y, size_t k) {
    const uint8_t* b = static_cast<const uint8_t*>(src);
    for (size_t i = 0; i < k / kQKK; ++i, b += 84) {
        const uint8_t* scales = b;
        const uint8_t* q = b + 16;
        const float d = f16(b + 80), dmin = f16(b + 82);
        int is = 0;
        for (size_t n = 0; n < kQKK; n += 128, q += 32) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int half = 0; half < 2; ++half) {
                    const uint8_t sc = scales[is++];
                    const float dl = d * float(sc & 0xF), ml = dmin * float(sc >> 4);
                    for (int l = 0; l < 16; ++l) *y++ = dl * float((q[l + 16 * half] >> shift) & 3) - ml;
                }
            }
        }
    }
}

// Q3_K (110 B): hmask[32] | qs[64] | scales[12] | d. Layout of the groups as Q2_K; the 3-bit
// q = ((qs >> shift) & 3) - (hmask bit set ? 0 : 4), the hmask bit moving one up per shift.
// The 16 scales are 6-bit: low 4 bits from scales[0..7] nibbles, high 2 bits from scales[8..11],
// unpacked exactly as ggml does (through four little-endian u32 words), then minus 32.
void dq_q3_k(const void* src, float* y, size_t k) {
    constexpr uint32_t kmask1 = 0x03030303u, kmask2 = 0x0f0f0f0fu;
    const uint8_t* b = static_cast<const uint8_t*>(src);
    for (size_t i = 0; i < k / kQKK; ++i, b += 110) {
        const uint8_t* hm = b;
        const uint8_t* q = b + 32;
        const float d_all = f16(b + 108);
        uint32_t aux[4];
        std::memcpy(aux, b + 96, 12);
        const uint32_t tmp = aux[2];
        aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
        aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
        aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4);
        aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4);
        int8_t scales[16];
        std::memcpy(scales, aux, 16);
        int is = 0;
        uint8_t m = 1;
        for (size_t n = 0; n < kQKK; n += 128, q += 32) {
            for (int shift = 0; shift < 8; shift += 2, m = uint8_t(m << 1)) {
                for (int half = 0; half < 2; ++half) {
                    const float dl = d_all * float(scales[is++] - 32);
                    for (int l = 16 * half; l < 16 * half + 16; ++l)
                        *y++ = dl * float(int((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4));
                }
            }
        }
    }
}

using enc::scale_min_k4;

// Q4_K (144 B): d | dmin | scales[12] | qs[128].
// Q5_K (176 B): d | dmin | scales[12] | qh[32] | qs[128].
// 4 chunks c of 64 elements (32 bytes of qs each): the low nibbles are group 2c, the high
// nibbles group 2c+1; Q5_K's 5th bit is bit 2c (low) / 2c+1 (high) of qh[l];
// x = (d * sc) * q - dmin * m with group g's 6-bit (sc, m).
template <bool kFifthBit>
void dq_q4_q5_k(const void* src, float* y, size_t k) {
    constexpr size_t kBytes = kFifthBit ? 176 : 144;
    const uint8_t* b = static_cast<const uint8_t*>(src);
    for (size_t i = 0; i < k / kQKK; ++i, b += kBytes) {
        const float d = f16(b), dmin = f16(b + 2);
        const uint8_t* scales = b + 4;
        const uint8_t* qh = b + 16;
        const uint8_t* q = b + (kFifthBit ? 48 : 16);
        for (int c = 0; c < 4; ++c, q += 32) {
            float dg[2], mg[2];
            for (int h = 0; h < 2; ++h) {
                uint8_t sc, m;
                scale_min_k4(2 * c + h, scales, sc, m);
                dg[h] = d * float(sc);
                mg[h] = dmin * float(m);
            }
            for (int h = 0; h < 2; ++h)
                for (int l = 0; l < 32; ++l) {
                    int v = h ? q[l] >> 4 : q[l] & 0xF;
                    if (kFifthBit && ((qh[l] >> (2 * c + h)) & 1)) v += 16;
                    *y++ = dg[h] * float(v) - mg[h];
                }
        }
    }
}

// Q6_K (210 B): ql[128] | qh[64] | int8 scales[16] | d. Two halves of 128 (64 B of ql, 32 of qh,
// 8 scales each); element l + 32r (r = 0..3, l = 0..31) of a half: low 4 bits from ql[l] (r even)
// or ql[l+32] (r odd), low nibble for r < 2, high for r >= 2; high 2 bits = (qh[l] >> 2r) & 3;
// q - 32 with scale sc[l/16 + 2r]; x = (d * sc) * q.
void dq_q6_k(const void* src, float* y, size_t k) {
    const uint8_t* b = static_cast<const uint8_t*>(src);
    for (size_t i = 0; i < k / kQKK; ++i, b += 210) {
        const float d = f16(b + 208);
        const uint8_t* ql = b;
        const uint8_t* qh = b + 128;
        const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
        for (size_t n = 0; n < kQKK; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; ++l) {
                const int is = l / 16;
                const int q1 = int((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = int((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = int((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = int((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l + 0] = d * float(sc[is + 0]) * float(q1);
                y[l + 32] = d * float(sc[is + 2]) * float(q2);
                y[l + 64] = d * float(sc[is + 4]) * float(q3);
                y[l + 96] = d * float(sc[is + 6]) * float(q4);
            }
        }
    }
}

// IQ4_XS (136 B): d | scales_h (u16) | scales_l[4] | qs[128]. 8 groups of 32 (16 B of qs, nibbles
// as IQ4_NL); 6-bit scale of group g = nibble g of scales_l | bits 2g..2g+1 of scales_h << 4;
// x = (d * (ls - 32)) * kIQ4NL[q].
void dq_iq4_xs(const void* src, float* y, size_t k) {
    const uint8_t* b = static_cast<const uint8_t*>(src);
    for (size_t i = 0; i < k / kQKK; ++i, b += 136) {
        const float d = f16(b);
        const uint16_t scales_h = u16(b + 2);
        const uint8_t* scales_l = b + 4;
        const uint8_t* qs = b + 8;
        for (int ib = 0; ib < 8; ++ib, y += 32, qs += 16) {
            const int ls = ((scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF) | (((scales_h >> (2 * ib)) & 3) << 4);
            const float dl = d * float(ls - 32);
            for (int j = 0; j < 16; ++j) {
                y[j] = dl * float(kIQ4NL[qs[j] & 0xF]);
                y[j + 16] = dl * float(kIQ4NL[qs[j] >> 4]);
            }
        }
    }
}

// ---- the table ----

constexpr DequantizeFn decoder_for(Format f) {
    switch (f) {
        case Format::F32: return dq_f32;
        case Format::F16: return dq_f16;
        case Format::BF16: return dq_bf16;
        case Format::Q4_0: return dq_q4_0;
        case Format::Q4_1: return dq_q4_1;
        case Format::Q5_0: return dq_q5_0;
        case Format::Q5_1: return dq_q5_1;
        case Format::Q8_0: return dq_q8_0;
        case Format::Q2_K: return dq_q2_k;
        case Format::Q3_K: return dq_q3_k;
        case Format::Q4_K: return dq_q4_q5_k<false>;
        case Format::Q5_K: return dq_q4_q5_k<true>;
        case Format::Q6_K: return dq_q6_k;
        case Format::IQ4_NL: return dq_iq4_nl;
        case Format::IQ4_XS: return dq_iq4_xs;
        case Format::I8: return dq_i8;
        case Format::I32: return dq_i32;
        default: return nullptr;
    }
}

constexpr QuantizeFn encoder_for(Format f) {
    switch (f) {
        case Format::F32: return q_f32;
        case Format::F16: return quantize_row_f16;
        case Format::BF16: return q_bf16;
        case Format::Q4_0: return quantize_row_q4_0;
        case Format::Q4_1: return enc::q4_1;
        case Format::Q5_0: return enc::q5_0;
        case Format::Q5_1: return enc::q5_1;
        case Format::Q8_0: return quantize_row_q8_0;
        case Format::Q2_K: return enc::q2_k;
        case Format::Q3_K: return enc::q3_k;
        case Format::Q4_K: return enc::q4_k;
        case Format::Q5_K: return enc::q5_k;
        case Format::Q6_K: return enc::q6_k;
        case Format::IQ4_NL: return enc::iq4_nl;
        case Format::IQ4_XS: return enc::iq4_xs;
        default: return nullptr;
    }
}

constexpr QuantizeWeightedFn weighted_encoder_for(Format f) {
    switch (f) {
        case Format::F32: return enc::f32_w;
        case Format::F16: return enc::f16_w;
        case Format::BF16: return enc::bf16_w;
        case Format::Q4_0: return enc::q4_0_w;
        case Format::Q4_1: return enc::q4_1_w;
        case Format::Q5_0: return enc::q5_0_w;
        case Format::Q5_1: return enc::q5_1_w;
        case Format::Q8_0: return enc::q8_0_w;
        case Format::Q2_K: return enc::q2_k_w;
        case Format::Q3_K: return enc::q3_k_w;
        case Format::Q4_K: return enc::q4_k_w;
        case Format::Q5_K: return enc::q5_k_w;
        case Format::Q6_K: return enc::q6_k_w;
        case Format::IQ4_NL: return enc::iq4_nl_w;
        case Format::IQ4_XS: return enc::iq4_xs_w;
        default: return nullptr;
    }
}

constexpr QuantizeWeightedFn refined_encoder_for(Format f) {
    switch (f) {
        case Format::IQ4_NL: return enc::iq4_nl_refined;
        case Format::IQ4_XS: return enc::iq4_xs_refined;
        default: return nullptr;
    }
}

constexpr Traits kTable[] = {
#define VKRT_FORMAT(ID, suffix, id, block_elems, block_bytes, kernels) \
    {Format::ID, #ID, #suffix, block_elems, block_bytes, kernels, decoder_for(Format::ID), encoder_for(Format::ID), \
     weighted_encoder_for(Format::ID), refined_encoder_for(Format::ID)},
#include "formats.def"
#undef VKRT_FORMAT
};

constexpr uint32_t kMaxId = uint32_t(kTable[std::size(kTable) - 1].type);

// formats.def's promises, checked at compile time: ids ascending, every format with GPU kernels
// has a reference decoder (the spec its kernels are tested against), block sizes consistent.
constexpr bool table_ok() {
    for (size_t i = 0; i < std::size(kTable); ++i) {
        const Traits& t = kTable[i];
        if (i > 0 && uint32_t(kTable[i - 1].type) >= uint32_t(t.type)) return false;
        if (t.kernels != 0 && !t.dequantize) return false;
        if ((t.kernels & (kKernelInt | kKernelMmq)) && !(t.kernels & kKernelFloat)) return false;
        if ((t.block_elems == 0) != (t.block_bytes == 0)) return false;
        if ((t.dequantize || t.quantize) && t.block_elems == 0) return false;
        if ((t.quantize == nullptr) != (t.quantize_weighted == nullptr)) return false;  // an encoder has both entries
        if (t.quantize_refined && !t.quantize_weighted) return false;  // a refinement of the weighted encoder
        if (t.quantize && !t.dequantize) return false;  // every encoder sits beside its decoder
    }
    return true;
}
static_assert(table_ok(), "shaders/formats.def: ids must ascend, and formats with kernels need a decoder");

// id -> index into kTable (or -1), built once at compile time.
constexpr std::array<int16_t, kMaxId + 1> make_index() {
    std::array<int16_t, kMaxId + 1> idx{};
    for (auto& v : idx) v = -1;
    for (size_t i = 0; i < std::size(kTable); ++i) idx[uint32_t(kTable[i].type)] = int16_t(i);
    return idx;
}
constexpr auto kIndex = make_index();

void check_row(const Traits& t, size_t k, const char* fn) {
    VKRT_CHECK(t.block_elems != 0, Status::unsupported, fn, ": type ", t.name, " (id ", uint32_t(t.type),
               ") has no block size");
    VKRT_CHECK(k % t.block_elems == 0, Status::invalid_argument, fn, ": a row of ", k, " elements is not a multiple of ",
               t.name, "'s block of ", t.block_elems);
}

}  // namespace

const Traits* find(uint32_t id) {
    if (id > kMaxId || kIndex[id] < 0) return nullptr;
    return &kTable[kIndex[id]];
}

const Traits& traits(Format f) {
    const Traits* t = find(uint32_t(f));
    VKRT_CHECK(t, Status::unsupported, "unknown tensor type id ", uint32_t(f));
    return *t;
}

const char* name(uint32_t id) {
    const Traits* t = find(id);
    return t ? t->name : "unknown";
}

std::span<const Traits> all() { return kTable; }

uint64_t row_bytes(Format f, uint64_t k) {
    const Traits& t = traits(f);
    check_row(t, k, "row_bytes");
    const uint64_t blocks = k / t.block_elems;
    VKRT_CHECK(blocks <= std::numeric_limits<uint64_t>::max() / t.block_bytes, Status::limit_exceeded,
               "row_bytes: ", k, " elements of ", t.name, " overflow 64 bits");
    return blocks * t.block_bytes;
}

void dequantize_row(Format f, const void* src, float* dst, size_t k) {
    const Traits& t = traits(f);
    VKRT_CHECK(t.dequantize, Status::unsupported, "dequantize_row: vkrt has no decoder for type ", t.name, " (id ",
               uint32_t(f), ")");
    check_row(t, k, "dequantize_row");
    t.dequantize(src, dst, k);
}

void quantize_row(Format f, const float* src, void* dst, size_t k) {
    const Traits& t = traits(f);
    VKRT_CHECK(t.quantize, Status::invalid_argument, "quantize_row: cannot quantize to type ", t.name);
    check_row(t, k, "quantize_row");
    t.quantize(src, dst, k);
}

void quantize_row_weighted(Format f, const float* src, void* dst, size_t k, const float* importance) {
    const Traits& t = traits(f);
    VKRT_CHECK(t.quantize_weighted, Status::invalid_argument, "quantize_row_weighted: cannot quantize to type ", t.name);
    check_row(t, k, "quantize_row_weighted");
    t.quantize_weighted(src, dst, k, importance);
}

}  // namespace vkrt::fmt
