// Device layer: instance, physical-device selection, capabilities, logical
// device, queue, command pool, pipeline cache (saved to disk).
//
// Threads: a Device is shared by every thread that uses it. The Vulkan objects
// that need external synchronization are only reached through members that
// take a lock: the queue (submit_and_wait, queue_wait_idle), the device's own
// command pool (run_once) and the pipeline cache (pipeline, save). Recorders
// own their command pool and descriptor pools (a recorder serves one thread at
// a time).
#pragma once
#include <vulkan/vulkan.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "variants.hpp"  // generated: spv::Variant
#include "vk/handle.hpp"
#include "vk/shader_stats.hpp"

namespace vkrt {

class Pipeline;

// The largest storage-buffer binding vkrt makes, whatever maxStorageBufferRange says: an
// H100 (driver 580) reports 4 GiB, yet a 2 GiB binding broke there while 1 GiB worked
// (../shared/ANCHORS.md). Offsets past 2^31 bytes are where drivers keep signed 32-bit
// arithmetic; 1 GiB is the largest size seen working. Weights are split into parts of at
// most this (ops/weights.hpp), so the cap only costs a few more dispatches on huge tensors.
inline constexpr uint64_t kMaxBindingRange = uint64_t(1) << 30;
// The binding range vkrt uses on a device reporting `max_storage_buffer_range`.
inline uint64_t usable_binding_range(uint64_t max_storage_buffer_range) {
    return max_storage_buffer_range < kMaxBindingRange ? max_storage_buffer_range : kMaxBindingRange;
}

struct DeviceOptions {
    std::string select;          // index ("1") or case-insensitive name substring; "" = best
    bool disable_int_dot = false;   // act as if VK_KHR_shader_integer_dot_product were missing
    bool disable_fp16 = false;      // act as if shaderFloat16 were missing
    bool disable_subgroup = false;  // act as if subgroup arithmetic were missing
    // Choose kernel shapes and paths as on a GPU even on a CPU implementation (lavapipe):
    // lets the tests run the GPU choices on a machine without one.
    bool disable_cpu_tuning = false;
    // Decode halves with integer operations (what arm64 lavapipe with LLVM 15 needs)
    // instead of unpackHalf2x16: lets the tests run that path anywhere.
    bool disable_native_half = false;
    // Act as a device whose shader compiler keeps constant-trip loops rolled (Arm Mali's):
    // the kernels take their rolled-loop forms (Capabilities::unrolls_loops), anywhere.
    bool disable_unroll = false;
    bool disable_coopmat = false;   // act as if VK_KHR_cooperative_matrix were missing
    // Keep every weight in the file's byte layout (no repacking into the grouped layout at
    // upload: Capabilities::repack, ops::upload_layout): an A/B of the repacked kernels.
    bool disable_repack = false;
    bool validation = false;        // Khronos validation layer + message counter
    std::string pipeline_cache;  // file path; "" = default (see pipeline_cache_dir), "off" = none
    // Folder for the default cache file; "" = $XDG_CACHE_HOME/vkrt or ~/.cache/vkrt. Apps
    // without a home directory (Android) pass their cache folder here.
    std::string pipeline_cache_dir;
    uint64_t max_binding_bytes = 0;  // split weights into bindings of at most this (0 = the device's limit)
    // Act as if the device-local heap had only this many bytes (testing the memory
    // checks without a model larger than the real heap); 0 = the real heap.
    uint64_t memory_limit = 0;
    // Act as a device that reports only the minimum limits a low-end phone does
    // (kMinLimits in device.cpp): every kernel shape and binding is then checked against
    // those instead of the real device's, so lavapipe runs what a phone would.
    bool min_limits = false;
    // Act as a device that reports at most this Vulkan API version (VK_API_VERSION_1_x; 0 = the
    // device's own): the features and extensions are then chosen as on such a device, and a
    // version below what the kernels need is refused (testing Vulkan 1.1 phones on lavapipe).
    uint32_t max_api_version = 0;
    // The workgroup memory one recorded command buffer may make the driver hold
    // (Capabilities::record_budget): kDeviceRecordBudget = the device's own rule, 0 = unbounded,
    // else bytes (VKRT_RECORD_BUDGET: bytes with a K/M/G suffix, 0, or "device").
    static constexpr uint64_t kDeviceRecordBudget = ~uint64_t(0);
    uint64_t record_budget = kDeviceRecordBudget;
    // Record every pipeline the runtime asks for with the compiler's statistics
    // (VK_KHR_pipeline_executable_properties where the driver has it, its stderr otherwise),
    // each compile under a watchdog of compile_timeout_s (vk/shader_stats.hpp).
    bool shader_stats = false;
    double compile_timeout_s = 30;

    // VKRT_DEVICE, VKRT_DISABLE (comma list of dot,fp16,subgroup,cpu_tuning,half,unroll,coopmat,repack;
    // VKRT_REPACK=0 is the same as repack there), VKRT_VALIDATION=1,
    // VKRT_PIPELINE_CACHE (path or "off"), VKRT_MAX_BINDING_BYTES (bytes; forces small
    // weight parts, as on a phone's 128 MiB maxStorageBufferRange), VKRT_MEMORY_LIMIT
    // (bytes, or with a K/M/G suffix), VKRT_LIMITS=min (min_limits; "device" or "" = the real ones),
    // VKRT_API_VERSION=1.0|1.1|1.2|1.3 (max_api_version), VKRT_RECORD_BUDGET (record_budget).
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
    // A CPU implementation (lavapipe, SwiftShader): the ops pick the workgroup shapes and
    // paths that run fast there (narrow GEMV/RMSNorm workgroups, GEMV for prefill).
    bool cpu_tuning = false;
    // Limits every pipeline and dispatch is checked against (Pipeline, Recorder); with
    // DeviceOptions::min_limits they are the simulated minimum ones.
    // Shaders decode halves with unpackHalf2x16 (one instruction, or a few), not with the
    // integer decoder of shaders/common.glsl; off only where the driver cannot compile
    // the conversion (lavapipe on AArch64 with LLVM <= 15: docs/AARCH64.md). Passed to every
    // pipeline as the specialization constant VKRT_SPEC_NATIVE_HALF (shaders/shared/spec.h).
    bool native_half = false;
    // The shader compiler unrolls loops of constant trip count, so kernels may index private
    // arrays in them (they become registers). Off on Arm Mali (vendor 0x13B5): Mesa 25.0's
    // panvk keeps such loops rolled and its backend then spends minutes on the matrix-vector
    // kernel's arrays as dynamically indexed registers; kernels take forms without them
    // (shaders/matvec.comp ROLLED, docs/GPU.md).
    bool unrolls_loops = true;
    // Weights of the formats that have a grouped layout are repacked into it at upload
    // (ops::upload_layout: 16-byte aligned field arrays the GEMV loads as vectors); off
    // (DeviceOptions::disable_repack) keeps the file's layout for every weight.
    bool repack = true;
    uint32_t shared_memory = 0;        // maxComputeSharedMemorySize
    uint32_t max_workgroup_invocations = 0;
    uint32_t max_workgroup_size[3] = {0, 0, 0};   // maxComputeWorkGroupSize
    uint32_t max_workgroup_count[3] = {0, 0, 0};
    uint32_t max_push_constants = 0;              // maxPushConstantsSize
    uint32_t max_storage_buffers = 0;             // maxPerStageDescriptorStorageBuffers
    bool min_limits = false;                      // simulated minimum limits (VKRT_LIMITS=min)
    uint64_t max_storage_buffer_range = 0;  // maxStorageBufferRange, capped at kMaxBindingRange
    uint64_t max_binding_bytes = 0;    // weights are split into parts of at most this (ops/weights.hpp):
                                       // maxStorageBufferRange, maxMemoryAllocationSize, VKRT_MAX_BINDING_BYTES
    uint64_t max_allocation_size = 0;
    uint64_t min_storage_offset_alignment = 0;
    uint64_t device_local_bytes = 0;
    bool uma = false;                  // device-local memory is host visible
    // VK_KHR_cooperative_matrix usable: the extension, its cooperativeMatrix feature and the
    // Vulkan memory model (glslang's matrix kernels declare it), all enabled at device
    // creation; coopmat_shapes are the subgroup-scope shapes and types it reports
    // (vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR), from which the ops choose a
    // kernel (ops::gemm_coopmat_supported). Off: the kernels without matrices.
    bool cooperative_matrix = false;
    struct CoopmatShape {
        uint32_t M, N, K;
        uint32_t a, b, c, result;  // VkComponentTypeKHR: 0 float16, 1 float32, 3 sint8, 5 sint32, ...
        bool saturating;
    };
    std::vector<CoopmatShape> coopmat_shapes;
    // Why cooperative_matrix is off although the device has it ("" otherwise): the Khronos
    // validation layer in use predates VK_KHR_cooperative_matrix (Debian 12's 1.3.239: its
    // SPIR-V checks reject the KHR matrix instructions, so every matrix kernel would be a
    // validation error); without VKRT_VALIDATION, or with a newer layer, the kernels run.
    std::string coopmat_off;
    // The device reports M x N x K with these component types (subgroup scope, no saturation).
    bool has_coopmat(uint32_t M, uint32_t N, uint32_t K, uint32_t a, uint32_t b, uint32_t c, uint32_t result) const;
    // Compute units (AMD CUs, NVIDIA SMs, Arm shader cores, CPU threads): how many workgroups
    // run at once, roughly; the prefill GEMMs split K when their tiles are fewer (split-K,
    // ops/matmul.cpp). compute_units_source says where the number comes from (a vendor
    // extension's property, or an estimate: query_compute_units in vk/device.cpp).
    uint32_t compute_units = 1;
    const char* compute_units_source = "none";
    bool compute_units_reported = false;  // from a vendor extension, not an estimate
    // Workgroup (`shared`) memory that is main memory the driver allocates per dispatch, held
    // by the command buffer until it is reset: Arm Mali (vendor 0x13B5; Mesa 25.0's panvk
    // sizes it as the shared bytes rounded up to a power of two (at least 128) x each grid
    // dimension rounded up to a power of two x the shader cores, and reuses nothing within a
    // command buffer: a 1B's 8-token prefill would hold 3.2 GiB on a G610 MP4). The recorder
    // estimates that memory per dispatch (Recorder::local_memory) and keeps what one command
    // buffer holds under record_budget: a pass that needs more is recorded in segments, each
    // submitted and released in turn (vk/recorder.hpp). 0 = unbounded (on-chip shared memory:
    // AMD, NVIDIA, Adreno, CPUs): one command buffer a pass, as before.
    bool local_memory_per_dispatch = false;
    uint64_t record_budget = 0;
    // (each user's estimate errs its own way: split-K low, split-KV attention high)
    float timestamp_period_ns = 0;     // 0 = no compute timestamps
    // Which capability paths were forced off by options/environment.
    bool forced_no_int_dot = false, forced_no_fp16 = false, forced_no_subgroup = false, forced_no_cpu_tuning = false,
         forced_no_native_half = false, forced_no_unroll = false, forced_no_coopmat = false, forced_no_repack = false;

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
    // Every Vulkan device with its capability report as a Device made with `opts` would have
    // it, from one instance and without creating any logical device (vkrt-bench --devices).
    // A device the runtime refuses (e.g. below Vulkan 1.1) gets the refusal as its report,
    // `usable` false. One instance for the whole listing: Mesa 25.0's panvk (on the no-op
    // kernel driver at least) crashes in a process that creates a second instance after
    // destroying one that was used (docs/GPU.md), as listing then opening each device did.
    struct Description {
        PhysicalDeviceInfo info;
        bool usable = false;
        std::string report;  // Capabilities::report(), or the error
    };
    static std::vector<Description> describe_all(const DeviceOptions& opts = DeviceOptions::from_env());

    const Capabilities& caps() const { return caps_; }
    VkDevice handle() const { return device_; }
    VkPhysicalDevice physical() const { return phys_; }
    uint32_t queue_family() const { return queue_family_; }
    // For Pipeline's constructor, which Device::pipeline runs under its lock.
    VkPipelineCache pipeline_cache() const { return cache_; }
    const VkPhysicalDeviceMemoryProperties& memory_properties() const { return mem_props_; }

    // A compute pipeline for an embedded shader variant, built once and kept. The variant
    // is a generated enumerator (cmake/VkrtShaders.cmake: one per `//! variant` line), so
    // that a misspelled or removed variant is a compile error, never a run-time lookup;
    // per-format kernels come from spv::format_kernel. spec: specialization constants by
    // id (0, 1, 2, ...).
    const Pipeline& pipeline(spv::Variant variant, const std::vector<uint32_t>& spec = {});

    // Shader-statistics mode (DeviceOptions::shader_stats): every pipeline asked for, in
    // request order, with its compile status and figures; and whether the driver reports
    // statistics through VK_KHR_pipeline_executable_properties.
    std::vector<PipelineRecord> pipeline_records() const;
    bool capture_statistics() const { return capture_stats_; }

    // Validation-layer messages (warnings and errors) seen so far.
    uint64_t validation_messages() const { return validation_messages_.load(); }
    bool validation_enabled() const { return validation_; }
    // Pipeline cache: where it is saved, and how many bytes were loaded at start.
    const std::string& pipeline_cache_path() const { return cache_path_; }
    size_t pipeline_cache_loaded_bytes() const { return cache_loaded_bytes_; }
    void save_pipeline_cache() const;  // also done by the destructor

    // Submit one command buffer and wait for it (a fence per call). Thread-safe: the
    // queue is locked for the submit only, not for the wait.
    void submit_and_wait(VkCommandBuffer cb) const;
    // vkQueueWaitIdle under the queue lock.
    void queue_wait_idle() const;
    // Record a one-off command buffer from the device's pool with `record`, submit
    // it and wait (staging copies). Thread-safe: the pool is locked throughout.
    void run_once(const std::function<void(VkCommandBuffer)>& record) const;

    // Device memory: the bytes the heap behind device-local buffers can still give
    // (VK_EXT_memory_budget's budget minus usage where present, else the heap size),
    // and a check that `bytes` for `what` fit there before anything is allocated:
    // out_of_memory naming `what`, its size, the heap and what it has.
    struct HeapInfo {
        uint32_t index = 0;
        uint64_t size = 0, budget = 0, usage = 0, available = 0;
        bool from_budget_ext = false;  // VK_EXT_memory_budget figures
        bool limited = false;          // DeviceOptions::memory_limit applied
    };
    HeapInfo device_heap() const;
    void check_memory(uint64_t bytes, const std::string& what) const;
    // Buffers report their device memory here (+ on allocation, - on release).
    void note_allocation(int64_t bytes) const;

private:
    struct InstanceOnly {};  // describe_all: an instance, no physical or logical device yet
    Device(InstanceOnly, const DeviceOptions& opts);
    static VKAPI_ATTR VkBool32 VKAPI_CALL debug_callback(
        VkDebugUtilsMessageSeverityFlagBitsEXT, VkDebugUtilsMessageTypeFlagsEXT,
        const VkDebugUtilsMessengerCallbackDataEXT*, void*);
    void create_instance(const DeviceOptions& opts);
    void pick_physical(const DeviceOptions& opts);
    void query_caps(const DeviceOptions& opts);
    void create_device();
    void load_pipeline_cache(const DeviceOptions& opts);
    // Device::pipeline in shader-statistics mode (vk/shader_stats.cpp): the compile on a
    // watched thread, its figures and stderr kept in records_.
    const Pipeline& pipeline_with_stats(const std::string& key, spv::Variant variant,
                                        const std::vector<uint32_t>& spec);

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
    bool memory_budget_ext_ = false;  // VK_EXT_memory_budget enabled
    uint64_t memory_limit_ = 0;
    mutable std::atomic<uint64_t> allocated_bytes_{0};  // device memory held by Buffers
    mutable std::mutex queue_mu_;      // vkQueueSubmit / vkQueueWaitIdle
    mutable std::mutex pool_mu_;       // pool_ and the command buffers allocated from it
    mutable std::mutex pipelines_mu_;  // pipelines_ and the VkPipelineCache
    std::map<std::string, std::unique_ptr<Pipeline>> pipelines_;
    // Shader-statistics mode (guarded by pipelines_mu_).
    bool shader_stats_ = false;
    bool capture_stats_ = false;  // VK_KHR_pipeline_executable_properties enabled
    double compile_timeout_s_ = 30;
    std::vector<PipelineRecord> records_;
    std::map<std::string, size_t> failed_;  // key -> records_ index of a failed or hung compile
};

}  // namespace vkrt
