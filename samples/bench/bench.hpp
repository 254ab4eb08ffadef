// vkrt-bench kernel mode (kernels.cpp).
#pragma once
#include <cstdint>
#include <string>

#include "vk/device.hpp"

namespace vkrt::bench {

// Times each kernel family on representative shapes and prints a table:
// kernel | shape | path | time (us) | GB/s | GOPS. `filter` keeps rows whose kernel
// name contains it. On a CPU device (lavapipe) the big shapes are scaled down
// (the printed shapes say so).
int run_kernels(Device& dev, const std::string& filter, int reps);

// Constrained sampling on the CPU (grammar.cpp): the mask and accept cost per token of a JSON
// Schema over a synthetic vocabulary of n_vocab tokens; no device needed.
int run_grammar(int32_t n_vocab, int reps);

// --shader-stats (shader_stats.cpp): compiles every pipeline the runtime chooses on the
// device (VKRT_DEVICE) and prints the driver's figures per pipeline; with `gate`, returns 1
// when any failed to compile, hung (compile_timeout_s), spilled or used scratch memory.
struct ShaderStatsOptions {
    std::string target;   // the label of the target in the table ("" = the device's name)
    std::string tsv;      // also write every figure to this file ("" = none)
    bool gate = false;
    bool verbose = false;  // per-unit progress on stderr
    bool all_paths = false;  // also every matmul path the device could run when forced
    double compile_timeout_s = 30;
    // Only the units whose name matches this ECMAScript regex ("" = all), e.g. "attention" to
    // recompile the attention units after a kernel change (a partial table: not for --gate runs
    // that stand for the whole device).
    std::string units;
    // Open a device below the Vulkan version the kernels need (panvk's Mali-G52 reports 1.0)
    // for its compiler's figures (VKRT_STATS_ALLOW_OLD_API=1, read by Device only with
    // shader_stats); the table says that the runtime refuses the device.
    bool allow_old_api = false;
};
int run_shader_stats(const ShaderStatsOptions& o);

}  // namespace vkrt::bench
