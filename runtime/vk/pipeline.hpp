// A compute pipeline built from one embedded SPIR-V variant. Its descriptor
// layout (storage buffers at set 0, bindings 0..n-1) and push-constant size are
// read from the SPIR-V itself, so a dispatch can check what the host passes.
#pragma once
#include <vulkan/vulkan.h>

#include <cstdint>
#include <string>
#include <vector>

#include "variants.hpp"  // generated: spv::Variant
#include "vk/handle.hpp"
#include "vk/shader_stats.hpp"

namespace vkrt {

class Device;

struct Capabilities;

struct ShaderInterface {
    uint32_t n_bindings = 0;       // storage buffers, set 0, bindings 0..n-1
    uint32_t writable_mask = 0;    // bit b: binding b is not readonly (the recorder's hazards)
    uint32_t push_size = 0;        // bytes of the push-constant block (0 = none)
    // Workgroup size and the bytes of its Workgroup-storage (`shared`) variables, for the
    // specialization constants given to reflect_spirv (their defaults where none is given).
    uint32_t local_size[3] = {1, 1, 1};
    bool local_size_from_spec = false;  // the size comes from specialization constants
    uint32_t shared_bytes = 0;
    uint32_t invocations() const { return local_size[0] * local_size[1] * local_size[2]; }
};
// Minimal SPIR-V reflection: bindings, push-constant block size, and with the
// specialization constants `spec` (by id 0, 1, ...) the workgroup size and shared memory
// (array lengths and the workgroup size evaluated from the spec-constant expressions).
ShaderInterface reflect_spirv(const uint32_t* words, size_t n_words, const std::string& name,
                              const std::vector<uint32_t>& spec = {});
// Throws Status::limit_exceeded, naming the kernel, the figure and the device's limit, when
// a specialized kernel needs more than `caps` allows: invocations and size of a workgroup,
// shared memory, push-constant bytes, storage buffers. Pipeline runs it before creating one.
void check_limits(const Capabilities& caps, const ShaderInterface& iface, const std::string& name);

class Pipeline {
public:
    Pipeline(Device& dev, spv::Variant variant, const std::vector<uint32_t>& spec);
    const std::string& name() const { return name_; }
    const ShaderInterface& interface() const { return iface_; }
    VkPipeline handle() const { return pipeline_; }
    VkPipelineLayout layout() const { return layout_; }
    VkDescriptorSetLayout set_layout() const { return set_layout_; }
    // The driver's figures when the device captures them (Device::capture_statistics).
    const std::vector<ShaderStat>& statistics() const { return stats_; }

private:
    std::string name_;
    ShaderInterface iface_;
    vk::Unique<VkShaderModule> module_;
    vk::Unique<VkDescriptorSetLayout> set_layout_;
    vk::Unique<VkPipelineLayout> layout_;
    vk::Unique<VkPipeline> pipeline_;
    std::vector<ShaderStat> stats_;
};

}  // namespace vkrt
