// Device layer: instance, physical-device selection, capabilities, logical
// device, queue, command pool, pipeline cache (saved to disk).
#pragma once
#include <vulkan/vulkan.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "vk/handle.hpp"

namespace vkrt {

class Pipeline;

struct DeviceOptions {
    std::string select;          // index ("1") or case-insensitive name substring; "" = best
    bool disable_int_dot = false;   // act as if VK_KHR_shader_integer_dot_product were missing
    bool disable_fp16 = false;      // act as if shaderFloat16 were missing
    bool disable_subgroup = false;  // act as if subgroup arithmetic were missing
    bool validation = false;        // Khronos validation layer + message counter
    std::string pipeline_cache;  // file path; "" = default (see pipeline_cache_dir), "off" = none
    // Folder for the default cache file; "" = $XDG_CACHE_HOME/vkrt or ~/.cache/vkrt. Apps
    // without a home directory (Android) pass their cache folder here.
    std::string pipeline_cache_dir;

    // VKRT_DEVICE, VKRT_DISABLE (comma list of dot,fp16,subgroup), VKRT_VALIDATION=1,
    // VKRT_PIPELINE_CACHE (path or "off").
    static DeviceOptions from_env();
};

// What the device offers (after DeviceOptions' disables are applied).
struct Capabilities {
    std::string name;
    std::string driver;
    uint32_t vendor_id = 0, device_id = 0;
    VkPhysicalDeviceType type = VK_PHYSICAL_DEVICE_TYPE_OTHER;
    uint32_t api_version = 0;
    bool int_dot = false;              // OpSDot 4x8 packed usable (feature + extension)
    bool int_dot_accelerated = false;  // integerDotProduct4x8BitPackedSignedAccelerated
    bool int8 = false;                 // shaderInt8
    bool fp16 = false;                 // shaderFloat16
    bool storage8 = false, storage16 = false;  // 8/16-bit storage buffer access
    uint32_t subgroup_size = 0;
    uint32_t subgroup_ops = 0;         // VkSubgroupFeatureFlags in compute
    bool subgroup = false;             // basic + arithmetic + shuffle in compute, used by kernels
    uint32_t shared_memory = 0;        // maxComputeSharedMemorySize
    uint32_t max_workgroup_invocations = 0;
    uint32_t max_workgroup_count[3] = {0, 0, 0};
    uint64_t max_storage_buffer_range = 0;
    uint64_t max_allocation_size = 0;
    uint64_t min_storage_offset_alignment = 0;
    uint64_t device_local_bytes = 0;
    bool uma = false;                  // device-local memory is host visible
    bool cooperative_matrix = false;   // VK_KHR_cooperative_matrix present (not used yet)
    float timestamp_period_ns = 0;     // 0 = no compute timestamps
    // Which capability paths were forced off by options/environment.
    bool forced_no_int_dot = false, forced_no_fp16 = false, forced_no_subgroup = false;

    std::string report() const;  // human-readable, one feature a line
};

struct PhysicalDeviceInfo {
    uint32_t index;
    std::string name;
    VkPhysicalDeviceType type;
};

class Device {
public:
    explicit Device(const DeviceOptions& opts = DeviceOptions::from_env());
    ~Device();
    Device(const Device&) = delete;
    Device& operator=(const Device&) = delete;

    // All Vulkan devices on this machine, for --devices listings.
    static std::vector<PhysicalDeviceInfo> list();

    const Capabilities& caps() const { return caps_; }
    VkDevice handle() const { return device_; }
    VkPhysicalDevice physical() const { return phys_; }
    VkQueue queue() const { return queue_; }
    uint32_t queue_family() const { return queue_family_; }
    VkCommandPool command_pool() const { return pool_; }
    VkPipelineCache pipeline_cache() const { return cache_; }
    const VkPhysicalDeviceMemoryProperties& memory_properties() const { return mem_props_; }

    // A compute pipeline for an embedded shader variant, built once and kept.
    // spec: specialization constants by id (0, 1, 2, ...).
    const Pipeline& pipeline(const std::string& variant, const std::vector<uint32_t>& spec = {});

    // Validation-layer messages (warnings and errors) seen so far.
    uint64_t validation_messages() const { return validation_messages_.load(); }
    bool validation_enabled() const { return validation_; }
    // Pipeline cache: where it is saved, and how many bytes were loaded at start.
    const std::string& pipeline_cache_path() const { return cache_path_; }
    size_t pipeline_cache_loaded_bytes() const { return cache_loaded_bytes_; }
    void save_pipeline_cache() const;  // also done by the destructor

    // Submit one command buffer and wait for it (a fence per call).
    void submit_and_wait(VkCommandBuffer cb) const;

private:
    static VKAPI_ATTR VkBool32 VKAPI_CALL debug_callback(
        VkDebugUtilsMessageSeverityFlagBitsEXT, VkDebugUtilsMessageTypeFlagsEXT,
        const VkDebugUtilsMessengerCallbackDataEXT*, void*);
    void create_instance(const DeviceOptions& opts);
    void pick_physical(const DeviceOptions& opts);
    void query_caps(const DeviceOptions& opts);
    void create_device();
    void load_pipeline_cache(const DeviceOptions& opts);

    bool validation_ = false;
    std::atomic<uint64_t> validation_messages_{0};
    vk::Unique<VkInstance> instance_;
    vk::Unique<VkDebugUtilsMessengerEXT> messenger_;
    VkPhysicalDevice phys_ = VK_NULL_HANDLE;
    vk::Unique<VkDevice> device_;
    VkQueue queue_ = VK_NULL_HANDLE;
    uint32_t queue_family_ = 0;
    vk::Unique<VkCommandPool> pool_;
    vk::Unique<VkPipelineCache> cache_;
    std::string cache_path_;
    size_t cache_loaded_bytes_ = 0;
    VkPhysicalDeviceMemoryProperties mem_props_{};
    Capabilities caps_;
    std::vector<const char*> enabled_exts_;
    std::mutex pipelines_mu_;
    std::map<std::string, std::unique_ptr<Pipeline>> pipelines_;
};

}  // namespace vkrt
