// Compiler statistics of every pipeline a Device builds (DeviceOptions::shader_stats): the
// driver's own figures through VK_KHR_pipeline_executable_properties (registers, spills,
// scratch, shared memory, instructions, occupancy) and whatever its compiler prints on
// stderr (panvk's BIFROST_MESA_DEBUG=shaderdb lines), with a watchdog so a compiler that
// never returns is reported as a hang instead of stopping the program.
//
// The list of pipelines is whatever the runtime asks Device::pipeline for, so running the
// runtime's own code (forward passes, op-level choices) on a device gives exactly the set it
// would build there: `vkrt-bench --shader-stats` does that on Mesa's drivers without a GPU
// (scripts/gpu-compilers.sh, docs/GPU.md).
#pragma once
#include <vulkan/vulkan.h>

#include <cstdint>
#include <string>
#include <vector>

namespace vkrt {

// One figure of vkGetPipelineExecutableStatisticsKHR, as the driver names it ("VGPRs",
// "Spilled SGPRs", "Max Waves Per Core", ...), or one parsed from the compiler's stderr.
struct ShaderStat {
    std::string name;
    double value = 0;
};

struct PipelineRecord {
    enum class Status { ok, error, hang };
    std::string key;      // variant:spec0:spec1...
    std::string variant;  // embedded SPIR-V variant (matvec_q4_0, ...)
    std::vector<uint32_t> spec;
    Status status = Status::ok;
    std::string error;            // the exception's message (error) or the watchdog's (hang)
    double compile_seconds = 0;
    std::vector<ShaderStat> stats;  // every executable's figures (compute: one executable)
    std::string compiler_log;       // the driver's stderr while compiling (panvk shaderdb)

    // The figure named exactly `name` (first match), or `fallback`.
    double stat(const std::string& name, double fallback = -1) const;
};

const char* pipeline_status_name(PipelineRecord::Status s);

// Every executable's statistics of a pipeline created with
// VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR (VK_KHR_pipeline_executable_properties
// enabled). Booleans count as 0/1; with several executables, names get " (executable N)".
std::vector<ShaderStat> pipeline_statistics(VkDevice dev, VkPipeline pipeline);

}  // namespace vkrt
