// Reference (scalar) quantizers for GGUF block formats (decoders: core/format.cpp).
// The quantizers follow ggml-quants.c operation by operation (same float ops in
// the same order, fp16 via round-to-nearest-even) so the bytes match llama.cpp.
#include "core/quant.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.hpp"
#include "core/format.hpp"
#include "core/fp16.hpp"

namespace vkrt {

namespace {

// clamp to [lo, hi]; NaN -> lo (keeps the float -> int casts below defined)
inline float clampf(float v, float lo, float hi) { return v >= lo ? (v <= hi ? v : hi) : lo; }

void check_blocks(size_t k, size_t qk, const char* fn) {
    VKRT_CHECK(k % qk == 0, Status::invalid_argument, fn, ": k = ", k, " is not a multiple of ", qk);
}

// One Q4_0 block with scale d (q = clamp(round(x/d) + 8, 0, 15)); returns squared error vs x.
float q4_0_block_with_scale(const float* x, float d, BlockQ4_0& b) {
    const uint16_t dh = fp32_to_fp16(d);
    const float dq = fp16_to_fp32(dh);
    const float id = d != 0.f ? 1.0f / d : 0.0f;
    b.d = dh;
    float err = 0.f;
    uint8_t q[BlockQ4_0::kElems];
    for (int j = 0; j < BlockQ4_0::kElems; ++j) {
        const float v = std::nearbyint(x[j] * id) + 8.f;
        q[j] = uint8_t(clampf(v, 0.f, 15.f));
        const float e = x[j] - dq * float(int(q[j]) - 8);
        err += e * e;
    }
    for (int j = 0; j < BlockQ4_0::kElems / 2; ++j) b.qs[j] = uint8_t(q[j] | (q[j + BlockQ4_0::kElems / 2] << 4));
    return err;
}

}  // namespace

// ---- quantize ----

void quantize_row_q4_0(const float* x, void* out, size_t k) {
    constexpr int qk = BlockQ4_0::kElems;
    check_blocks(k, qk, "quantize_row_q4_0");
    BlockQ4_0* y = static_cast<BlockQ4_0*>(out);
    for (size_t i = 0; i < k / qk; ++i, x += qk) {
        // max = the first element of largest magnitude, with its sign (ggml: `if (amax < |v|)`).
        // A pairwise (vectorizable) max of |x| then a search for its first occurrence give the
        // same element as ggml's loop for all non-NaN input.
        float a[qk];
        for (int j = 0; j < qk; ++j) a[j] = std::fabs(x[j]);
        for (int h = qk / 2; h > 0; h /= 2)
            for (int j = 0; j < h; ++j) a[j] = a[j] < a[j + h] ? a[j + h] : a[j];
        const float amax = a[0];
        float max = 0.0f;
        if (amax > 0.0f)
            for (int j = 0; j < qk; ++j)
                if (std::fabs(x[j]) == amax) {
                    max = x[j];
                    break;
                }
        const float d = max / -8;
        const float id = d != 0.f ? 1.0f / d : 0.0f;
        BlockQ4_0 b;
        b.d = fp32_to_fp16(d);
        for (int j = 0; j < qk / 2; ++j) {
            // x*id is in [-8, 8] so x*id + 8.5 is in [0.5, 16.5]: the int cast truncates (as ggml's
            // int8 cast), min caps 16 -> 15. The clamp only keeps the cast defined for NaN/inf input.
            const float x0 = x[j] * id;
            const float x1 = x[qk / 2 + j] * id;
            const int xi0 = std::min(15, int(std::min(std::max(0.f, x0 + 8.5f), 16.5f)));
            const int xi1 = std::min(15, int(std::min(std::max(0.f, x1 + 8.5f), 16.5f)));
            b.qs[j] = uint8_t(xi0 | (xi1 << 4));
        }
        std::memcpy(&y[i], &b, sizeof b);
    }
}

void quantize_row_q8_0(const float* x, void* out, size_t k) {
    constexpr int qk = BlockQ8_0::kElems;
    check_blocks(k, qk, "quantize_row_q8_0");
    BlockQ8_0* y = static_cast<BlockQ8_0*>(out);
    for (size_t i = 0; i < k / qk; ++i, x += qk) {
        float amax = 0.0f;
        for (int j = 0; j < qk; ++j) amax = std::max(amax, std::fabs(x[j]));
        const float d = amax / ((1 << 7) - 1);
        const float id = d != 0.f ? 1.0f / d : 0.0f;
        BlockQ8_0 b;
        b.d = fp32_to_fp16(d);
        for (int j = 0; j < qk; ++j) {
            const float x0 = x[j] * id;  // in [-127, 127] (NaN -> clamped)
            b.qs[j] = int8_t(std::roundf(clampf(x0, -127.f, 127.f)));
        }
        std::memcpy(&y[i], &b, sizeof b);
    }
}

void quantize_row_q4_0_mse(const float* x, void* out, size_t k) {
    constexpr int qk = BlockQ4_0::kElems;
    check_blocks(k, qk, "quantize_row_q4_0_mse");
    BlockQ4_0* y = static_cast<BlockQ4_0*>(out);
    for (size_t i = 0; i < k / qk; ++i, x += qk) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < qk; ++j) {
            if (amax < std::fabs(x[j])) {
                amax = std::fabs(x[j]);
                max = x[j];
            }
        }
        const float d = max / -8;
        BlockQ4_0 best;
        float best_err = q4_0_block_with_scale(x, d, best);  // s = 1.00
        for (int s = 99; s >= 70; --s) {
            BlockQ4_0 b;
            const float err = q4_0_block_with_scale(x, d * (float(s) / 100.f), b);
            if (err < best_err) {
                best_err = err;
                best = b;
            }
        }
        std::memcpy(&y[i], &best, sizeof best);
    }
}

void quantize_row_f16(const float* x, void* out, size_t k) {
    uint8_t* o = static_cast<uint8_t*>(out);
    for (size_t i = 0; i < k; ++i) {
        const uint16_t h = fp32_to_fp16(x[i]);
        std::memcpy(o + 2 * i, &h, 2);
    }
}

std::vector<float> dequantize_tensor(const gguf::TensorInfo& info) {
    VKRT_CHECK(info.data, Status::invalid_argument, "dequantize_tensor: tensor '", info.name, "' has no data");
    VKRT_CHECK(!info.dims.empty(), Status::invalid_argument, "dequantize_tensor: tensor '", info.name,
               "' has no dims");
    const uint64_t row = info.dims[0];
    const uint64_t rows = info.n_elements / row;
    const uint64_t rb = fmt::row_bytes(info.type, row);
    VKRT_CHECK(rows * row == info.n_elements && rb * rows == info.n_bytes, Status::invalid_argument,
               "dequantize_tensor: tensor '", info.name, "': inconsistent size");
    std::vector<float> out(size_t(info.n_elements));
    for (uint64_t r = 0; r < rows; ++r) fmt::dequantize_row(info.type, info.data + r * rb, out.data() + r * row, size_t(row));
    return out;
}

}  // namespace vkrt
