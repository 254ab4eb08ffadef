#include "ops/matmul.hpp"

#include <algorithm>
#include <cstdlib>
#include <string_view>

#include "ops/dispatch.hpp"
#include "shared/matmul.h"
#include "shared/q8_1.h"
#include "vk/shaders.hpp"

namespace vkrt::ops {

namespace {

using spv::Family;
using spv::Path;

bool is_block(Format t) { return fmt::traits(t).block_elems > 1; }
// The integer GEMV (and the float16 GEMV, which multiplies the same integer quants).
bool has_int_path(Format t) { return (fmt::traits(t).kernels & fmt::kKernelInt) != 0; }
// The int8-dot GEMM: the formats with the integer GEMV, and those flagged VKRT_K_MMQ.
bool has_mmq_path(Format t) { return (fmt::traits(t).kernels & (fmt::kKernelInt | fmt::kKernelMmq)) != 0; }

// Shape, format and operand checks shared by every path; y has y_cols columns (default N).
void check_common(const char* kernel, const BufferView& x, const WeightView& w, const BufferView& y, uint32_t M,
                  uint32_t y_cols = 0) {
    check_weight(w, kernel);
    const uint32_t N = w.rows, K = w.cols;
    VKRT_CHECK(M > 0, Status::invalid_argument, kernel, ": empty shape (M,N,K) = (", M, ",", N, ",", K, ")");
    // Flat indices in the shaders are 32-bit.
    VKRT_CHECK(uint64_t(M) * K < (uint64_t(1) << 32) && uint64_t(M) * N < (uint64_t(1) << 32), Status::limit_exceeded,
               kernel, ": (M,N,K) = (", M, ",", N, ",", K, ") is too large for 32-bit indexing");
    require_bytes(x, uint64_t(M) * K * 4, kernel, "x");
    require_bytes(y, uint64_t(M) * (y_cols ? y_cols : N) * 4, kernel, "y");
}

// 32-element units of a row (block formats), words (16-bit formats, even K) or elements:
// what one GEMV thread takes at a time.
uint32_t gemv_units(Format t, uint32_t K) {
    return is_block(t) ? K / 32 : (fmt::traits(t).block_bytes == 2 && K % 2 == 0) ? K / 2 : K;
}

constexpr uint32_t kGemvRows = 2;  // output rows per GEMV workgroup
constexpr uint32_t kGemvCols = 8;  // max columns of X per GEMV workgroup

// Threads (L), output rows and columns of X of one GEMV workgroup (shaders/matvec.comp).
struct GemvShape {
    uint32_t L, rows, cols;
};

GemvShape gemv_shape(const Device& dev, Format t, uint32_t K, uint32_t M) {
    const auto& caps = dev.caps();
    // Threads: enough to cover one row's units once, 32..128, a power of two (the
    // shared-memory tree needs one). Columns: M rounded up to 1, 2, 4 or 8 (few pipelines;
    // a padded column re-reads column M-1 and is not stored).
    const uint32_t units = gemv_units(t, K);
    GemvShape s{units <= 32 ? 32u : units <= 64 ? 64u : 128u, kGemvRows, M >= 5 ? kGemvCols : M >= 3 ? 4 : M};
    if (!caps.cpu_tuning) return s;
    // CPU implementations (lavapipe) run a workgroup as SIMD batches of one subgroup and pay
    // for every batch and every workgroup, idle or not (prefill of a 256-wide model: 32
    // threads for 8 units, 8192 workgroups of 2x8 outputs per matrix). There a workgroup
    // has as few threads as cover the units (at least one subgroup). The sums stay the same
    // bit for bit: every thread takes the same units as with the wider workgroup, and the
    // threads left out only held zeros (adding a zero changes no sum).
    const uint32_t floor = std::max<uint32_t>(caps.subgroup_size, 1);
    uint32_t L = floor;
    while (L < units && L < s.L) L *= 2;
    s.L = L;
    // Prefill with workgroups of at most 32 threads (block formats up to K = 1024): 4 rows x
    // 32 columns a workgroup (rows*cols*L floats of shared memory: 16 KiB at most), 2x fewer
    // CPU seconds on a 256-wide Q4_K model. Wider workgroups (float weights) keep 2 x 8:
    // more accumulators per thread measured slower there.
    if (M > 8 && s.L <= 32 && 4u * 32u * s.L * 4u <= caps.shared_memory) {
        s.rows = 4;
        s.cols = 32;
    }
    return s;
}

using shader::MatmulPush;

// The epilogue's operands against the product's shape (N = the weight's rows); returns
// the kernel's EPI constant (shaders/shared/matmul.h).
uint32_t check_epilogue(const char* kernel, const MatmulEpilogue& epi, const WeightView& w, const BufferView& y,
                        uint32_t M) {
    if (!epi.active()) return shader::kEpiNone;
    VKRT_CHECK(epi.glu == Glu::none || epi.residual.buffer == nullptr, Status::invalid_argument, kernel,
               ": an epilogue has a residual or a GLU, not both");
    if (epi.glu == Glu::none) {
        require_bytes(epi.residual, uint64_t(M) * w.rows * 4, kernel, "residual");
        return shader::kEpiResidual;
    }
    VKRT_CHECK(w.rows % 2 == 0, Status::invalid_argument, kernel, ": a GLU weight holds [gate; up]: 2F rows, not ",
               w.rows);
    VKRT_CHECK(w.parts.size() == 1, Status::unsupported, kernel, ": a GLU weight must be bound as one part (",
               w.parts.size(), " parts: gate and up rows in different bindings)");
    require_bytes(y, uint64_t(M) * (w.rows / 2) * 4, kernel, "y");
    if (epi.q8.buffer) {
        const uint32_t F = w.rows / 2;
        VKRT_CHECK(F % shader::kQ8Block == 0, Status::invalid_argument, kernel, ": q8_1 GLU output needs F % 32 == 0, F = ",
                   F);
        require_bytes(epi.q8, matmul_scratch_bytes(M, F), kernel, "q8");
        require_bytes(epi.q8_arrivals, glu_q8_arrival_bytes(M, F), kernel, "q8_arrivals");
    }
    return epi.glu == Glu::swiglu ? shader::kEpiSwiglu : shader::kEpiGeglu;
}

// One dispatch per weight part; `sg`/`nosg` pick the variant by the subgroup capability.
// q8 / q8_arrivals: the GLU epilogue's q8_1 output (MatmulEpilogue), unbound = none.
void dispatch_gemv(Recorder& rec, Path sg, Path nosg, const BufferView& xbind, const WeightView& w,
                   const BufferView& y, uint32_t M, uint32_t epi = shader::kEpiNone, const BufferView& residual = {},
                   const BufferView& q8 = {}, const BufferView& q8_arrivals = {}) {
    Device& dev = rec.device();
    const auto& caps = dev.caps();
    GemvShape sh = gemv_shape(dev, w.type, w.cols, M);
    const bool glu = epi == shader::kEpiSwiglu || epi == shader::kEpiGeglu;
    // A GLU workgroup holds the gate and the up rows of its outputs: twice the rows, so as
    // many outputs as without (where the shared memory allows).
    if (glu && 2 * sh.rows * sh.cols * sh.L * 4 <= caps.shared_memory) sh.rows *= 2;
    const uint32_t outs = glu ? sh.rows / 2 : sh.rows;  // output rows per workgroup
    // The q8_1 GLU output: a workgroup's rows must lie in one block of 32.
    const bool q8_out = glu && q8.buffer != nullptr;
    VKRT_CHECK(!q8_out || shader::kQ8Block % outs == 0, Status::internal, "matmul: ", outs,
               " output rows a workgroup do not divide a q8_1 block");
    // ROLLED (id 5): the float path's form for compilers that keep loops rolled (Arm Mali);
    // EPI_Q8 (id 6): the GLU's q8_1 output.
    const Pipeline& p = dev.pipeline(spv::format_kernel(Family::matvec, w.type, caps.subgroup ? sg : nosg),
                                     {sh.L, sh.rows, sh.cols, uint32_t(w.layout), epi, caps.unrolls_loops ? 0u : 1u,
                                      q8_out ? 1u : 0u});
    const BufferView& res = residual.buffer ? residual : y;  // bound either way; read only with kEpiResidual
    // Bound either way; touched only with EPI_Q8.
    const BufferView& yq = q8_out ? q8 : y;
    const BufferView& arrivals = q8_out ? q8_arrivals : y;
    for (const WeightPart& part : w.parts) {
        Groups g = groups_1d(dev, glu ? part.rows / 2 : part.rows, outs);
        g.z = div_up(M, sh.cols);
        VKRT_CHECK(g.z <= caps.max_workgroup_count[2], Status::limit_exceeded, "matmul: M = ", M,
                   " needs more workgroups in z than the device allows");
        const MatmulPush pc = glu ? MatmulPush{M, w.rows / 2, w.cols, part.rows, 0}
                                  : MatmulPush{M, w.rows, w.cols, part.rows, part.row0};
        rec.dispatch(p, {part.view, xbind, y, res, yq, arrivals}, pc, g);
    }
}

// Operand checks of the kernels that read the q8_1 activation buffer.
// y_cols: columns of Y (w.rows; half of them for a GLU epilogue).
void check_q8_operands(const char* kernel, const Device& dev, const Q8Activations& xq, const WeightView& w,
                       const BufferView& y, uint32_t y_cols = 0, bool mmq = false) {
    check_weight(w, kernel);
    const auto& caps = dev.caps();
    const char* t = fmt::name(w.type);
    VKRT_CHECK(xq.M > 0 && xq.K == w.cols, Status::invalid_argument, kernel, ": activations (", xq.M, ",", xq.K,
               ") do not match weight '", t, "' (", w.rows, ",", w.cols, ")");
    VKRT_CHECK(mmq ? has_mmq_path(w.type) : has_int_path(w.type), Status::unsupported, kernel, ": no integer ",
               mmq ? "GEMM" : "GEMV", " for ", t, " weights (formats.def: VKRT_K_INT",
               mmq ? " or VKRT_K_MMQ)" : "; VKRT_K_MMQ formats have only the GEMM, for M > 8 without epilogue)");
    VKRT_CHECK(caps.int_dot, Status::unsupported, kernel, ": needs integer dot products, which ", caps.name,
               " does not offer");
    // Flat indices in the shaders are 32-bit.
    VKRT_CHECK(uint64_t(xq.M) * xq.K < (uint64_t(1) << 32) && uint64_t(xq.M) * w.rows < (uint64_t(1) << 32),
               Status::limit_exceeded, kernel, ": (M,N,K) = (", xq.M, ",", w.rows, ",", xq.K,
               ") is too large for 32-bit indexing");
    require_bytes(xq.buf, matmul_scratch_bytes(xq.M, xq.K), kernel, "xq");
    require_bytes(y, uint64_t(xq.M) * (y_cols ? y_cols : w.rows) * 4, kernel, "y");
}

}  // namespace

const char* matmul_path_name(MatmulPath p) {
    switch (p) {
        case MatmulPath::auto_: return "auto";
        case MatmulPath::gemv: return "gemv";
        case MatmulPath::gemv_f16: return "gemv_f16";
        case MatmulPath::gemm: return "gemm";
        case MatmulPath::gemv_int: return "gemv_int";
        case MatmulPath::mmq: return "mmq";
    }
    return "?";
}

uint32_t gemm_shared_bytes(const GemmTiles& t) {
    // matmul.comp: xs[32 * (BM + 1)] and ws[32 * (BN + 1)] floats, nothing else.
    return 32u * (t.BM + t.BN + 2u) * 4u;
}

GemmTiles default_gemm_tiles(const Device& dev) {
    const auto& caps = dev.caps();
    // Largest tile first, up to 128x128 (8x8 per thread, 256 threads, 33 KiB: 48 KiB
    // devices); then the tiles for 32 KiB and 128-invocation devices.
    static constexpr GemmTiles kCandidates[] = {
        {128, 128, 8, 8}, {128, 64, 8, 4}, {64, 64, 4, 4}, {64, 64, 8, 4}, {32, 32, 2, 2}, {32, 32, 4, 4},
    };
    for (GemmTiles t : kCandidates)
        if ((t.BM / t.TM) * (t.BN / t.TN) <= caps.max_workgroup_invocations &&
            gemm_shared_bytes(t) <= caps.shared_memory) {
            t.split = 0;
            return t;
        }
    return {16, 16, 4, 4, 0};  // 16 threads, 4.3 KiB: within every Vulkan device's minimum limits
}

// ---- split-K (both GEMMs; shaders/splitk_reduce.comp)

constexpr uint32_t kSplitMinSteps = 8;                // 32-element steps of K per part, at least
constexpr uint32_t kSplitMaxParts = 16;
constexpr uint64_t kSplitMaxFloats = uint64_t(16) << 20;  // partial sums: 64 MiB at most

uint32_t splitk_parts(const Device& dev, uint32_t M, uint32_t R, uint32_t K, uint32_t BM, uint32_t BN) {
    const uint64_t tiles = uint64_t(div_up(R, BN)) * div_up(M, BM);
    const uint32_t cu = std::max<uint32_t>(dev.caps().compute_units, 1), steps = div_up(K, 32);
    if (tiles >= cu || steps < 2 * kSplitMinSteps) return 1;
    uint64_t S = std::min<uint64_t>({div_up(cu, tiles), steps / kSplitMinSteps, kSplitMaxParts,
                                     kSplitMaxFloats / (uint64_t(M) * R)});
    return S < 2 ? 1 : uint32_t(S);
}

namespace {

// Parts of K one GEMM dispatch runs as (the shaders' gl_NumWorkGroups.z): `split` (0 = the
// runtime's choice) parts of `steps` steps, each ceil(steps / split) rounded up to whole
// stages of `stage` steps; parts past the end are dropped (the shader derives the same
// part length from the count: ceil(steps / count) rounds to the same length).
uint32_t split_count(const Device& dev, uint32_t split, uint32_t M, uint32_t R, uint32_t K, uint32_t BM, uint32_t BN,
                     uint32_t stage) {
    if (split == 0) split = splitk_parts(dev, M, R, K, BM, BN);
    const uint32_t steps = div_up(K, 32), per = div_up(div_up(steps, split), stage) * stage;
    return div_up(steps, per);
}

// One GEMM dispatch of a weight part (groups g in x, y), split over S parts of K: the
// product into the recorder's workspace (S, M, R), then the reduction into Y; S = 1: the
// product straight into Y.
void dispatch_gemm_part(Recorder& rec, const Pipeline& p, const BufferView& w, const BufferView& x,
                        const BufferView& y, const MatmulPush& pc, Groups g, uint32_t S, const char* kernel) {
    Device& dev = rec.device();
    const auto& caps = dev.caps();
    VKRT_CHECK(g.x <= caps.max_workgroup_count[0] && g.y <= caps.max_workgroup_count[1] &&
                   S <= caps.max_workgroup_count[2],
               Status::limit_exceeded, kernel, ": (M,N) = (", pc.M, ",", pc.N, ") in ", S,
               " parts of K needs more workgroups than the device allows");
    if (S <= 1) {
        rec.dispatch(p, {w, x, y}, pc, g);
        return;
    }
    const BufferView part = rec.workspace(uint64_t(S) * pc.M * pc.R * 4);
    g.z = S;
    rec.dispatch(p, {w, x, part}, pc, g);
    constexpr uint32_t kLocal = 256;
    const uint32_t local = fit_local(caps, kLocal);
    rec.dispatch(dev.pipeline(spv::Variant::splitk_reduce, {local}), {part, y},
                 shader::SplitKPush{pc.M, pc.N, pc.R, pc.base, S}, groups_1d(dev, uint64_t(pc.M) * pc.R, local));
}

}  // namespace

// ---- int8-dot GEMM (shaders/mmq.comp)

uint32_t mmq_shared_bytes(const MmqTiles& t) {
    // xs_q, ws_q: BU*8 words per row, rows padded by one; per unit and row of X xs_d and
    // xs_s (a min per unit) or xs_h (Q2_K: ivec2) beside it; per unit and row of W ws_d,
    // ws_m, ws_sc (ivec2) and ws_mh (Q2_K: ivec2). The largest of the variants.
    const uint64_t words = uint64_t(t.BU) * 8 * (t.BM + 1) + uint64_t(t.BU) * 8 * (t.BN + 1) +
                           3ull * t.BU * t.BM + 6ull * t.BU * t.BN;
    return uint32_t(std::min<uint64_t>(words * 4, UINT32_MAX));
}

MmqTiles default_mmq_tiles(const Device& dev, uint32_t M) {
    const auto& caps = dev.caps();
    // Register tiles of at most 8x4 outputs (8 rows of X, 4 of W): per thread TM*TN int
    // sums (twice for the formats with a scale per 16 elements) and as many float
    // accumulators. Mesa 25.0's RADV (GPU-compilers harness, 2026-12-06) gives the 8x4
    // tile with BU = 2 96 VGPRs on RDNA3 (144 for Q3_K / Q6_K; 128 / 236 on GCN5), no
    // spills; a 4x8 tile or BU = 4 cost 168-192 on RDNA3, so neither is chosen. Largest
    // workgroup tile first; a BM well above M would only compute padding.
    static constexpr MmqTiles kCandidates[] = {
        {128, 64, 8, 4, 1}, {64, 64, 4, 4, 1}, {64, 64, 8, 4, 1}, {32, 64, 4, 4, 1}, {32, 32, 4, 4, 1}, {16, 16, 4, 4, 1},
    };
    const uint32_t bm_cap = M <= 16 ? 16 : M <= 32 ? 32 : M <= 64 ? 64 : 128;
    const uint32_t sg = std::max<uint32_t>(caps.subgroup_size, 1);
    for (MmqTiles t : kCandidates) {
        const uint32_t L = (t.BM / t.TM) * (t.BN / t.TN);
        if (t.BM > bm_cap || L > caps.max_workgroup_invocations || (L % sg != 0 && L > sg)) continue;
        // BU: up to one unit of W decoded per thread and stage, 1..2 (registers, above), as
        // shared memory allows.
        t.BU = std::clamp<uint32_t>(L / t.BN, 1, 2);
        while (t.BU > 1 && mmq_shared_bytes(t) > caps.shared_memory) t.BU /= 2;
        t.split = 0;
        if (mmq_shared_bytes(t) <= caps.shared_memory) return t;
    }
    return {16, 16, 4, 4, 1, 0};  // 16 threads, 3 KiB: within every Vulkan device's minimum limits
}

// VKRT_MMQ=force: the int8-dot GEMM wherever it can run (M > 8, integer dot products,
// accelerated or not, CPU implementations included), so that whole models run it on
// lavapipe (which reports no acceleration): a diagnostic switch for tests and checks.
bool mmq_forced() {
    static const bool forced = [] {
        const char* e = std::getenv("VKRT_MMQ");
        return e != nullptr && std::string_view(e) == "force";
    }();
    return forced;
}

bool mmq_preferred(const Device& dev, uint32_t M) {
    const auto& caps = dev.caps();
    return M > 8 && caps.int_dot && ((caps.int_dot_accelerated && !caps.cpu_tuning) || mmq_forced());
}

void matmul_mmq(Recorder& rec, const Q8Activations& xq, const WeightView& w, const BufferView& y,
                const MmqTiles& t) {
    check_q8_operands("matmul (mmq)", rec.device(), xq, w, y, 0, true);
    Device& dev = rec.device();
    const auto& caps = dev.caps();
    VKRT_CHECK(t.TM > 0 && t.TN > 0 && t.BM % t.TM == 0 && t.BN % t.TN == 0 && t.BU >= 1 && t.BU <= 8 &&
                   t.split <= 64,
               Status::invalid_argument, "matmul (mmq): tiles BM ", t.BM, " BN ", t.BN, " must be multiples of TM ",
               t.TM, " TN ", t.TN, ", BU ", t.BU, " in 1..8, split ", t.split, " in 0..64");
    const uint32_t L = (t.BM / t.TM) * (t.BN / t.TN);
    VKRT_CHECK(L <= caps.max_workgroup_invocations && mmq_shared_bytes(t) <= caps.shared_memory, Status::unsupported,
               "matmul (mmq): tiles ", t.BM, "x", t.BN, " (", L, " threads, ", mmq_shared_bytes(t),
               " bytes of shared memory) exceed the device's limits");
    const Pipeline& p =
        dev.pipeline(spv::format_kernel(Family::mmq, w.type, Path::plain), {L, t.BM, t.BN, t.TM, t.TN, t.BU, uint32_t(w.layout)});
    for (const WeightPart& part : w.parts) {
        const uint32_t S = split_count(dev, t.split, xq.M, part.rows, w.cols, t.BM, t.BN, t.BU);
        dispatch_gemm_part(rec, p, part.view, xq.buf, y, MatmulPush{xq.M, w.rows, w.cols, part.rows, part.row0},
                           Groups{div_up(part.rows, t.BN), div_up(xq.M, t.BM), 1}, S, "matmul (mmq)");
    }
}

// ---- int8 GEMM on cooperative matrices (shaders/mmq.comp MMQ_CM)

bool mmq_coopmat_supported(const Device& dev) {
    const auto& caps = dev.caps();
    constexpr uint32_t kS8 = 3, kS32 = 5;  // VkComponentTypeKHR
    // 16x16x16 s8 fragments, int8 shared tiles (shaderInt8), OpSDot for Q2_K's half sums,
    // one subgroup a workgroup covering the 32 x 32 tile in 16, 32 or 64 threads.
    const uint32_t sg = caps.subgroup_size;
    return caps.int8 && caps.int_dot && caps.has_coopmat(16, 16, 16, kS8, kS8, kS32, kS32) &&
           (sg == 16 || sg == 32 || sg == 64) && sg <= caps.max_workgroup_invocations;
}

void matmul_mmq_coopmat(Recorder& rec, const Q8Activations& xq, const WeightView& w, const BufferView& y,
                        uint32_t split) {
    check_q8_operands("matmul (mmq_cm)", rec.device(), xq, w, y, 0, true);
    Device& dev = rec.device();
    const auto& caps = dev.caps();
    VKRT_CHECK(mmq_coopmat_supported(dev), Status::unsupported, "matmul (mmq_cm): needs 16x16x16 s8 x s8 -> s32 ",
               "cooperative matrices (VK_KHR_cooperative_matrix), shaderInt8 and a subgroup of 16, 32 or 64, which ",
               caps.name, " does not offer", caps.forced_no_coopmat ? " (VKRT_DISABLE=coopmat)" : "");
    VKRT_CHECK(split <= 64, Status::invalid_argument, "matmul (mmq_cm): split ", split, " not in 0..64");
    // 32 x 32 tiles, 2 units (64 elements of K) a stage; the register tile covers the tile
    // with one subgroup: 4x4 outputs a thread at 64 lanes, 8x4 at 32, 8x8 at 16.
    const uint32_t L = caps.subgroup_size, T = 32, BU = 2, TM = L == 64 ? 4 : 8, TN = L == 16 ? 8 : 4;
    const Pipeline& p = dev.pipeline(spv::format_kernel(Family::mmq, w.type, Path::cm),
                                     {L, T, T, TM, TN, BU, uint32_t(w.layout)});
    for (const WeightPart& part : w.parts) {
        const uint32_t S = split_count(dev, split, xq.M, part.rows, w.cols, T, T, BU);
        dispatch_gemm_part(rec, p, part.view, xq.buf, y, MatmulPush{xq.M, w.rows, w.cols, part.rows, part.row0},
                           Groups{div_up(part.rows, T), div_up(xq.M, T), 1}, S, "matmul (mmq_cm)");
    }
}

namespace {
// The int8 GEMM the runtime runs: on cooperative matrices where supported, else the
// OpSDot tiles.
void run_mmq(Recorder& rec, const Q8Activations& xq, const WeightView& w, const BufferView& y) {
    if (mmq_coopmat_supported(rec.device())) matmul_mmq_coopmat(rec, xq, w, y);
    else matmul_mmq(rec, xq, w, y, default_mmq_tiles(rec.device(), xq.M));
}
}  // namespace

uint64_t matmul_scratch_bytes(uint32_t M, uint32_t K) { return uint64_t(M) * K + uint64_t(M) * (K / 32) * 8; }

MatmulPath matmul_pick_path(const Device& dev, Format wtype, uint32_t M, uint32_t N, uint32_t K, bool have_scratch) {
    const auto& caps = dev.caps();
    // CPU implementations (lavapipe, SwiftShader) run the shared-memory tiles and their
    // barriers slowly: there the GEMV, 8 columns of x per pass over W, is 4x faster
    // for prefill (vkrt-bench --kernels on llvmpipe).
    if (M > 8 && have_scratch && has_mmq_path(wtype) && mmq_preferred(dev, M)) return MatmulPath::mmq;
    if (M > 8 && !caps.cpu_tuning) return MatmulPath::gemm;
    if (M > 8) return MatmulPath::gemv;
    if (!is_block(wtype)) return MatmulPath::gemv;
    if (have_scratch && has_int_path(wtype) && caps.int_dot && caps.int_dot_accelerated) return MatmulPath::gemv_int;
    // float16 math pays where ALU (not bandwidth) is the limit: integrated / mobile GPUs
    // (2x fp16 rate). Discrete GPUs and CPU implementations keep float32; so do compilers
    // that keep loops rolled (Arm Mali), for which only the float path has a form without
    // unit arrays (matvec.comp ROLLED).
    if (has_int_path(wtype) && caps.fp16 && caps.unrolls_loops && caps.type == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU)
        return MatmulPath::gemv_f16;
    return MatmulPath::gemv;
}

void quantize_q8_1(Recorder& rec, const BufferView& x, const BufferView& scratch, uint32_t M, uint32_t K) {
    VKRT_CHECK(M > 0 && K > 0 && K % 32 == 0, Status::invalid_argument, "quantize_q8_1: (M,K) = (", M, ",", K,
               "): K must be a positive multiple of 32");
    require_bytes(x, uint64_t(M) * K * 4, "quantize_q8_1", "x");
    require_bytes(scratch, matmul_scratch_bytes(M, K), "quantize_q8_1", "scratch");
    constexpr uint32_t kLocal = 64;
    const Pipeline& p = rec.device().pipeline(spv::Variant::quantize_q8_1, {kLocal});
    rec.dispatch(p, {x, scratch}, shader::Q8Push{M, K}, groups_1d(rec.device(), uint64_t(M) * (K / 32), kLocal));
}

void quantize_q8_1(Recorder& rec, const BufferView& x, const Q8Activations& xq) {
    quantize_q8_1(rec, x, xq.buf, xq.M, xq.K);
}

void matmul_q8(Recorder& rec, const Q8Activations& xq, const WeightView& w, const BufferView& y,
               const MatmulEpilogue& epi) {
    // The int8-dot GEMM for prefill where the device accelerates it (no epilogue: those
    // are the GEMV's); the GEMV takes any M (8 columns of X per pass over W).
    const bool gemm = !epi.active() && mmq_preferred(rec.device(), xq.M);
    check_q8_operands("matmul_q8", rec.device(), xq, w, y, epi.glu != Glu::none ? w.rows / 2 : w.rows, gemm);
    const uint32_t e = check_epilogue("matmul_q8", epi, w, y, xq.M);
    if (gemm) {
        run_mmq(rec, xq, w, y);
        return;
    }
    dispatch_gemv(rec, Path::int_, Path::int_nosg, xq.buf, w, y, xq.M, e, epi.residual, epi.q8, epi.q8_arrivals);
}

void matmul_gemm(Recorder& rec, const BufferView& x, const WeightView& w, const BufferView& y, uint32_t M,
                 const GemmTiles& t) {
    check_common("matmul (gemm)", x, w, y, M);
    Device& dev = rec.device();
    const auto& caps = dev.caps();
    VKRT_CHECK(t.TM > 0 && t.TN > 0 && t.BM % t.TM == 0 && t.BN % t.TN == 0 && t.split <= 64,
               Status::invalid_argument, "matmul (gemm): tiles BM ", t.BM, " BN ", t.BN, " must be multiples of TM ",
               t.TM, " TN ", t.TN, ", split ", t.split, " in 0..64");
    const uint32_t L = (t.BM / t.TM) * (t.BN / t.TN);
    VKRT_CHECK(L <= caps.max_workgroup_invocations && gemm_shared_bytes(t) <= caps.shared_memory,
               Status::unsupported, "matmul (gemm): tiles ", t.BM, "x", t.BN, " exceed the device's limits");
    const Pipeline& p =
        dev.pipeline(spv::format_kernel(Family::gemm, w.type, Path::plain), {L, t.BM, t.BN, t.TM, t.TN, uint32_t(w.layout)});
    for (const WeightPart& part : w.parts) {
        const uint32_t S = split_count(dev, t.split, M, part.rows, w.cols, t.BM, t.BN, 1);
        dispatch_gemm_part(rec, p, part.view, x, y, MatmulPush{M, w.rows, w.cols, part.rows, part.row0},
                           Groups{div_up(part.rows, t.BN), div_up(M, t.BM), 1}, S, "matmul (gemm)");
    }
}

// ---- cooperative-matrix GEMM (shaders/gemm_coopmat.comp)

namespace {
constexpr uint32_t kCoopmatTile = 32;  // BM = BN of gemm_coopmat.comp
// VkComponentTypeKHR
constexpr uint32_t kCtF16 = 0, kCtF32 = 1;
}  // namespace

bool gemm_coopmat_supported(const Device& dev) {
    const auto& caps = dev.caps();
    // The kernel's fragments (16x16x16, f16 inputs, f32 sums), its float16 shared tiles,
    // and one subgroup of the device's size a workgroup (at least 4 lanes: the staging
    // loops assume nothing more).
    return caps.fp16 && caps.has_coopmat(16, 16, 16, kCtF16, kCtF16, kCtF32, kCtF32) && caps.subgroup_size >= 4 &&
           caps.subgroup_size <= caps.max_workgroup_invocations;
}

void matmul_gemm_coopmat(Recorder& rec, const BufferView& x, const WeightView& w, const BufferView& y, uint32_t M,
                         uint32_t split) {
    check_common("matmul (gemm_cm)", x, w, y, M);
    Device& dev = rec.device();
    const auto& caps = dev.caps();
    VKRT_CHECK(gemm_coopmat_supported(dev), Status::unsupported, "matmul (gemm_cm): needs 16x16x16 f16 x f16 -> f32 ",
               "cooperative matrices (VK_KHR_cooperative_matrix) and shaderFloat16, which ", caps.name,
               " does not offer", caps.forced_no_coopmat ? " (VKRT_DISABLE=coopmat)" : "");
    VKRT_CHECK(split <= 64, Status::invalid_argument, "matmul (gemm_cm): split ", split, " not in 0..64");
    const Pipeline& p = dev.pipeline(spv::format_kernel(Family::gemm, w.type, Path::cm),
                                     {caps.subgroup_size, uint32_t(w.layout)});
    for (const WeightPart& part : w.parts) {
        const uint32_t S = split_count(dev, split, M, part.rows, w.cols, kCoopmatTile, kCoopmatTile, 1);
        dispatch_gemm_part(rec, p, part.view, x, y, MatmulPush{M, w.rows, w.cols, part.rows, part.row0},
                           Groups{div_up(part.rows, kCoopmatTile), div_up(M, kCoopmatTile), 1}, S,
                           "matmul (gemm_cm)");
    }
}

void matmul(Recorder& rec, const BufferView& x, const WeightView& w, const BufferView& y, uint32_t M,
            const BufferView& scratch, MatmulPath path, const MatmulEpilogue& epi) {
    const uint32_t e = check_epilogue("matmul", epi, w, y, M);
    const bool glu = e == shader::kEpiSwiglu || e == shader::kEpiGeglu;
    check_common("matmul", x, w, y, M, glu ? w.rows / 2 : w.rows);  // with a GLU, y is (M, F)
    Device& dev = rec.device();
    const auto& caps = dev.caps();
    const uint32_t N = w.rows, K = w.cols;
    if (path == MatmulPath::auto_) {
        const bool have_scratch = scratch.buffer != nullptr && scratch.bytes() >= matmul_scratch_bytes(M, K);
        // An epilogue runs on the GEMV paths: their choice for any M.
        path = matmul_pick_path(dev, w.type, e != shader::kEpiNone ? std::min(M, 8u) : M, N, K, have_scratch);
    }
    const char* t = fmt::name(w.type);
    VKRT_CHECK(e == shader::kEpiNone || path != MatmulPath::gemm, Status::unsupported,
               "matmul: epilogues run on the GEMV paths, not gemm");
    switch (path) {
        case MatmulPath::gemv:
            dispatch_gemv(rec, Path::plain, Path::nosg, x, w, y, M, e, epi.residual, epi.q8, epi.q8_arrivals);
            return;
        case MatmulPath::gemv_f16:
            VKRT_CHECK(has_int_path(w.type), Status::unsupported, "matmul: path gemv_f16 multiplies integer quants: ",
                       "it is for the formats with the integer interface (formats.def VKRT_K_INT), not ", t);
            VKRT_CHECK(caps.fp16, Status::unsupported, "matmul: path gemv_f16 needs shaderFloat16, which ", caps.name,
                       " does not offer");
            dispatch_gemv(rec, Path::f16, Path::f16_nosg, x, w, y, M, e, epi.residual, epi.q8, epi.q8_arrivals);
            return;
        case MatmulPath::gemv_int:
        case MatmulPath::mmq: {
            // X quantized into the scratch, then the integer GEMV or the int8-dot GEMM.
            const char* pn = matmul_path_name(path);
            VKRT_CHECK(path == MatmulPath::mmq ? has_mmq_path(w.type) : has_int_path(w.type), Status::unsupported,
                       "matmul: path ", pn, " has no kernel for ", t, " weights (formats.def: VKRT_K_INT",
                       path == MatmulPath::mmq ? " or VKRT_K_MMQ)" : ")");
            VKRT_CHECK(caps.int_dot, Status::unsupported, "matmul: path ", pn, " needs integer dot products, which ",
                       caps.name, " does not offer");
            require_bytes(scratch, matmul_scratch_bytes(M, K), path == MatmulPath::mmq ? "matmul (mmq)" : "matmul (gemv_int)",
                          "scratch");
            quantize_q8_1(rec, x, scratch, M, K);
            if (path == MatmulPath::mmq)
                run_mmq(rec, Q8Activations{scratch, M, K}, w, y);
            else
                dispatch_gemv(rec, Path::int_, Path::int_nosg, scratch, w, y, M, e, epi.residual, epi.q8, epi.q8_arrivals);
            return;
        }
        case MatmulPath::gemm:
            if (gemm_coopmat_supported(dev)) matmul_gemm_coopmat(rec, x, w, y, M);
            else matmul_gemm(rec, x, w, y, M, default_gemm_tiles(dev));
            return;
        case MatmulPath::auto_: break;
    }
    fail(Status::internal, "matmul: no path");
}

void matmul(Recorder& rec, const BufferView& x, const BufferView& w, Format wtype, const BufferView& y, uint32_t M,
            uint32_t N, uint32_t K, const BufferView& scratch, MatmulPath path) {
    matmul(rec, x, single_part(w, wtype, N, K), y, M, scratch, path);
}

}  // namespace vkrt::ops
