// Matrix products with GGUF weights (shaders/matvec.comp, shaders/matmul.comp,
// shaders/mmq.comp, shaders/quantize_q8_1.comp):
//   X (M,K) f32 . W (N,K)^T -> Y (M,N) f32,  Y[m,n] = sum_k X[m,k] * W[n,k]
// W holds N rows of K elements in the exact GGUF byte layout of its format (any format
// with GPU kernels in shaders/formats.def), as one or more parts of whole rows
// (ops/weights.hpp): the kernels run once per part. K must be a multiple of the
// format's block (32 or 256 elements; any K for F32/F16/BF16).
#pragma once
#include <cstdint>

#include "core/format.hpp"
#include "ops/weights.hpp"
#include "vk/buffer.hpp"
#include "vk/recorder.hpp"

namespace vkrt::ops {

enum class MatmulPath {
    auto_,     // GEMV (float32, or float16 math where preferred) for M <= 8, tiled GEMM otherwise;
               // the integer path when a scratch is given, the format has one (VKRT_K_INT) and
               // the device accelerates integer dot products
    gemv,      // matvec, float32 math (any M: columns are processed 8 at a time)
    gemv_f16,  // matvec with float16 products and sums per 16 elements, then float32 (the integer quants
               // of the VKRT_K_INT formats as float16; caps.fp16)
    gemm,      // shared-memory tiled GEMM, float32 (any M)
    gemv_int,  // X quantized to int8 per block of 32 into `scratch`, then OpSDot (VKRT_K_INT formats; caps.int_dot)
    mmq,       // X quantized as for gemv_int, then the int8-dot tiled GEMM (shaders/mmq.comp; VKRT_K_INT and
               // VKRT_K_MMQ formats, caps.int_dot); auto_ picks it for
               // M > 8 where the device accelerates integer dot products (and is not a CPU implementation)
};
const char* matmul_path_name(MatmulPath p);

// GEMM tiles (specialization constants of shaders/matmul.comp): the workgroup has
// (BM/TM)*(BN/TN) threads, each computing a TM x TN register tile. BM % TM == 0,
// BN % TN == 0, and gemm_shared_bytes of shared memory.
// split: parts of K (split-K, below): 1 = none, 0 = the runtime's choice (splitk_parts).
struct GemmTiles {
    uint32_t BM = 64, BN = 64, TM = 4, TN = 4, split = 1;
};
// Shared memory of matmul.comp with these tiles: 32*(BM+BN+2)*4 bytes (one X and one W
// stage of 32 along K, padded by one).
uint32_t gemm_shared_bytes(const GemmTiles& t);
// The tiles matmul picks for a device: the largest (up to 128x128) its invocation and
// shared-memory limits allow; split = 0 (per weight part, splitk_parts).
GemmTiles default_gemm_tiles(const Device& dev);

// Int8-dot GEMM tiles (specialization constants of shaders/mmq.comp): (BM/TM)*(BN/TN)
// threads, each a TM x TN register tile; BU 32-element units of K staged per step.
// split: parts of K as in GemmTiles.
struct MmqTiles {
    uint32_t BM = 64, BN = 64, TM = 4, TN = 4, BU = 2, split = 1;
};
// Shared memory of mmq.comp with these tiles, in bytes (its declarations, counted once;
// the arrays of the formats with mins, per unit or per 16 (Q2_K), included whatever the format).
uint32_t mmq_shared_bytes(const MmqTiles& t);
// The tiles for a device and M rows of X: the largest register and workgroup tile the
// device's invocation limit, subgroup size and shared memory allow (smaller BM for
// small M), BU (1 or 2) so that threads decode at most one unit of W per stage; split = 0.
MmqTiles default_mmq_tiles(const Device& dev, uint32_t M);
// Whether the int8-dot GEMM is the better choice for M rows on this device: M > 8, the
// device accelerates 4x8 integer dot products and is not a CPU implementation; or, with
// VKRT_MMQ=force in the environment (checks on lavapipe), wherever it can run.
bool mmq_preferred(const Device& dev, uint32_t M);

// ---- split-K: a GEMM whose output tiles are fewer than the device's compute units
// (caps.compute_units) would leave units idle; it runs as S products over parts of K
// (whole 32-element steps; whole stages of BU units for mmq), each writing (M,R) partial
// sums into the recorder's workspace (Recorder::workspace, S*M*R floats), and one
// reduction pass (shaders/splitk_reduce.comp) that adds them in order of the part.
// Parts of K the runtime picks for R output rows, M rows of X, K, and tiles BM x BN:
// 1 (no split) when the tiles fill the compute units or K is short; otherwise enough
// parts to fill them, each at least 8 steps of 32 along K, at most 16 parts and 64 MiB of
// partial sums.
uint32_t splitk_parts(const Device& dev, uint32_t M, uint32_t R, uint32_t K, uint32_t BM, uint32_t BN);

// Bytes of `scratch` the integer path needs for X (M,K): M*K int8 + M*(K/32) * 8
// bytes (per block: float d, int32 sum of the int8 values). 0 for other paths is fine.
uint64_t matmul_scratch_bytes(uint32_t M, uint32_t K);

// The path `auto_` resolves to for this device, format and shape (given whether a
// scratch of matmul_scratch_bytes(M, K) is available).
MatmulPath matmul_pick_path(const Device& dev, Format wtype, uint32_t M, uint32_t N, uint32_t K, bool have_scratch);

// ---- GEMV epilogues (a fused decode graph: the residual add and the gated activation
// done by the GEMV that produces their input, instead of separate passes over Y).
enum class Glu { none, swiglu, geglu };
struct MatmulEpilogue {
    // y = residual + X . W^T: residual (M,N) f32, may alias y (each element is read, then
    // written, by the same invocation). Unbound = no residual.
    BufferView residual;
    // W holds [gate rows (F); up rows (F)] (N = 2F rows, in one part) and
    // y (M,F) = act(X . gate^T) * (X . up^T), act = silu (swiglu) or gelu, tanh
    // approximation (geglu), as ref::swiglu / ref::geglu.
    Glu glu = Glu::none;
    // With a GLU on the GEMV (matmul_q8 / matmul's GEMV paths), F % 32 == 0: y's rows also
    // written as q8_1 activations (M, F) into q8 (>= matmul_scratch_bytes(M, F); the input
    // of an integer GEMV after it, no quantize_q8_1 pass), by the workgroup that completes
    // each block of 32 rows, counted in q8_arrivals (>= glu_q8_arrival_bytes(M, F), zero
    // before the call, Buffer::fill_zero; each call leaves it zero). Unbound = float y only.
    BufferView q8, q8_arrivals;
    bool active() const { return residual.buffer != nullptr || glu != Glu::none; }
};
// Bytes of MatmulEpilogue::q8_arrivals for M rows of F outputs: a counter per q8_1 block.
inline uint64_t glu_q8_arrival_bytes(uint32_t M, uint32_t F) { return uint64_t(M) * (F / 32) * 4; }

// X (M,K) f32 . W (N,K)^T -> Y (M,N) f32, with N = w.rows and K = w.cols.
// scratch: only for the integer path (>= matmul_scratch_bytes(M, K)); with MatmulPath::auto_
// an unbound or too small scratch just means the float paths. A forced path that the
// device or format cannot run throws Status::unsupported; bad shapes or operands throw
// Status::invalid_argument. Y must not alias X (or the scratch).
// epi: an epilogue (above) runs on the GEMV paths only: with one, auto_ picks the GEMV path
// for any M, and a forced gemm is Status::unsupported. Residual and GLU do not combine.
void matmul(Recorder& rec, const BufferView& x, const WeightView& w, const BufferView& y, uint32_t M,
            const BufferView& scratch = {}, MatmulPath path = MatmulPath::auto_, const MatmulEpilogue& epi = {});
// The same with W in one view.
void matmul(Recorder& rec, const BufferView& x, const BufferView& w, Format wtype, const BufferView& y, uint32_t M,
            uint32_t N, uint32_t K, const BufferView& scratch = {}, MatmulPath path = MatmulPath::auto_);

// The GEMM path with explicit tiles (tests, tuning).
void matmul_gemm(Recorder& rec, const BufferView& x, const WeightView& w, const BufferView& y, uint32_t M,
                 const GemmTiles& tiles);

// ---- cooperative-matrix GEMM (shaders/gemm_coopmat.comp): the float GEMM's product on
// 16x16x16 f16 x f16 + f32 -> f32 matrices, for devices that report that shape
// (VK_KHR_cooperative_matrix, Capabilities::coopmat_shapes). Path gemm takes it wherever
// gemm_coopmat_supported says so; the scalar tiles (matmul.comp) elsewhere.
bool gemm_coopmat_supported(const Device& dev);
// Y (M,N) = X (M,K) . W (N,K)^T in 32x32 tiles, split over `split` parts of K (0 = the
// runtime's choice); Status::unsupported on a device without the shape.
void matmul_gemm_coopmat(Recorder& rec, const BufferView& x, const WeightView& w, const BufferView& y, uint32_t M,
                         uint32_t split = 0);

// Only the activation quantization of the integer path:
// X (M,K) f32 -> scratch (matmul_scratch_bytes(M, K)), the q8_1 layout of shaders/shared/q8_1.h.
void quantize_q8_1(Recorder& rec, const BufferView& x, const BufferView& scratch, uint32_t M, uint32_t K);

// ---- the q8_1 activation buffer: X (M,K) quantized once (per norm) and read by every
// integer-path kernel that takes that input (layout: shaders/shared/q8_1.h).
struct Q8Activations {
    BufferView buf;  // >= matmul_scratch_bytes(M, K)
    uint32_t M = 0, K = 0;
};
// X (M,K) f32 -> xq.buf (quantize_q8_1 into a Q8Activations).
void quantize_q8_1(Recorder& rec, const BufferView& x, const Q8Activations& xq);
// XQ (M,K) . W (N,K)^T -> Y (M,N) f32 from already-quantized activations: the integer
// paths only (formats flagged VKRT_K_INT, caps.int_dot; otherwise Status::unsupported; formats
// flagged VKRT_K_MMQ only where the int8-dot GEMM is taken):
// the int8-dot GEMM where mmq_preferred(M) and there is no epilogue, the integer GEMV otherwise.
void matmul_q8(Recorder& rec, const Q8Activations& xq, const WeightView& w, const BufferView& y,
               const MatmulEpilogue& epi = {});
// The int8-dot GEMM (shaders/mmq.comp) with explicit tiles (tests, tuning): any M.
void matmul_mmq(Recorder& rec, const Q8Activations& xq, const WeightView& w, const BufferView& y,
                const MmqTiles& tiles);
// The int8-dot GEMM's product with its integer sums on 16x16x16 s8 x s8 -> s32 cooperative
// matrices (mmq.comp MMQ_CM, variants mmq_<fmt>_cm; the same integer sums and epilogue):
// where mmq_coopmat_supported, matmul_q8 and matmul's mmq path take it instead of
// matmul_mmq. 32x32 tiles, split over `split` parts of K (0 = the runtime's choice).
bool mmq_coopmat_supported(const Device& dev);
void matmul_mmq_coopmat(Recorder& rec, const Q8Activations& xq, const WeightView& w, const BufferView& y,
                        uint32_t split = 0);

}  // namespace vkrt::ops
