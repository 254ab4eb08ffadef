// W8A8 (SmoothQuant) GEMM: int8 activations x int8 weights, int32 accumulation
// (shaders/gemm_int8.comp). Operands use the packed int8 layout of
// ops/quantize.hpp: a (rows, K) int8 matrix is rows * ceil(K/4) uint32 words,
// element k of a row is byte (k & 3) of word k/4, zero bytes past K.
//
// Paths (picked per call; every one is exact in its int32 accumulators):
//   tiled: any M; shared-memory tiles, a register tile per thread.
//   gemv:  M <= 8 (decode); a workgroup per few output columns, K reduced across
//          the workgroup with subgroups (caps.subgroup) or shared memory.
// Each path has an OpSDot variant (caps.int_dot) and an unpack-and-multiply one.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "vk/buffer.hpp"
#include "vk/recorder.hpp"

namespace vkrt::ops {

enum class GemmInt8Path {
    automatic,  // gemv for M <= 8, coopmat where supported, tiled otherwise
    tiled,
    gemv,       // only for M <= 8
    coopmat,    // cooperative matrices (gemm_int8_coopmat_supported), any M
};

// The device reports 16x16x16 s8 x s8 + s32 -> s32 cooperative matrices (subgroup scope)
// and shaderInt8: the W8A8 GEMM then runs on them (shaders/gemm_int8.comp COOPMAT).
bool gemm_int8_coopmat_supported(const Device& dev);

// Xq (M,K) int8 . Wq (N,K)^T int8 -> acc (M,N) int32, then
// Y (M,N) float = (float(acc[m,n]) * sx[m]) * sw[n] (+ bias[n] when `bias` is bound)
//   xq: M*ceil(K/4) words, sx (M) float, wq: N*ceil(K/4) words, sw (N) float,
//   bias (N) float or an unbound BufferView{}, y (M,N) float.
// Asymmetric activations (ops::quantize_rows_asym_i8: Xq holds q' = q - 128, xzp = zp - 128):
//   bind xzp (M) int32 and wsum (N) int32 = sum_k Wq[n,k] (int8_row_sums) together; then
//   acc[m,n] = sum_k Xq[m,k] * Wq[n,k] - xzp[m] * wsum[n]  (exact int32; = sum_k (q - zp) * Wq)
//   and Y as above: Y[m,n] ~= sum_k (sx[m] (q[m,k] - zp[m])) (sw[n] Wq[n,k]) (+ bias[n])
//   (exactly vkrt::ref::gemm_i8_asym). Both unbound (the default) = symmetric.
// K <= 133144 (int32 accumulators cannot overflow); asymmetric K <= 66311 (255*127*K < 2^31).
void gemm_int8(Recorder& rec, const BufferView& xq, const BufferView& sx, const BufferView& wq, const BufferView& sw,
               const BufferView& bias, const BufferView& y, uint32_t M, uint32_t N, uint32_t K,
               GemmInt8Path path = GemmInt8Path::automatic, const BufferView& xzp = {}, const BufferView& wsum = {});

// Xq (M,K) int8 . Wq (N,K)^T int8 -> acc (M,N) int32, written raw (tests, debugging;
// bit-exact to vkrt::ref::gemm_i8_i32). With xzp (M) and wsum (N) int32 bound, the corrected
// acc[m,n] - xzp[m] * wsum[n] (bit-exact to vkrt::ref::gemm_i8_i32_asym).
void gemm_int8_i32(Recorder& rec, const BufferView& xq, const BufferView& wq, const BufferView& acc, uint32_t M,
                   uint32_t N, uint32_t K, GemmInt8Path path = GemmInt8Path::automatic, const BufferView& xzp = {},
                   const BufferView& wsum = {});

// Wq (N,K) packed int8 -> wsum (N) int32 = sum_{k<K} Wq[n,k] (exact; bytes past K ignored).
// Run once when an asymmetric-activation model is loaded. Same as vkrt::ref::row_sums_i8.
void int8_row_sums(Recorder& rec, const BufferView& wq, const BufferView& wsum, uint32_t N, uint32_t K);

// Host version for a loader that has the weight bytes: Wq (N,K) int8, row-major
// (GGUF I8 layout, not packed) -> wsum (N) int32 = sum_k Wq[n,k].
std::vector<int32_t> int8_row_sums(std::span<const int8_t> wq, uint32_t N, uint32_t K);

}  // namespace vkrt::ops
