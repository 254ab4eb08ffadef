#include "vk/device.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/log.hpp"
#include "io/safe_write.hpp"
#include "vk/check.hpp"
#include "vk/pipeline.hpp"
#include "vk/shaders.hpp"

namespace vkrt {

namespace {

std::string lower(std::string s) {
    for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

bool has_ext(const std::vector<VkExtensionProperties>& exts, const char* name) {
    return std::any_of(exts.begin(), exts.end(),
                       [&](const VkExtensionProperties& e) { return std::strcmp(e.extensionName, name) == 0; });
}

std::vector<VkExtensionProperties> device_extensions(VkPhysicalDevice pd) {
    uint32_t n = 0;
    VK_CHECK(vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, nullptr));
    std::vector<VkExtensionProperties> v(n);
    VK_CHECK(vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, v.data()));
    return v;
}

const char* type_name(VkPhysicalDeviceType t) {
    switch (t) {
        case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated GPU";
        case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete GPU";
        case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual GPU";
        case VK_PHYSICAL_DEVICE_TYPE_CPU: return "CPU";
        default: return "other";
    }
}

int type_rank(VkPhysicalDeviceType t) {
    switch (t) {
        case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 4;
        case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 3;
        case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
        case VK_PHYSICAL_DEVICE_TYPE_CPU: return 1;
        default: return 0;
    }
}

// A bare instance used only to list devices.
VkInstance make_instance(bool validation, bool* portability_out) {
    uint32_t n = 0;
    vkEnumerateInstanceExtensionProperties(nullptr, &n, nullptr);
    std::vector<VkExtensionProperties> exts(n);
    vkEnumerateInstanceExtensionProperties(nullptr, &n, exts.data());
    std::vector<const char*> want;
    bool portability = has_ext(exts, VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME);
    if (portability) want.push_back(VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME);
    std::vector<const char*> layers;
    if (validation) {
        VKRT_CHECK(has_ext(exts, VK_EXT_DEBUG_UTILS_EXTENSION_NAME), Status::unsupported,
                   "validation requested but VK_EXT_debug_utils is missing");
        want.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
        uint32_t nl = 0;
        vkEnumerateInstanceLayerProperties(&nl, nullptr);
        std::vector<VkLayerProperties> lp(nl);
        vkEnumerateInstanceLayerProperties(&nl, lp.data());
        bool found = std::any_of(lp.begin(), lp.end(), [](const VkLayerProperties& l) {
            return std::strcmp(l.layerName, "VK_LAYER_KHRONOS_validation") == 0;
        });
        VKRT_CHECK(found, Status::unsupported,
                   "validation requested (VKRT_VALIDATION=1) but VK_LAYER_KHRONOS_validation is not "
                   "installed (Debian: vulkan-validationlayers)");
        layers.push_back("VK_LAYER_KHRONOS_validation");
    }
    // With validation, also synchronization validation: it reports a missing barrier
    // (a read-after-write hazard between dispatches) even where the driver happens
    // to run dispatches in order, as lavapipe does.
    VkValidationFeatureEnableEXT sync_enable = VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT;
    VkValidationFeaturesEXT features{VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT};
    features.enabledValidationFeatureCount = 1;
    features.pEnabledValidationFeatures = &sync_enable;
    bool sync_validation = false;
    if (validation) {
        uint32_t nle = 0;
        vkEnumerateInstanceExtensionProperties("VK_LAYER_KHRONOS_validation", &nle, nullptr);
        std::vector<VkExtensionProperties> layer_exts(nle);
        vkEnumerateInstanceExtensionProperties("VK_LAYER_KHRONOS_validation", &nle, layer_exts.data());
        sync_validation = has_ext(layer_exts, VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME);
        if (sync_validation) want.push_back(VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME);
    }
    uint32_t api = VK_API_VERSION_1_1;
    auto enum_version = reinterpret_cast<PFN_vkEnumerateInstanceVersion>(
        vkGetInstanceProcAddr(nullptr, "vkEnumerateInstanceVersion"));
    if (enum_version) {
        uint32_t v = 0;
        if (enum_version(&v) == VK_SUCCESS && v >= VK_API_VERSION_1_3) api = VK_API_VERSION_1_3;
        else if (v >= VK_API_VERSION_1_2) api = VK_API_VERSION_1_2;
    }
    VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
    app.pApplicationName = "vkrt";
    app.pEngineName = "vkrt";
    app.apiVersion = api;
    VkInstanceCreateInfo ci{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
    ci.pApplicationInfo = &app;
    ci.enabledExtensionCount = uint32_t(want.size());
    ci.ppEnabledExtensionNames = want.data();
    ci.enabledLayerCount = uint32_t(layers.size());
    ci.ppEnabledLayerNames = layers.data();
    if (portability) ci.flags |= VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR;
    if (sync_validation) ci.pNext = &features;
    VkInstance inst = VK_NULL_HANDLE;
    VkResult r = vkCreateInstance(&ci, nullptr, &inst);
    if (r == VK_ERROR_INCOMPATIBLE_DRIVER)
        fail(Status::device_error, "no Vulkan driver found (vkCreateInstance: VK_ERROR_INCOMPATIBLE_DRIVER); "
                                   "on Debian install mesa-vulkan-drivers for the CPU driver lavapipe");
    VK_CHECK(r);
    if (portability_out) *portability_out = portability;
    return inst;
}

std::vector<VkPhysicalDevice> physical_devices(VkInstance inst) {
    uint32_t n = 0;
    VK_CHECK(vkEnumeratePhysicalDevices(inst, &n, nullptr));
    std::vector<VkPhysicalDevice> v(n);
    VK_CHECK(vkEnumeratePhysicalDevices(inst, &n, v.data()));
    return v;
}

std::string default_cache_dir() {
    if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/vkrt";
    if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/vkrt";
    return {};
}

// "123", "64K", "512M", "2G" -> bytes; anything else (or an overflow) is an error naming `what`.
uint64_t parse_bytes(const std::string& s, const char* what) {
    uint64_t v = 0;
    size_t i = 0;
    for (; i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])); ++i) {
        const uint64_t d = uint64_t(s[i] - '0');
        VKRT_CHECK(v <= (UINT64_MAX - d) / 10, Status::invalid_argument, what, "='", s, "' overflows 64 bits");
        v = v * 10 + d;
    }
    VKRT_CHECK(i > 0 && i + 1 >= s.size(), Status::invalid_argument, what, "='", s,
               "' is not a byte count (digits, optionally followed by K, M or G)");
    int shift = 0;
    if (i < s.size()) {
        switch (std::toupper(static_cast<unsigned char>(s[i]))) {
            case 'K': shift = 10; break;
            case 'M': shift = 20; break;
            case 'G': shift = 30; break;
            default: fail(Status::invalid_argument, what, "='", s, "': unknown suffix (K, M or G)");
        }
    }
    VKRT_CHECK(v <= (UINT64_MAX >> shift), Status::invalid_argument, what, "='", s, "' overflows 64 bits");
    return v << shift;
}

// VKRT_LIMITS=min: Vulkan's required minimum limits (the spec's "Required Limits" table),
// which is what the least capable phones report for the ones that matter here: 128
// invocations and 16 KiB of shared memory a workgroup, 128 MiB bindings. Applied over the
// device's own figures: a limit is only ever lowered, an alignment only ever raised.
void apply_min_limits(Capabilities& c) {
    c.min_limits = true;
    c.max_workgroup_invocations = std::min(c.max_workgroup_invocations, 128u);
    const uint32_t size[3] = {128, 128, 64};
    for (int i = 0; i < 3; ++i) {
        c.max_workgroup_size[i] = std::min(c.max_workgroup_size[i], size[i]);
        c.max_workgroup_count[i] = std::min(c.max_workgroup_count[i], 65535u);
    }
    c.shared_memory = std::min(c.shared_memory, 16384u);
    c.max_push_constants = std::min(c.max_push_constants, 128u);
    // Vulkan's minimum is 4; the kernels bind up to 8 (gemm_int8). 8 is WebGPU's default
    // maxStorageBuffersPerShaderStage, which it requires of every device it targets.
    c.max_storage_buffers = std::min(c.max_storage_buffers, 8u);
    c.max_storage_buffer_range = std::min<uint64_t>(c.max_storage_buffer_range, uint64_t(1) << 27);
    c.max_allocation_size = std::min<uint64_t>(c.max_allocation_size ? c.max_allocation_size : ~0ull, uint64_t(1) << 30);
    c.min_storage_offset_alignment = std::max<uint64_t>(c.min_storage_offset_alignment, 256);
}

std::string mib(uint64_t bytes) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.1f MiB", double(bytes) / (1024.0 * 1024.0));
    return buf;
}

// lavapipe on AArch64 with LLVM 15 or older (Debian 12's arm64 Mesa): its LLVM backend
// aborts the process on the half -> float conversion ("LLVM ERROR: Cannot select",
// docs/AARCH64.md), so halves are decoded with integer operations there. The device
// name carries the LLVM version: "llvmpipe (LLVM 15.0.6, 128 bits)".
bool half_conversion_breaks_compiler(const std::string& device_name) {
#if defined(__aarch64__)
    const size_t p = device_name.find("llvmpipe (LLVM ");
    if (p == std::string::npos) return false;
    return std::atoi(device_name.c_str() + p + 15) <= 15;
#else
    (void)device_name;
    return false;
#endif
}

}  // namespace

// ---------------------------------------------------------------- options

DeviceOptions DeviceOptions::from_env() {
    DeviceOptions o;
    if (const char* d = std::getenv("VKRT_DEVICE")) o.select = d;
    if (const char* d = std::getenv("VKRT_DISABLE")) {
        std::stringstream ss(lower(d));
        std::string item;
        while (std::getline(ss, item, ',')) {
            if (item == "dot" || item == "int_dot" || item == "intdot") o.disable_int_dot = true;
            else if (item == "fp16" || item == "f16") o.disable_fp16 = true;
            else if (item == "subgroup" || item == "subgroups") o.disable_subgroup = true;
            else if (item == "cpu_tuning" || item == "cpu") o.disable_cpu_tuning = true;
            else if (item == "half" || item == "native_half") o.disable_native_half = true;
            else if (item == "unroll") o.disable_unroll = true;
            else if (item == "coopmat" || item == "cooperative_matrix") o.disable_coopmat = true;
            else if (item == "repack") o.disable_repack = true;
            else if (!item.empty())
                fail(Status::invalid_argument, "VKRT_DISABLE: unknown feature '", item,
                     "' (known: dot, fp16, subgroup, cpu_tuning, half, unroll, coopmat, repack)");
        }
    }
    // The earlier spelling of VKRT_DISABLE=repack (docs/BENCHMARKS.md's A/B runs).
    if (const char* r = std::getenv("VKRT_REPACK"); r && *r) {
        VKRT_CHECK(std::strcmp(r, "0") == 0 || std::strcmp(r, "1") == 0, Status::invalid_argument, "VKRT_REPACK: '", r,
                   "' is not 0 (weights in the file's layout) or 1 (repacked: the default)");
        if (std::strcmp(r, "0") == 0) o.disable_repack = true;
    }
    if (const char* v = std::getenv("VKRT_VALIDATION")) o.validation = std::strcmp(v, "0") != 0 && *v;
    if (const char* c = std::getenv("VKRT_PIPELINE_CACHE")) o.pipeline_cache = c;
    if (const char* b = std::getenv("VKRT_MAX_BINDING_BYTES"); b && *b) {
        char* end = nullptr;
        const unsigned long long v = std::strtoull(b, &end, 10);
        VKRT_CHECK(*end == 0 && v >= 256, Status::invalid_argument, "VKRT_MAX_BINDING_BYTES: '", b,
                   "' is not a byte count >= 256");
        o.max_binding_bytes = v;
    }
    if (const char* m = std::getenv("VKRT_MEMORY_LIMIT"); m && *m) o.memory_limit = parse_bytes(m, "VKRT_MEMORY_LIMIT");
    if (const char* r = std::getenv("VKRT_RECORD_BUDGET"); r && *r)
        o.record_budget = lower(r) == "device" ? DeviceOptions::kDeviceRecordBudget
                                               : parse_bytes(r, "VKRT_RECORD_BUDGET");
    if (const char* l = std::getenv("VKRT_LIMITS"); l && *l) {
        const std::string v = lower(l);
        VKRT_CHECK(v == "min" || v == "device", Status::invalid_argument, "VKRT_LIMITS: unknown value '", l,
                   "' (min: the minimum limits of a low-end phone; device: the device's own)");
        o.min_limits = v == "min";
    }
    if (const char* a = std::getenv("VKRT_API_VERSION"); a && *a) {
        const std::string v = a;
        if (v == "1.0") o.max_api_version = VK_API_VERSION_1_0;
        else if (v == "1.1") o.max_api_version = VK_API_VERSION_1_1;
        else if (v == "1.2") o.max_api_version = VK_API_VERSION_1_2;
        else if (v == "1.3") o.max_api_version = VK_API_VERSION_1_3;
        else fail(Status::invalid_argument, "VKRT_API_VERSION: '", a, "' is not 1.0, 1.1, 1.2 or 1.3");
    }
    return o;
}

// ---- compute units (Capabilities::compute_units)
// From the vendor extension that reports them where the device has one:
//   VK_AMD_shader_core_properties: shader engines x arrays per engine x CUs per array;
//   VK_NV_shader_sm_builtins: shaderSMCount; VK_ARM_shader_core_builtins: shaderCoreCount.
// Otherwise an estimate that errs low (a split-K that is not needed costs one extra pass
// over a small output; one that is missed leaves units idle): a CPU implementation runs
// a workgroup per thread (std::thread::hardware_concurrency); a discrete GPU without the
// properties 16 (the smallest current desktop parts: RX 7600 32 CUs, RTX 4060 24 SMs,
// Arc A380 8 Xe cores); an integrated or other one 4 (Adreno 6xx/7xx 2-6 SPs, Mali
// G610 MP4-MP6, Intel UHD 770 32 EUs = 4 subslices).
static void query_compute_units(VkPhysicalDevice phys, const std::vector<VkExtensionProperties>& exts, Capabilities& c) {
    VkPhysicalDeviceShaderCorePropertiesAMD amd{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_CORE_PROPERTIES_AMD};
    VkPhysicalDeviceShaderSMBuiltinsPropertiesNV nv{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_SM_BUILTINS_PROPERTIES_NV};
    VkPhysicalDeviceShaderCoreBuiltinsPropertiesARM arm{
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_CORE_BUILTINS_PROPERTIES_ARM};
    VkPhysicalDeviceProperties2 p2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
    void** tail = &p2.pNext;
    const bool has_amd = has_ext(exts, VK_AMD_SHADER_CORE_PROPERTIES_EXTENSION_NAME);
    const bool has_nv = has_ext(exts, VK_NV_SHADER_SM_BUILTINS_EXTENSION_NAME);
    const bool has_arm = has_ext(exts, VK_ARM_SHADER_CORE_BUILTINS_EXTENSION_NAME);
    if (has_amd) { *tail = &amd; tail = &amd.pNext; }
    if (has_nv) { *tail = &nv; tail = &nv.pNext; }
    if (has_arm) { *tail = &arm; tail = &arm.pNext; }
    vkGetPhysicalDeviceProperties2(phys, &p2);
    const uint32_t amd_cus = amd.shaderEngineCount * amd.shaderArraysPerEngineCount * amd.computeUnitsPerShaderArray;
    if (has_amd && amd_cus > 0) {
        c.compute_units = amd_cus;
        c.compute_units_source = "VK_AMD_shader_core_properties";
        c.compute_units_reported = true;
    } else if (has_nv && nv.shaderSMCount > 0) {
        c.compute_units = nv.shaderSMCount;
        c.compute_units_source = "VK_NV_shader_sm_builtins";
        c.compute_units_reported = true;
    } else if (has_arm && arm.shaderCoreCount > 0) {
        c.compute_units = arm.shaderCoreCount;
        c.compute_units_source = "VK_ARM_shader_core_builtins";
        c.compute_units_reported = true;
    } else if (p2.properties.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU) {
        c.compute_units = std::max(1u, std::thread::hardware_concurrency());
        c.compute_units_source = "estimate: CPU threads";
    } else if (p2.properties.deviceType == VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU) {
        c.compute_units = 16;
        c.compute_units_source = "estimate: discrete GPU";
    } else {
        c.compute_units = 4;
        c.compute_units_source = "estimate: integrated/other GPU";
    }
}

// ---- VK_KHR_cooperative_matrix (Vulkan 1.3.255; Debian 12's headers are 1.3.239, so the
// structures are declared here, as the registry has them)
constexpr VkStructureType kCoopmatFeaturesSType = VkStructureType(1000506000);
constexpr VkStructureType kCoopmatPropertiesSType = VkStructureType(1000506001);
struct CoopmatFeatures {  // VkPhysicalDeviceCooperativeMatrixFeaturesKHR
    VkStructureType sType;
    void* pNext;
    VkBool32 cooperativeMatrix;
    VkBool32 cooperativeMatrixRobustBufferAccess;
};
struct CoopmatProperties {  // VkCooperativeMatrixPropertiesKHR
    VkStructureType sType;
    void* pNext;
    uint32_t MSize, NSize, KSize;
    uint32_t AType, BType, CType, ResultType;  // VkComponentTypeKHR
    VkBool32 saturatingAccumulation;
    uint32_t scope;  // VkScopeKHR: 3 = subgroup
};
using PFN_CoopmatProperties = VkResult(VKAPI_PTR*)(VkPhysicalDevice, uint32_t*, CoopmatProperties*);

// The specVersion of VK_LAYER_KHRONOS_validation (0 when absent).
static uint32_t validation_layer_version() {
    uint32_t n = 0;
    vkEnumerateInstanceLayerProperties(&n, nullptr);
    std::vector<VkLayerProperties> lp(n);
    vkEnumerateInstanceLayerProperties(&n, lp.data());
    for (const VkLayerProperties& l : lp)
        if (std::strcmp(l.layerName, "VK_LAYER_KHRONOS_validation") == 0) return l.specVersion;
    return 0;
}

// Sets c.cooperative_matrix (feature cooperativeMatrix and vulkanMemoryModel, which the
// kernels' SPIR-V declares) and c.coopmat_shapes (subgroup scope only: the kernels use no
// other) for a device with the extension. vulkanMemoryModelDeviceScope is required too:
// once the memory model is enabled, every module that uses Device scope needs it
// (VUID-RuntimeSpirv-vulkanMemoryModel-06265), and the kernels that finish a result in
// its last workgroup (shaders/arrival.glsl: memoryBarrierBuffer, OpMemoryBarrier at Device
// scope) use it on every device; a device without it keeps the memory model off and runs
// the other variants.
static void query_coopmat(VkInstance inst, VkPhysicalDevice phys, uint32_t api, Capabilities& c) {
    CoopmatFeatures cmf{};
    cmf.sType = kCoopmatFeaturesSType;
    VkPhysicalDeviceVulkanMemoryModelFeatures vmm{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_MEMORY_MODEL_FEATURES};
    cmf.pNext = &vmm;
    VkPhysicalDeviceFeatures2 f2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    f2.pNext = &cmf;
    vkGetPhysicalDeviceFeatures2(phys, &f2);
    // Below Vulkan 1.2 the memory model is VK_KHR_vulkan_memory_model's
    const bool vmm_ext = api >= VK_API_VERSION_1_2 || has_ext(device_extensions(phys), "VK_KHR_vulkan_memory_model");
    auto get = reinterpret_cast<PFN_CoopmatProperties>(
        vkGetInstanceProcAddr(inst, "vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR"));
    if (!cmf.cooperativeMatrix || !vmm.vulkanMemoryModel || !vmm.vulkanMemoryModelDeviceScope || !vmm_ext ||
        get == nullptr)
        return;
    uint32_t n = 0;
    if (get(phys, &n, nullptr) != VK_SUCCESS || n == 0) return;
    std::vector<CoopmatProperties> props(n);
    for (CoopmatProperties& p : props) {
        p = {};
        p.sType = kCoopmatPropertiesSType;
    }
    if (get(phys, &n, props.data()) != VK_SUCCESS) return;
    props.resize(n);
    for (const CoopmatProperties& p : props)
        if (p.scope == 3)
            c.coopmat_shapes.push_back({p.MSize, p.NSize, p.KSize, p.AType, p.BType, p.CType, p.ResultType,
                                        p.saturatingAccumulation != VK_FALSE});
    c.cooperative_matrix = !c.coopmat_shapes.empty();
}

std::string Capabilities::report() const {
    std::ostringstream os;
    auto yn = [](bool b) { return b ? "yes" : "no"; };
    auto forced = [](bool f) { return f ? " (disabled by VKRT_DISABLE/options)" : ""; };
    os << "device:                  " << name << " (" << type_name(type) << ")\n"
       << "driver:                  " << driver << "\n"
       << "vendor/device id:        0x" << std::hex << vendor_id << "/0x" << device_id << std::dec << "\n"
       << "Vulkan API:              " << VK_API_VERSION_MAJOR(api_version) << "."
       << VK_API_VERSION_MINOR(api_version) << "." << VK_API_VERSION_PATCH(api_version) << "\n"
       << "integer dot product:     " << yn(int_dot) << forced(forced_no_int_dot)
       << ", 4x8 packed signed accelerated: " << yn(int_dot_accelerated) << "\n"
       << "shaderInt8:              " << yn(int8) << "\n"
       << "shaderFloat16:           " << yn(fp16) << forced(forced_no_fp16) << "\n"
       << "8-bit storage:           " << yn(storage8) << "\n"
       << "16-bit storage:          " << yn(storage16) << "\n"
       << "subgroup size:           " << subgroup_size << "\n"
       << "subgroup operations:     ";
    const std::pair<uint32_t, const char*> ops[] = {
        {VK_SUBGROUP_FEATURE_BASIC_BIT, "basic"}, {VK_SUBGROUP_FEATURE_VOTE_BIT, "vote"},
        {VK_SUBGROUP_FEATURE_ARITHMETIC_BIT, "arithmetic"}, {VK_SUBGROUP_FEATURE_BALLOT_BIT, "ballot"},
        {VK_SUBGROUP_FEATURE_SHUFFLE_BIT, "shuffle"}, {VK_SUBGROUP_FEATURE_SHUFFLE_RELATIVE_BIT, "shuffle_relative"},
        {VK_SUBGROUP_FEATURE_CLUSTERED_BIT, "clustered"}, {VK_SUBGROUP_FEATURE_QUAD_BIT, "quad"}};
    bool first = true;
    for (auto& [bit, nm] : ops)
        if (subgroup_ops & bit) { os << (first ? "" : " ") << nm; first = false; }
    os << "\n"
       << "subgroup path used:      " << yn(subgroup) << forced(forced_no_subgroup) << "\n"
       << "CPU-tuned shapes:        " << yn(cpu_tuning) << forced(forced_no_cpu_tuning) << "\n"
       << "limits:                  " << (min_limits ? "simulated minimum (VKRT_LIMITS=min)" : "the device's") << "\n"
       << "native half decoding:    " << yn(native_half) << forced(forced_no_native_half) << "\n"
       << "compiler unrolls loops:  " << yn(unrolls_loops) << forced(forced_no_unroll) << "\n"
       << "weights repacked:        " << yn(repack) << forced(forced_no_repack) << "\n"
       << "compute units:           " << compute_units << " (" << compute_units_source << ")\n"
       << "shared memory:           " << shared_memory << " bytes\n"
       << "max workgroup size:      " << max_workgroup_invocations << " (" << max_workgroup_size[0] << "x"
       << max_workgroup_size[1] << "x" << max_workgroup_size[2] << ")\n"
       << "push constants:          " << max_push_constants << " bytes\n"
       << "storage buffers/stage:   " << max_storage_buffers << "\n"
       << "storage offset align:    " << min_storage_offset_alignment << " bytes\n"
       << "maxStorageBufferRange:   " << max_storage_buffer_range << " bytes (vkrt uses at most " << kMaxBindingRange
       << ")\n"
       << "weight binding limit:    " << max_binding_bytes << " bytes\n"
       << "maxMemoryAllocationSize: " << max_allocation_size << " bytes\n"
       << "device-local memory:     " << device_local_bytes / (1024 * 1024) << " MiB"
       << (uma ? " (host visible: unified memory)" : "") << "\n"
       << "command buffer budget:   "
       << (record_budget == 0                 ? std::string("none")
           : record_budget >= (uint64_t(1) << 20) ? std::to_string(record_budget >> 20) + " MiB of workgroup memory"
                                                  : std::to_string(record_budget) + " bytes of workgroup memory")
       << (local_memory_per_dispatch ? " (allocated per dispatch)" : "") << "\n"
       << "cooperative matrix:      " << yn(cooperative_matrix) << forced(forced_no_coopmat)
       << (coopmat_off.empty() ? "" : " (" + coopmat_off + ")");
    // VkComponentTypeKHR names, as the shapes are listed (MxNxK A x B + C -> result)
    auto ct = [](uint32_t t) {
        static const char* const n[] = {"f16", "f32", "f64", "s8", "s16", "s32", "s64", "u8", "u16", "u32", "u64"};
        return t < sizeof(n) / sizeof(n[0]) ? n[t] : "?";
    };
    for (const CoopmatShape& s : coopmat_shapes)
        os << (&s == &coopmat_shapes[0] ? ": " : ", ") << s.M << "x" << s.N << "x" << s.K << " " << ct(s.a) << "x"
           << ct(s.b) << "+" << ct(s.c) << "->" << ct(s.result) << (s.saturating ? " (sat)" : "");
    os << "\n";
    return os.str();
}

bool Capabilities::has_coopmat(uint32_t M, uint32_t N, uint32_t K, uint32_t a, uint32_t b, uint32_t c,
                               uint32_t result) const {
    if (!cooperative_matrix) return false;
    for (const CoopmatShape& s : coopmat_shapes)
        if (s.M == M && s.N == N && s.K == K && s.a == a && s.b == b && s.c == c && s.result == result && !s.saturating)
            return true;
    return false;
}

// ---------------------------------------------------------------- device

std::vector<PhysicalDeviceInfo> Device::list() {
    VkInstance inst = make_instance(false, nullptr);
    std::vector<PhysicalDeviceInfo> out;
    auto pds = physical_devices(inst);
    for (uint32_t i = 0; i < pds.size(); ++i) {
        VkPhysicalDeviceProperties p;
        vkGetPhysicalDeviceProperties(pds[i], &p);
        out.push_back({i, p.deviceName, p.deviceType});
    }
    vkDestroyInstance(inst, nullptr);
    return out;
}

VKAPI_ATTR VkBool32 VKAPI_CALL Device::debug_callback(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                      VkDebugUtilsMessageTypeFlagsEXT,
                                                      const VkDebugUtilsMessengerCallbackDataEXT* data,
                                                      void* user) {
    auto* self = static_cast<Device*>(user);
    self->validation_messages_.fetch_add(1);
    const bool error = (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) != 0;
    log_line(error ? LogLevel::error : LogLevel::warning, error ? "validation error: " : "validation warning: ",
             data && data->pMessage ? data->pMessage : "(no message)");
    return VK_FALSE;
}

Device::Device(InstanceOnly, const DeviceOptions& opts) { create_instance(opts); }

std::vector<Device::Description> Device::describe_all(const DeviceOptions& opts) {
    Device probe(InstanceOnly{}, opts);
    std::vector<Description> out;
    auto pds = physical_devices(probe.instance_);
    for (uint32_t i = 0; i < pds.size(); ++i) {
        VkPhysicalDeviceProperties p;
        vkGetPhysicalDeviceProperties(pds[i], &p);
        Description d{{i, p.deviceName, p.deviceType}, false, {}};
        probe.phys_ = pds[i];
        probe.caps_ = Capabilities{};
        try {
            probe.query_caps(opts);  // what the constructor checks and reports, minus vkCreateDevice
            d.usable = true;
            d.report = probe.caps_.report();
        } catch (const Error& e) {
            d.report = "not usable: ";
            d.report += e.what();
            d.report += '\n';
        }
        out.push_back(std::move(d));
    }
    return out;
}

Device::Device(const DeviceOptions& opts) {
    create_instance(opts);
    pick_physical(opts);
    query_caps(opts);
    create_device();
    load_pipeline_cache(opts);
}

Device::~Device() {
    if (device_) vkDeviceWaitIdle(device_);
    try {
        save_pipeline_cache();
    } catch (...) {
        // a cache that cannot be written only costs compile time on the next start
    }
    pipelines_.clear();
    cache_.reset();
    pool_.reset();
    device_.reset();
    messenger_.reset();
    instance_.reset();
}

void Device::create_instance(const DeviceOptions& opts) {
    validation_ = opts.validation;
    VkInstance inst = make_instance(validation_, nullptr);
    instance_ = vk::Unique<VkInstance>(inst, [](VkInstance i) { vkDestroyInstance(i, nullptr); });
    if (validation_) {
        auto create = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
            vkGetInstanceProcAddr(inst, "vkCreateDebugUtilsMessengerEXT"));
        auto destroy = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
            vkGetInstanceProcAddr(inst, "vkDestroyDebugUtilsMessengerEXT"));
        VKRT_CHECK(create && destroy, Status::unsupported, "vkCreateDebugUtilsMessengerEXT not found");
        VkDebugUtilsMessengerCreateInfoEXT ci{VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
        ci.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                             VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
        ci.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                         VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                         VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
        ci.pfnUserCallback = &Device::debug_callback;
        ci.pUserData = this;
        VkDebugUtilsMessengerEXT m = VK_NULL_HANDLE;
        VK_CHECK(create(inst, &ci, nullptr, &m));
        messenger_ = vk::Unique<VkDebugUtilsMessengerEXT>(
            m, [inst, destroy](VkDebugUtilsMessengerEXT h) { destroy(inst, h, nullptr); });
    }
}

void Device::pick_physical(const DeviceOptions& opts) {
    auto pds = physical_devices(instance_);
    VKRT_CHECK(!pds.empty(), Status::device_error,
               "no Vulkan device found (on Debian, mesa-vulkan-drivers provides the CPU device lavapipe)");
    auto name_of = [](VkPhysicalDevice pd) {
        VkPhysicalDeviceProperties p;
        vkGetPhysicalDeviceProperties(pd, &p);
        return std::string(p.deviceName);
    };
    if (!opts.select.empty()) {
        const std::string& s = opts.select;
        bool numeric = std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit((unsigned char)c); });
        if (numeric) {
            const bool fits = s.size() <= 9;  // no overflow; more devices than that do not exist
            const unsigned long idx = fits ? std::stoul(s) : ~0ul;
            VKRT_CHECK(idx < pds.size(), Status::invalid_argument, "VKRT_DEVICE=", s, ": only ", pds.size(),
                       " Vulkan device(s) present");
            phys_ = pds[idx];
            return;
        }
        std::string want = lower(s);
        for (auto pd : pds)
            if (lower(name_of(pd)).find(want) != std::string::npos) {
                phys_ = pd;
                return;
            }
        std::string names;
        for (auto pd : pds) names += " '" + name_of(pd) + "'";
        fail(Status::invalid_argument, "VKRT_DEVICE='", s, "' matches no device; present:", names);
    }
    // Default: the best-ranked type (discrete > integrated > virtual > CPU), first in order.
    phys_ = pds[0];
    int best = -1;
    for (auto pd : pds) {
        VkPhysicalDeviceProperties p;
        vkGetPhysicalDeviceProperties(pd, &p);
        if (type_rank(p.deviceType) > best) {
            best = type_rank(p.deviceType);
            phys_ = pd;
        }
    }
}

void Device::query_caps(const DeviceOptions& opts) {
    auto exts = device_extensions(phys_);
    VkPhysicalDeviceProperties props;
    vkGetPhysicalDeviceProperties(phys_, &props);
    // The API version the runtime goes by (DeviceOptions::max_api_version may lower it), and
    // the one the embedded kernels need: a device that cannot take their SPIR-V is refused
    // here, before any pipeline (a driver may reject a too-new module or crash on it).
    uint32_t api = props.apiVersion;
    if (opts.max_api_version && opts.max_api_version < api) api = opts.max_api_version;
    const uint32_t spirv = spv::spirv_version(), need = std::max(spv::vulkan_version_for_spirv(spirv), VK_API_VERSION_1_1);
    // The one exception: shader statistics on a device below that version (panvk's Mali-G52
    // reports Vulkan 1.0) with VKRT_STATS_ALLOW_OLD_API=1 (vkrt-bench --shader-stats
    // --allow-vulkan-1.0 sets it), so that its compiler's figures can be read; the table says
    // the device is refused at runtime. Any other use still gets the refusal.
    const char* stats_old = opts.shader_stats ? std::getenv("VKRT_STATS_ALLOW_OLD_API") : nullptr;
    VKRT_CHECK(api >= need || (stats_old && std::strcmp(stats_old, "1") == 0), Status::unsupported, "device '",
               props.deviceName, "' supports Vulkan ", VK_API_VERSION_MAJOR(api), ".", VK_API_VERSION_MINOR(api),
               api != props.apiVersion ? " (VKRT_API_VERSION)" : "", "; vkrt's kernels are SPIR-V ", spirv >> 16, ".",
               (spirv >> 8) & 0xffu, " and need Vulkan ", VK_API_VERSION_MAJOR(need), ".", VK_API_VERSION_MINOR(need));
    Capabilities& c = caps_;
    c.name = props.deviceName;
    c.vendor_id = props.vendorID;
    c.device_id = props.deviceID;
    c.type = props.deviceType;
    c.api_version = api;
    c.shared_memory = props.limits.maxComputeSharedMemorySize;
    c.max_workgroup_invocations = props.limits.maxComputeWorkGroupInvocations;
    for (int i = 0; i < 3; ++i) {
        c.max_workgroup_size[i] = props.limits.maxComputeWorkGroupSize[i];
        c.max_workgroup_count[i] = props.limits.maxComputeWorkGroupCount[i];
    }
    c.max_push_constants = props.limits.maxPushConstantsSize;
    c.max_storage_buffers = props.limits.maxPerStageDescriptorStorageBuffers;
    c.max_storage_buffer_range = usable_binding_range(props.limits.maxStorageBufferRange);
    c.min_storage_offset_alignment = props.limits.minStorageBufferOffsetAlignment;
    c.timestamp_period_ns = props.limits.timestampPeriod;

    bool has_dot_ext = has_ext(exts, VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME);
    bool has_f16_ext = has_ext(exts, VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME);
    bool has_s16_ext = has_ext(exts, VK_KHR_16BIT_STORAGE_EXTENSION_NAME);
    bool has_s8_ext = has_ext(exts, VK_KHR_8BIT_STORAGE_EXTENSION_NAME);
    if (has_ext(exts, "VK_KHR_cooperative_matrix")) query_coopmat(instance_, phys_, api, c);
    query_compute_units(phys_, exts, c);

    // Properties chain: driver, subgroups, dot product, maintenance3.
    VkPhysicalDeviceDriverProperties drv{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
    VkPhysicalDeviceSubgroupProperties sg{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceShaderIntegerDotProductProperties dotp{
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_PROPERTIES};
    VkPhysicalDeviceMaintenance3Properties m3{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
    VkPhysicalDeviceProperties2 p2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
    p2.pNext = &sg;
    sg.pNext = &m3;
    void** tail = &m3.pNext;
    bool has_drv = api >= VK_API_VERSION_1_2 || has_ext(exts, "VK_KHR_driver_properties");
    if (has_drv) { *tail = &drv; tail = &drv.pNext; }
    if (has_dot_ext) { *tail = &dotp; tail = &dotp.pNext; }
    vkGetPhysicalDeviceProperties2(phys_, &p2);
    c.driver = has_drv ? std::string(drv.driverName) + " " + drv.driverInfo : "unknown";
    c.subgroup_size = sg.subgroupSize;
    c.subgroup_ops = (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) ? sg.supportedOperations : 0;
    c.max_allocation_size = m3.maxMemoryAllocationSize;
    if (opts.min_limits) apply_min_limits(c);
    c.int_dot_accelerated = has_dot_ext && dotp.integerDotProduct4x8BitPackedSignedAccelerated;

    // Features chain.
    VkPhysicalDeviceShaderFloat16Int8Features f16i8{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES};
    VkPhysicalDevice16BitStorageFeatures s16{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
    VkPhysicalDevice8BitStorageFeatures s8{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES};
    VkPhysicalDeviceShaderIntegerDotProductFeatures dotf{
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES};
    VkPhysicalDeviceFeatures2 f2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    bool v12 = api >= VK_API_VERSION_1_2;
    tail = &f2.pNext;
    if (v12 || has_f16_ext) { *tail = &f16i8; tail = &f16i8.pNext; }
    *tail = &s16; tail = &s16.pNext;  // core in 1.1
    if (v12 || has_s8_ext) { *tail = &s8; tail = &s8.pNext; }
    if (has_dot_ext) { *tail = &dotf; tail = &dotf.pNext; }
    vkGetPhysicalDeviceFeatures2(phys_, &f2);
    (void)has_s16_ext;
    c.int8 = f16i8.shaderInt8;
    c.fp16 = f16i8.shaderFloat16;
    c.storage16 = s16.storageBuffer16BitAccess;
    c.storage8 = s8.storageBuffer8BitAccess;
    c.int_dot = has_dot_ext && dotf.shaderIntegerDotProduct;
    const uint32_t need_sg = VK_SUBGROUP_FEATURE_BASIC_BIT | VK_SUBGROUP_FEATURE_ARITHMETIC_BIT |
                             VK_SUBGROUP_FEATURE_SHUFFLE_BIT;
    c.subgroup = (c.subgroup_ops & need_sg) == need_sg && c.subgroup_size >= 4;

    // Forced-off paths: the runtime then picks the fallback kernels.
    if (opts.disable_int_dot) { c.forced_no_int_dot = c.int_dot; c.int_dot = false; c.int_dot_accelerated = false; }
    if (opts.disable_fp16) { c.forced_no_fp16 = c.fp16; c.fp16 = false; }
    if (opts.disable_subgroup) { c.forced_no_subgroup = c.subgroup; c.subgroup = false; }
    c.cpu_tuning = c.type == VK_PHYSICAL_DEVICE_TYPE_CPU;
    if (opts.disable_cpu_tuning) { c.forced_no_cpu_tuning = c.cpu_tuning; c.cpu_tuning = false; }
    c.native_half = !half_conversion_breaks_compiler(c.name);
    if (opts.disable_native_half) { c.forced_no_native_half = c.native_half; c.native_half = false; }
    c.unrolls_loops = c.vendor_id != 0x13B5;  // Arm (see Capabilities::unrolls_loops)
    if (opts.disable_unroll) { c.forced_no_unroll = c.unrolls_loops; c.unrolls_loops = false; }
    if (opts.disable_repack) { c.forced_no_repack = c.repack; c.repack = false; }
    if (c.cooperative_matrix && validation_) {
        const uint32_t lv = validation_layer_version();
        if (lv < VK_MAKE_API_VERSION(0, 1, 3, 255)) {  // the release that brought VK_KHR_cooperative_matrix
            c.cooperative_matrix = false;
            c.coopmat_off = "the validation layer (" + std::to_string(VK_API_VERSION_MAJOR(lv)) + "." +
                            std::to_string(VK_API_VERSION_MINOR(lv)) + "." + std::to_string(VK_API_VERSION_PATCH(lv)) +
                            ") predates VK_KHR_cooperative_matrix and would reject the matrix kernels";
        }
    }
    if (opts.disable_coopmat) { c.forced_no_coopmat = c.cooperative_matrix; c.cooperative_matrix = false; }
    if (!c.fp16 && !c.int8) c.cooperative_matrix = false;  // every matrix kernel has 16- or 8-bit types
    // One weight part is one buffer and one binding; whole words.
    c.max_binding_bytes = c.max_storage_buffer_range;
    if (c.max_allocation_size) c.max_binding_bytes = std::min(c.max_binding_bytes, c.max_allocation_size);
    if (opts.max_binding_bytes) c.max_binding_bytes = std::min(c.max_binding_bytes, opts.max_binding_bytes);
    c.max_binding_bytes &= ~uint64_t(3);

    vkGetPhysicalDeviceMemoryProperties(phys_, &mem_props_);
    bool all_local_visible = true, any_local = false;
    for (uint32_t i = 0; i < mem_props_.memoryTypeCount; ++i) {
        auto f = mem_props_.memoryTypes[i].propertyFlags;
        if (f & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) {
            any_local = true;
            if (!(f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT)) all_local_visible = false;
        }
    }
    for (uint32_t i = 0; i < mem_props_.memoryHeapCount; ++i)
        if (mem_props_.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)
            c.device_local_bytes += mem_props_.memoryHeaps[i].size;
    c.uma = any_local && all_local_visible;
    // Capabilities::record_budget: where workgroup memory is allocated per dispatch, a
    // recorded command buffer may hold 1/32 of the device's memory in it (564 MiB of the panvk
    // shim's 18 GiB heap, 256 MiB of an 8 GiB phone's): the weights, KV cache and the other
    // recorders' command buffers keep the rest (the shim refused a 1B prefill's 128 MiB GEMV
    // with 659 MiB of its workgroup memory held: docs/GPU.md). A pass within the budget stays
    // one command buffer recorded once (the 1B's decode: 445 MiB); one over it is re-recorded
    // segment by segment at every submit, its driver memory allocated again each time.
    c.local_memory_per_dispatch = c.vendor_id == 0x13B5;  // Arm
    c.record_budget = c.local_memory_per_dispatch ? std::max<uint64_t>(c.device_local_bytes / 32, 1) : 0;
    if (opts.record_budget != DeviceOptions::kDeviceRecordBudget) c.record_budget = opts.record_budget;

    // Extensions to enable.
    enabled_exts_.clear();
    if (c.int_dot) enabled_exts_.push_back(VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME);
    if (!v12 && has_f16_ext && (c.fp16 || c.int8)) enabled_exts_.push_back(VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME);
    if (!v12 && has_s8_ext && c.storage8) enabled_exts_.push_back(VK_KHR_8BIT_STORAGE_EXTENSION_NAME);
    if (has_ext(exts, "VK_KHR_portability_subset")) enabled_exts_.push_back("VK_KHR_portability_subset");
    if (c.cooperative_matrix) {
        enabled_exts_.push_back("VK_KHR_cooperative_matrix");
        if (!v12) enabled_exts_.push_back("VK_KHR_vulkan_memory_model");
    }
    memory_budget_ext_ = has_ext(exts, VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
    if (memory_budget_ext_) enabled_exts_.push_back(VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
    memory_limit_ = opts.memory_limit;
    shader_stats_ = opts.shader_stats;
    compile_timeout_s_ = opts.compile_timeout_s;
    capture_stats_ = opts.shader_stats && has_ext(exts, VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME);
    if (capture_stats_) enabled_exts_.push_back(VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME);
}

void Device::create_device() {
    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(phys_, &nq, nullptr);
    std::vector<VkQueueFamilyProperties> qf(nq);
    vkGetPhysicalDeviceQueueFamilyProperties(phys_, &nq, qf.data());
    // Prefer a compute queue family that also supports graphics (it has timestamps everywhere).
    int fam = -1;
    for (uint32_t i = 0; i < nq; ++i)
        if (qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
            fam = int(i);
            break;
        }
    VKRT_CHECK(fam >= 0, Status::unsupported, "device '", caps_.name, "' has no compute queue");
    queue_family_ = uint32_t(fam);
    if (qf[fam].timestampValidBits == 0) caps_.timestamp_period_ns = 0;

    float prio = 1.0f;
    VkDeviceQueueCreateInfo qci{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
    qci.queueFamilyIndex = queue_family_;
    qci.queueCount = 1;
    qci.pQueuePriorities = &prio;

    // Enable exactly what the capabilities say we use.
    VkPhysicalDeviceShaderFloat16Int8Features f16i8{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES};
    f16i8.shaderFloat16 = caps_.fp16;
    f16i8.shaderInt8 = caps_.int8;
    VkPhysicalDevice16BitStorageFeatures s16{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
    s16.storageBuffer16BitAccess = caps_.storage16;
    VkPhysicalDevice8BitStorageFeatures s8{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES};
    s8.storageBuffer8BitAccess = caps_.storage8;
    VkPhysicalDeviceShaderIntegerDotProductFeatures dotf{
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES};
    dotf.shaderIntegerDotProduct = VK_TRUE;
    VkPhysicalDeviceFeatures2 f2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    void** tail = &f2.pNext;
    bool v12 = caps_.api_version >= VK_API_VERSION_1_2;
    if (caps_.fp16 || caps_.int8) { *tail = &f16i8; tail = &f16i8.pNext; }
    if (caps_.storage16) { *tail = &s16; tail = &s16.pNext; }
    if (caps_.storage8 && (v12 || std::find_if(enabled_exts_.begin(), enabled_exts_.end(), [](const char* e) {
                               return std::strcmp(e, VK_KHR_8BIT_STORAGE_EXTENSION_NAME) == 0;
                           }) != enabled_exts_.end())) {
        *tail = &s8; tail = &s8.pNext;
    }
    if (caps_.int_dot) { *tail = &dotf; tail = &dotf.pNext; }
    VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR pexec{
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR};
    pexec.pipelineExecutableInfo = VK_TRUE;
    if (capture_stats_) { *tail = &pexec; tail = &pexec.pNext; }
    CoopmatFeatures cmf{};
    cmf.sType = kCoopmatFeaturesSType;
    cmf.cooperativeMatrix = VK_TRUE;
    VkPhysicalDeviceVulkanMemoryModelFeatures vmm{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_MEMORY_MODEL_FEATURES};
    vmm.vulkanMemoryModel = VK_TRUE;
    vmm.vulkanMemoryModelDeviceScope = VK_TRUE;  // query_coopmat required it
    if (caps_.cooperative_matrix) {
        *tail = &cmf; tail = &cmf.pNext;
        *tail = &vmm; tail = &vmm.pNext;
    }

    VkDeviceCreateInfo ci{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
    ci.pNext = &f2;
    ci.queueCreateInfoCount = 1;
    ci.pQueueCreateInfos = &qci;
    ci.enabledExtensionCount = uint32_t(enabled_exts_.size());
    ci.ppEnabledExtensionNames = enabled_exts_.data();
    VkDevice dev = VK_NULL_HANDLE;
    VK_CHECK(vkCreateDevice(phys_, &ci, nullptr, &dev));
    device_ = vk::Unique<VkDevice>(dev, [](VkDevice d) { vkDestroyDevice(d, nullptr); });
    vkGetDeviceQueue(dev, queue_family_, 0, &queue_);

    VkCommandPoolCreateInfo pci{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
    pci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
    pci.queueFamilyIndex = queue_family_;
    VkCommandPool pool = VK_NULL_HANDLE;
    VK_CHECK(vkCreateCommandPool(dev, &pci, nullptr, &pool));
    pool_ = vk::Unique<VkCommandPool>(pool, [dev](VkCommandPool p) { vkDestroyCommandPool(dev, p, nullptr); });
}

// ---------------------------------------------------------------- pipeline cache

void Device::load_pipeline_cache(const DeviceOptions& opts) {
    std::vector<char> data;
    if (opts.pipeline_cache != "off") {
        std::string path = opts.pipeline_cache;
        if (path.empty()) {
            std::string dir = opts.pipeline_cache_dir.empty() ? default_cache_dir() : opts.pipeline_cache_dir;
            if (!dir.empty()) {
                char buf[96];
                std::snprintf(buf, sizeof buf, "/pipelines-%04x-%04x.bin", caps_.vendor_id, caps_.device_id);
                path = dir + buf;
            }
        }
        cache_path_ = path;
        if (!path.empty()) {
            std::ifstream f(path, std::ios::binary);
            if (f) data.assign(std::istreambuf_iterator<char>(f), {});
            // The driver checks the header (vendor, device, cache UUID) and ignores a
            // cache from another driver; we also drop data too short to have one.
            VkPhysicalDeviceProperties props;
            vkGetPhysicalDeviceProperties(phys_, &props);
            if (data.size() < 16 + VK_UUID_SIZE ||
                std::memcmp(data.data() + 16, props.pipelineCacheUUID, VK_UUID_SIZE) != 0)
                data.clear();
        }
    }
    VkPipelineCacheCreateInfo ci{VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
    ci.initialDataSize = data.size();
    ci.pInitialData = data.empty() ? nullptr : data.data();
    VkPipelineCache cache = VK_NULL_HANDLE;
    VK_CHECK(vkCreatePipelineCache(device_, &ci, nullptr, &cache));
    VkDevice dev = device_;
    cache_ = vk::Unique<VkPipelineCache>(cache, [dev](VkPipelineCache c) { vkDestroyPipelineCache(dev, c, nullptr); });
    cache_loaded_bytes_ = data.size();
}

void Device::save_pipeline_cache() const {
    if (cache_path_.empty() || !cache_) return;
    std::lock_guard<std::mutex> lock(pipelines_mu_);
    size_t n = 0;
    VK_CHECK(vkGetPipelineCacheData(device_, cache_, &n, nullptr));
    std::vector<char> data(n);
    VK_CHECK(vkGetPipelineCacheData(device_, cache_, &n, data.data()));
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(cache_path_).parent_path(), ec);
    io::write_file(cache_path_, std::string_view(data.data(), n));  // temporary sibling, fsync, rename
}

// ---------------------------------------------------------------- pipelines, submit

const Pipeline& Device::pipeline(spv::Variant variant, const std::vector<uint32_t>& spec) {
    std::string key = spv::variant_name(variant);
    for (uint32_t v : spec) key += ":" + std::to_string(v);
    std::lock_guard<std::mutex> lock(pipelines_mu_);
    auto it = pipelines_.find(key);
    if (it != pipelines_.end()) return *it->second;
    if (shader_stats_) return pipeline_with_stats(key, variant, spec);
    auto p = std::make_unique<Pipeline>(*this, variant, spec);
    const Pipeline& ref = *p;
    pipelines_.emplace(key, std::move(p));
    return ref;
}

void Device::submit_and_wait(VkCommandBuffer cb) const {
    VkFenceCreateInfo fci{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    VkFence fence = VK_NULL_HANDLE;
    VK_CHECK(vkCreateFence(device_, &fci, nullptr, &fence));
    VkDevice dev = device_;
    vk::Unique<VkFence> owner(fence, [dev](VkFence f) { vkDestroyFence(dev, f, nullptr); });
    VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
    si.commandBufferCount = 1;
    si.pCommandBuffers = &cb;
    {
        std::lock_guard<std::mutex> lock(queue_mu_);
        VK_CHECK(vkQueueSubmit(queue_, 1, &si, fence));
    }
    VK_CHECK(vkWaitForFences(device_, 1, &fence, VK_TRUE, UINT64_MAX));
}

// ---------------------------------------------------------------- device memory

Device::HeapInfo Device::device_heap() const {
    HeapInfo h;
    VkPhysicalDeviceMemoryBudgetPropertiesEXT budget{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT};
    VkPhysicalDeviceMemoryProperties2 mp2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2};
    if (memory_budget_ext_) mp2.pNext = &budget;
    vkGetPhysicalDeviceMemoryProperties2(phys_, &mp2);
    const VkPhysicalDeviceMemoryProperties& mp = mp2.memoryProperties;
    // The largest device-local heap holds the weights and the KV cache.
    bool found = false;
    for (uint32_t i = 0; i < mp.memoryHeapCount; ++i)
        if ((mp.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) &&
            (!found || mp.memoryHeaps[i].size > mp.memoryHeaps[h.index].size)) {
            h.index = i;
            found = true;
        }
    h.size = mp.memoryHeaps[h.index].size;
    const uint64_t ours = allocated_bytes_.load();
    if (memory_budget_ext_) {
        h.from_budget_ext = true;
        h.budget = budget.heapBudget[h.index];
        h.usage = budget.heapUsage[h.index];
        h.available = h.budget > h.usage ? h.budget - h.usage : 0;
    } else {
        h.budget = h.size;
        h.usage = ours;
        h.available = h.size > ours ? h.size - ours : 0;
    }
    if (memory_limit_ && memory_limit_ < h.size) {
        h.limited = true;
        h.size = memory_limit_;
        h.available = std::min(h.available, memory_limit_ > ours ? memory_limit_ - ours : 0);
    }
    return h;
}

void Device::check_memory(uint64_t bytes, const std::string& what) const {
    const HeapInfo h = device_heap();
    if (bytes <= h.available) return;
    fail(Status::out_of_memory, what, " needs ", bytes, " bytes (", mib(bytes), ") of device memory, but heap ",
         h.index, " of ", caps_.name, " has ", h.size, " bytes (", mib(h.size), ")",
         h.limited ? " (VKRT_MEMORY_LIMIT)" : "", " of which ", h.available, " bytes (", mib(h.available),
         ") are available", h.from_budget_ext ? " (VK_EXT_memory_budget)" : " (heap size less vkrt's buffers)");
}

void Device::note_allocation(int64_t bytes) const { allocated_bytes_.fetch_add(uint64_t(bytes)); }

void Device::queue_wait_idle() const {
    std::lock_guard<std::mutex> lock(queue_mu_);
    VK_CHECK(vkQueueWaitIdle(queue_));
}

void Device::run_once(const std::function<void(VkCommandBuffer)>& record) const {
    std::lock_guard<std::mutex> lock(pool_mu_);
    VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    ai.commandPool = pool_;
    ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    ai.commandBufferCount = 1;
    VkCommandBuffer cb = VK_NULL_HANDLE;
    VK_CHECK(vkAllocateCommandBuffers(device_, &ai, &cb));
    VkDevice d = device_;
    VkCommandPool pool = pool_;
    vk::Unique<VkCommandBuffer> owner(cb, [d, pool](VkCommandBuffer c) { vkFreeCommandBuffers(d, pool, 1, &c); });
    VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    VK_CHECK(vkBeginCommandBuffer(cb, &bi));
    record(cb);
    VK_CHECK(vkEndCommandBuffer(cb));
    submit_and_wait(cb);
}

}  // namespace vkrt
