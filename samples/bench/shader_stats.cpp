// vkrt-bench --shader-stats: every pipeline the runtime chooses on this device, compiled by
// its driver, with the compiler's figures (docs/GPU.md; scripts/gpu-compilers.sh runs it on
// Mesa's AMD, NVIDIA, Adreno and Mali compilers without a GPU).
//
// The list is not written down anywhere: the device records what Device::pipeline is asked
// for (DeviceOptions::shader_stats) while the runtime's own code runs here,
//   - prefill and decode forward passes of small synthetic models of every architecture
//     (the phone presets' head sizes and options) and every weight type the synthetic writer
//     encodes, over f16, q8_0 and f32 KV caches;
//   - the op-level choice functions for what a small model lacks: matmul of every format with
//     GPU kernels at decode and prefill batch sizes on the path the runtime picks (and with
//     --all-paths on every path the device could run when forced), matmul_q8, embed;
// so a kernel, variant or specialization another change adds shows up by itself.
// Buffers are left uninitialized: on the no-op devices nothing executes, and on a real
// device the figures do not depend on the values.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "bench.hpp"
#include "cli.hpp"
#include "core/error.hpp"
#include "core/format.hpp"
#include "gguf/synthetic.hpp"
#include "model/model.hpp"
#include "ops/attention.hpp"
#include "ops/embed.hpp"
#include "ops/matmul.hpp"
#include "shared/attention.h"
#include "vk/pipeline.hpp"
#include "vk/recorder.hpp"
#include "vk/shaders.hpp"

namespace vkrt::bench {

namespace {

// ---------------------------------------------------------------- the runtime's choices

struct Unit {
    std::string name;
    std::function<void(Device&)> run;
};

// One recorded submission of `fn` (on the no-op devices the submit is a no-op too).
void record_once(Device& dev, const std::function<void(Recorder&)>& fn) {
    Recorder rec(dev);
    rec.begin();
    fn(rec);
    rec.end();
    rec.submit();
}

// matmul of one format at decode and prefill batch sizes, on the path the runtime picks
// (matmul_pick_path, with and without a scratch for the integer path); with `all_paths` also
// on every path the device could run when forced (ops::MatmulPath: tests, VKRT_DISABLE-like
// experiments), which the runtime itself does not pick here.
void matmul_unit(Device& dev, Format t, bool all_paths) {
    const fmt::Traits& ft = fmt::traits(t);
    const uint32_t N = 2048, K = 2048;  // K: whole blocks of every format
    const auto& caps = dev.caps();
    Buffer w(dev, (fmt::row_bytes(t, K) * N + 3) & ~uint64_t(3), MemoryKind::device, "w");
    for (uint32_t M : {1u, 2u, 8u, 16u, 64u, 512u}) {
        Buffer x(dev, uint64_t(M) * K * 4, MemoryKind::device, "x");
        Buffer y(dev, uint64_t(M) * N * 4, MemoryKind::device, "y");
        Buffer scratch(dev, std::max<uint64_t>(16, ops::matmul_scratch_bytes(M, K)), MemoryKind::device, "scratch");
        record_once(dev, [&](Recorder& r) { ops::matmul(r, x, w, t, y, M, N, K, scratch); });
        record_once(dev, [&](Recorder& r) { ops::matmul(r, x, w, t, y, M, N, K); });
        // The layout a model's weights get (ops::upload_weight: grouped for the repacked
        // formats; 2048 x 2048 is whole groups, the same bytes): its GEMV/GEMM variants too.
        const bool grouped = ops::upload_layout(dev, t) != ops::WeightLayout::gguf;
        const ops::WeightView wv = ops::single_part(w, t, N, K, ops::upload_layout(dev, t));
        if (grouped) record_once(dev, [&](Recorder& r) { ops::matmul(r, x, wv, y, M, scratch); });
        const bool int_chosen = ops::matmul_pick_path(dev, t, M, N, K, true) == ops::MatmulPath::gemv_int;
        if (all_paths) {
            std::vector<ops::MatmulPath> paths;
            if (M <= 8) {
                paths.push_back(ops::MatmulPath::gemv);
                if (caps.fp16 && ft.block_elems > 1) paths.push_back(ops::MatmulPath::gemv_f16);
                if (caps.int_dot && (ft.kernels & fmt::kKernelInt)) paths.push_back(ops::MatmulPath::gemv_int);
            } else {
                paths.push_back(ops::MatmulPath::gemm);
            }
            for (auto p : paths) {
                record_once(dev, [&](Recorder& r) { ops::matmul(r, x, w, t, y, M, N, K, scratch, p); });
                if (grouped) record_once(dev, [&](Recorder& r) { ops::matmul(r, x, wv, y, M, scratch, p); });
            }
            // path gemm runs the cooperative-matrix GEMM where the device has it: its
            // scalar fallback (matmul.comp) too
            if (M > 8 && ops::gemm_coopmat_supported(dev))
                record_once(dev, [&](Recorder& r) {
                    ops::matmul_gemm(r, x, ops::single_part(w, t, N, K), y, M, ops::default_gemm_tiles(dev));
                });
        }
        if (int_chosen || (all_paths && caps.int_dot && (ft.kernels & fmt::kKernelInt))) {
            const ops::Q8Activations xq{scratch, M, K};
            record_once(dev, [&](Recorder& r) {
                ops::quantize_q8_1(r, x, xq);
                ops::matmul_q8(r, xq, ops::single_part(w, t, N, K), y);
            });
            // matmul_q8 runs the int8 GEMM on cooperative matrices where the device has
            // them: the OpSDot tiles too
            if (all_paths && M > 8 && ops::mmq_coopmat_supported(dev))
                record_once(dev, [&](Recorder& r) {
                    ops::matmul_mmq(r, xq, ops::single_part(w, t, N, K), y, ops::default_mmq_tiles(dev, M));
                });
        }
    }
    // embedding rows of the same format (token_embd is often quantized)
    Buffer ids(dev, 64 * 4, MemoryKind::device, "ids");
    Buffer out(dev, uint64_t(64) * K * 4, MemoryKind::device, "out");
    record_once(dev, [&](Recorder& r) { ops::embed(r, w, t, ids, out, 64, K, N); });
}

// A small model of `preset`'s architecture and head size (2 layers, 2 query heads, 1 KV head,
// vocab 300): prefill (GEMM paths, flash attention) and decode (GEMV, decode attention).
void model_unit(Device& dev, const std::string& preset, gguf::TensorType t, const KvCacheTypes& kv) {
    const gguf::SyntheticLlama c = gguf::small_preset(preset, t, 2, 4096);
    const std::string path = std::filesystem::temp_directory_path().string() + "/vkrt-shader-stats-" +
                             std::to_string(getpid()) + ".gguf";
    gguf::write_synthetic_llama(c, path);
    struct Remove {
        std::string p;
        ~Remove() { std::filesystem::remove(p); }
    } remove{path};
    model::Model model(dev, path);
    model::Session session(model, 128, 80, kv);
    std::vector<int32_t> ids(80);
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t(3 + i * 7 % 290);
    session.eval(std::span<const int32_t>(ids.data(), 16));  // a short prompt
    session.reset();
    session.eval(ids);  // a longer one (other GEMM / attention shapes)
    for (int i = 0; i < 2; ++i) session.eval(std::span<const int32_t>(&ids[i], 1));  // decode
}

// Decode attention (shaders/attention.comp) at every number of query heads a workgroup
// serves (1..kAttnMaxHeads: its registers grow with it; the model units have 2) over f16
// caches, the widest (8) over every K x V type, split in two (the last split merges in the
// same pipeline; the q8_1 output rows, Q8_OUT, come with the model units' integer paths).
void attention_unit(Device& dev) {
    const uint32_t hd = 128, rows = 256;
    Buffer q(dev, uint64_t(shader::kAttnMaxHeads) * hd * 4, MemoryKind::device, "q");
    Buffer cache(dev, ops::kv_cache_bytes(ops::KvType::f32, hd, rows), MemoryKind::device, "kv cache");
    Buffer pos(dev, 4, MemoryKind::device, "pos");
    Buffer out(dev, uint64_t(shader::kAttnMaxHeads) * hd * 4, MemoryKind::device, "out");
    auto run = [&](uint32_t heads, ops::KvType k, ops::KvType v) {
        const ops::AttentionShape sh{heads, 1, hd, rows, k, v, 2};
        Buffer split = ops::attention_scratch(dev, sh);
        record_once(dev, [&](Recorder& r) { ops::attention(r, q, cache, cache, pos, out, 1, sh, 0.f, 0, 0, 0, split); });
    };
    for (uint32_t heads = 1; heads <= shader::kAttnMaxHeads; ++heads) run(heads, ops::KvType::f16, ops::KvType::f16);
    for (ops::KvType k : {ops::KvType::f32, ops::KvType::f16, ops::KvType::q8_0})
        for (ops::KvType v : {ops::KvType::f32, ops::KvType::f16, ops::KvType::q8_0})
            if (k != ops::KvType::f16 || v != ops::KvType::f16) run(shader::kAttnMaxHeads, k, v);
}

// Prefill attention (M = 64) at the head dims of the presets over f16 caches and at 128
// over q8_0 and f32 ones, as the runtime chooses (attention_flash_cm where the device has
// the matrices, attention_flash elsewhere); with all_paths also attention_flash where the
// matrices took its place (AttentionShape::Prefill::scalar).
void prefill_attention_unit(Device& dev, bool all_paths) {
    const uint32_t M = 64, n_head = 4, n_kv = 2, rows = 64;
    for (auto tk : {ops::KvType::f16, ops::KvType::q8_0, ops::KvType::f32})
        for (uint32_t hd : {64u, 96u, 128u, 256u}) {
            if (tk != ops::KvType::f16 && hd != 128) continue;
            Buffer q(dev, uint64_t(M) * n_head * hd * 4, MemoryKind::device, "q");
            Buffer cache(dev, ops::kv_cache_bytes(ops::KvType::f32, n_kv * hd, rows), MemoryKind::device, "kv cache");
            Buffer pos(dev, M * 4, MemoryKind::device, "pos");
            Buffer out(dev, uint64_t(M) * n_head * hd * 4, MemoryKind::device, "out");
            ops::AttentionShape sh{n_head, n_kv, hd, rows, tk, tk};
            record_once(dev, [&](Recorder& r) { ops::attention(r, q, cache, cache, pos, out, M, sh); });
            if (all_paths && ops::attention_uses_coopmat(dev.caps(), sh, M)) {
                sh.prefill = ops::AttentionShape::Prefill::scalar;
                record_once(dev, [&](Recorder& r) { ops::attention(r, q, cache, cache, pos, out, M, sh); });
            }
        }
}

// Attention of small heads (stories260K's 8, the tiny presets' 16, and 32): the model units'
// presets have 64-256, while the blocked kernel's tile shape (ops::flash_tiles: threads a
// query row, tile rows) and the decode kernel's shared arrays follow the head dim. Prefill
// (16 query rows) and decode (1), 2 query heads a kv head as in the model units, over f16
// and f32 caches, and q8_0 where a row holds whole blocks.
void small_heads_unit(Device& dev) {
    const uint32_t rows = 128, M = 16, n_head = 2;
    for (uint32_t hd : {8u, 16u, 32u}) {
        Buffer q(dev, uint64_t(M) * n_head * hd * 4, MemoryKind::device, "q");
        Buffer cache(dev, ops::kv_cache_bytes(ops::KvType::f32, hd, rows), MemoryKind::device, "kv cache");
        Buffer pos(dev, uint64_t(M) * 4, MemoryKind::device, "pos");
        Buffer out(dev, uint64_t(M) * n_head * hd * 4, MemoryKind::device, "out");
        for (ops::KvType t : {ops::KvType::f16, ops::KvType::f32, ops::KvType::q8_0}) {
            if (t == ops::KvType::q8_0 && hd % 32 != 0) continue;
            const ops::AttentionShape sh{n_head, 1, hd, rows, t, t, 0};
            Buffer split = ops::attention_scratch(dev, sh);  // arrival counters zeroed
            for (uint32_t m : {1u, M})
                record_once(dev, [&](Recorder& r) { ops::attention(r, q, cache, cache, pos, out, m, sh, 0.f, 0, 0, 0, split); });
        }
    }
}

std::vector<Unit> units(bool all_paths) {
    std::vector<Unit> u;
    const std::vector<std::string> presets = {"1B", "llama3.2-1b", "qwen2.5-0.5b", "qwen3-0.6b", "gemma3-1b",
                                              "phi3-mini"};
    const std::pair<gguf::TensorType, const char*> types[] = {
        {gguf::TensorType::F32, "f32"}, {gguf::TensorType::F16, "f16"}, {gguf::TensorType::Q4_0, "q4_0"},
        {gguf::TensorType::Q8_0, "q8_0"}, {gguf::TensorType::I8, "w8a8"}};
    for (const auto& p : presets)
        for (const auto& type : types) {
            const gguf::TensorType t = type.first;  // not a structured binding: clang 14 cannot capture one
            u.push_back({"model " + p + " " + type.second, [p, t](Device& d) { model_unit(d, p, t, {}); }});
        }
    for (const auto& kv : {std::pair{ops::KvType::q8_0, "q8_0"}, std::pair{ops::KvType::f32, "f32"}}) {
        const ops::KvType k = kv.first;
        u.push_back({std::string("model 1B q4_0 kv ") + kv.second,
                     [k](Device& d) { model_unit(d, "1B", gguf::TensorType::Q4_0, {k, k}); }});
    }
    u.push_back({"attention decode", attention_unit});
    u.push_back({"attention prefill", [all_paths](Device& d) { prefill_attention_unit(d, all_paths); }});
    u.push_back({"attention small heads", small_heads_unit});
    for (const fmt::Traits& ft : fmt::all())
        if (ft.kernels & fmt::kKernelFloat) {
            const Format t = ft.type;
            u.push_back({std::string("matmul ") + ft.name, [t, all_paths](Device& d) { matmul_unit(d, t, all_paths); }});
        }
    return u;
}

// ---------------------------------------------------------------- the drivers' figures

// The columns of the table from each driver's own statistic names (Mesa 25.0): RADV (AMD),
// NVK (NVIDIA), turnip (Adreno); panvk (Mali) prints them on stderr instead (parse_shaderdb).
struct Columns {
    double regs = -1, regs2 = -1, spills = -1, scratch = -1, shared = -1, instructions = -1, occupancy = -1;
    std::string occupancy_unit, regs_unit;
};

double first_of(const PipelineRecord& r, std::initializer_list<const char*> names) {
    for (const char* n : names)
        if (double v = r.stat(n); v >= 0) return v;
    return -1;
}
double sum_of(const PipelineRecord& r, std::initializer_list<const char*> names) {
    double s = -1;
    for (const char* n : names)
        if (double v = r.stat(n); v >= 0) s = std::max(0.0, s) + v;
    return s;
}

// panvk, BIFROST_MESA_DEBUG=shaderdb: "... shader: 1234 inst, 56 tuples/bundles, ... 1 quadwords,
// 2 threads, 0 loops, 3:4 spills:fills" (Bifrost), Valhall: "... 123 inst, ... 64 regs? ..."
// Every "<number> <word>" pair and "a:b spills:fills" of the last such line is kept.
void parse_shaderdb(PipelineRecord& r) {
    std::istringstream in(r.compiler_log);
    std::string line, last;
    while (std::getline(in, line))
        if (line.find("shader:") != std::string::npos || line.find(" inst") != std::string::npos) last = line;
    if (last.empty()) return;
    std::string s = last.substr(last.find(':') + 1);
    for (char& ch : s)
        if (ch == ',') ch = ' ';
    std::istringstream words(s);
    std::string a, b;
    while (words >> a >> b) {
        if (auto colon = a.find(':'); colon != std::string::npos && b == "spills:fills") {
            r.stats.push_back({"spills", std::atof(a.substr(0, colon).c_str())});
            r.stats.push_back({"fills", std::atof(a.substr(colon + 1).c_str())});
        } else if (!a.empty() && (std::isdigit((unsigned char)a[0]) != 0)) {
            r.stats.push_back({b, std::atof(a.c_str())});
        } else {
            // not a "<number> <word>" pair: resynchronize on the next word
            std::istringstream rest(b + " " + std::string(std::istreambuf_iterator<char>(words), {}));
            words.swap(rest);
        }
    }
}

Columns columns(const PipelineRecord& r) {
    Columns c;
    // RADV
    if (r.stat("VGPRs") >= 0) {
        c.regs = r.stat("VGPRs");
        c.regs2 = r.stat("SGPRs");
        c.regs_unit = "VGPR";  // SGPRs in regs2
        c.spills = sum_of(r, {"Spilled VGPRs", "Spilled SGPRs"});
        c.scratch = r.stat("Scratch size");
        c.shared = r.stat("LDS size");
        c.instructions = r.stat("Instructions");
        c.occupancy = r.stat("Subgroups per SIMD");
        c.occupancy_unit = "waves/SIMD";
        return c;
    }
    // NVK: GPRs per thread and SLM (local memory: NAK's spills go there), no occupancy
    // figure. The register file bounds it: 64K 32-bit registers per SM, allocated per warp
    // in units of 8 per thread (256 per warp), so warps/SM <= 65536 / (32 * ceil8(GPRs))
    // (capped at 64, no SM holds more; the architecture's own cap is lower: 32 warps/SM on
    // Turing, 48 on GA10x).
    if (double g = r.stat("Number of GPRs"); g >= 0) {
        c.regs = g;
        c.regs_unit = "GPR";
        c.scratch = r.stat("SLM Size");
        // spills: not reported apart; NAK spills to SLM, which the scratch column shows
        c.instructions = r.stat("Instruction count");
        c.occupancy = std::min(64.0, std::floor(65536.0 / (32.0 * std::max(8.0, std::ceil(g / 8) * 8))));
        c.occupancy_unit = "warps/SM by regs";
        return c;
    }
    // turnip
    if (r.stat("Max Waves Per Core") >= 0) {
        c.regs = first_of(r, {"Full-precision register footprint", "Registers used"});
        c.regs2 = first_of(r, {"Half-precision register footprint", "Half registers used"});
        c.regs_unit = "full regs";  // half registers in regs2
        c.spills = sum_of(r, {"STP Count", "LDP Count"});
        c.scratch = first_of(r, {"Private memory per wave", "Scratch"});
        c.shared = -1;
        c.instructions = first_of(r, {"Instruction Count", "Instructions"});
        c.occupancy = r.stat("Max Waves Per Core");
        c.occupancy_unit = "waves/core";
        return c;
    }
    // panvk shaderdb (stderr)
    if (r.stat("inst") >= 0) {
        c.instructions = r.stat("inst");
        c.spills = sum_of(r, {"spills", "fills"});
        c.occupancy = r.stat("threads");
        c.occupancy_unit = "threads";
        c.regs = first_of(r, {"regs", "registers"});
        c.regs_unit = "regs";
        return c;
    }
    c.instructions = first_of(r, {"Instructions", "Instruction Count"});
    return c;
}

std::string fmt_num(double v) {
    if (v < 0) return "-";
    char b[32];
    std::snprintf(b, sizeof b, v == std::floor(v) ? "%.0f" : "%.2f", v);
    return b;
}

std::string spec_string(const std::vector<uint32_t>& spec) {
    std::string s;
    for (uint32_t v : spec) s += (s.empty() ? "" : ",") + std::to_string(v);
    return s.empty() ? "-" : s;
}

// What the gate fails on: anything that did not compile, any spill, any scratch memory.
std::string gate_problem(const PipelineRecord& r, const Columns& c) {
    if (r.status != PipelineRecord::Status::ok) return pipeline_status_name(r.status);
    if (c.spills > 0) return "spill";
    if (c.scratch > 0) return "scratch";
    return {};
}

}  // namespace

int run_shader_stats(const ShaderStatsOptions& o) {
    DeviceOptions dopt = DeviceOptions::from_env();
    dopt.shader_stats = true;
    dopt.compile_timeout_s = o.compile_timeout_s;
    dopt.pipeline_cache = "off";  // every pipeline through the compiler
    if (o.allow_old_api) setenv("VKRT_STATS_ALLOW_OLD_API", "1", 1);  // Device reads it with shader_stats only
    std::regex unit_filter;
    try {
        unit_filter = std::regex(o.units.empty() ? std::string(".") : o.units);
    } catch (const std::regex_error& e) {
        fail(Status::invalid_argument, "--units: '", o.units, "' is not a regular expression (", e.what(), ")");
    }
    // After a hang a parked thread is inside the driver: then the device is released, not
    // destroyed, and the process ends without destructors (below).
    auto dev = std::make_unique<Device>(dopt);
    const Capabilities& caps = dev->caps();
    const std::string target = o.target.empty() ? caps.name : o.target;
    std::printf("# shader statistics: %s (%s), target %s%s\n", caps.name.c_str(), caps.driver.c_str(),
                target.c_str(), o.all_paths ? ", all paths" : "");
    std::printf("device profile: subgroup %u (%s), int dot %s%s, fp16 %s, 16-bit storage %s, cooperative matrix %s, "
                "max workgroup %u, shared memory %u B, statistics %s\n\n",
                caps.subgroup_size, caps.subgroup ? "subgroup kernels" : "shared-memory kernels",
                caps.int_dot ? "yes" : "no", caps.int_dot_accelerated ? " (accelerated)" : "", caps.fp16 ? "yes" : "no",
                caps.storage16 ? "yes" : "no", caps.cooperative_matrix ? "yes" : "no", caps.max_workgroup_invocations,
                caps.shared_memory,
                dev->capture_statistics() ? "VK_KHR_pipeline_executable_properties" : "compiler stderr only");
    const uint32_t need = std::max(spv::vulkan_version_for_spirv(spv::spirv_version()), uint32_t(VK_API_VERSION_1_1));
    if (caps.api_version < need)
        std::printf("device refused at runtime (Vulkan %u.%u; the kernels need %u.%u): compiler figures only "
                    "(--allow-vulkan-1.0)\n\n",
                    VK_API_VERSION_MAJOR(caps.api_version), VK_API_VERSION_MINOR(caps.api_version),
                    VK_API_VERSION_MAJOR(need), VK_API_VERSION_MINOR(need));
    if (!o.units.empty()) std::printf("units matching /%s/ only: a partial table\n\n", o.units.c_str());
    std::fflush(stdout);

    // Run every unit; a compile failure or hang ends that unit only (the device remembers it
    // and the table lists it), other errors are reported as unit failures.
    std::vector<std::string> unit_errors;
    const double t0 = cli::now_seconds();
    for (const Unit& u : units(o.all_paths)) {
        if (!std::regex_search(u.name, unit_filter)) continue;
        const size_t before = dev->pipeline_records().size();
        try {
            u.run(*dev);
        } catch (const std::exception& e) {
            const auto recs = dev->pipeline_records();
            const bool compile = recs.size() > before && recs.back().status != PipelineRecord::Status::ok;
            if (!compile) unit_errors.push_back(u.name + ": " + e.what());
            std::fprintf(stderr, "%s: %s\n", u.name.c_str(), e.what());
        }
        if (o.verbose)
            std::fprintf(stderr, "%-28s %3zu new pipelines, %.1f s\n", u.name.c_str(),
                         dev->pipeline_records().size() - before, cli::now_seconds() - t0);
    }

    std::vector<PipelineRecord> recs = dev->pipeline_records();
    std::sort(recs.begin(), recs.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
    std::printf("| kernel | specialization | target | status | registers | spills | scratch B | shared B | "
                "instructions | occupancy | compile s |\n");
    std::printf("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
    std::ofstream tsv;
    if (!o.tsv.empty()) {
        tsv.open(o.tsv);
        VKRT_CHECK(tsv.good(), Status::io_error, "cannot write ", o.tsv);
        tsv << "kernel\tspec\ttarget\tstatus\tregs\tregs2\tregs_unit\tspills\tscratch\tshared\tinstructions\t"
               "occupancy\toccupancy_unit\tcompile_s\tstats\terror\n";
    }
    std::vector<std::string> problems;
    bool any_hang = false;
    for (auto& r : recs) {
        parse_shaderdb(r);  // panvk: its figures are on stderr (with or without executable statistics)
        const Columns c = columns(r);
        const std::string regs = fmt_num(c.regs) + (c.regs2 >= 0 ? "/" + fmt_num(c.regs2) : "");
        const std::string occ = c.occupancy >= 0 ? fmt_num(c.occupancy) + " " + c.occupancy_unit : "-";
        std::printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %.2f |\n", r.variant.c_str(),
                    spec_string(r.spec).c_str(), target.c_str(), pipeline_status_name(r.status), regs.c_str(),
                    fmt_num(c.spills).c_str(), fmt_num(c.scratch).c_str(), fmt_num(c.shared).c_str(),
                    fmt_num(c.instructions).c_str(), occ.c_str(), r.compile_seconds);
        if (tsv.is_open()) {
            std::string all;
            for (const auto& s : r.stats) all += (all.empty() ? "" : ";") + s.name + "=" + fmt_num(s.value);
            std::string err = r.error;
            std::replace(err.begin(), err.end(), '\t', ' ');
            std::replace(err.begin(), err.end(), '\n', ' ');
            tsv << r.variant << '\t' << spec_string(r.spec) << '\t' << target << '\t' << pipeline_status_name(r.status)
                << '\t' << fmt_num(c.regs) << '\t' << fmt_num(c.regs2) << '\t' << c.regs_unit << '\t'
                << fmt_num(c.spills) << '\t' << fmt_num(c.scratch) << '\t' << fmt_num(c.shared) << '\t'
                << fmt_num(c.instructions) << '\t' << fmt_num(c.occupancy) << '\t' << c.occupancy_unit << '\t'
                << r.compile_seconds << '\t' << all << '\t' << err << '\n';
        }
        if (const std::string p = gate_problem(r, c); !p.empty())
            problems.push_back(p + " " + r.variant + " [" + spec_string(r.spec) + "]" +
                               (r.error.empty() ? "" : ": " + r.error));
        any_hang = any_hang || r.status == PipelineRecord::Status::hang;
    }
    std::printf("\n%zu pipelines on %s in %.1f s: %zu with a problem (compile failure, hang, spill, scratch)\n",
                recs.size(), target.c_str(), cli::now_seconds() - t0, problems.size());
    for (const auto& p : problems) std::printf("problem: %s\n", p.c_str());
    for (const auto& e : unit_errors) std::printf("unit error: %s\n", e.c_str());
    if (dev->validation_enabled())
        std::printf("validation messages: %llu\n", (unsigned long long)dev->validation_messages());
    std::fflush(stdout);
    tsv.close();

    int rc = 0;
    if (!unit_errors.empty()) rc = 1;  // the runtime failed outside the compiler: always an error
    if (o.gate && !problems.empty()) rc = 1;
    if (any_hang) {
        dev.release();
        std::fflush(nullptr);
        _exit(rc);
    }
    return rc;
}

}  // namespace vkrt::bench
