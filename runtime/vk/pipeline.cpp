#include "vk/pipeline.hpp"

#include <functional>
#include <map>
#include <set>

#include "vk/check.hpp"
#include "vk/coopmat_spirv.hpp"
#include "core/error.hpp"
#include "vk/device.hpp"
#include "shared/spec.h"
#include "vk/shaders.hpp"

namespace vkrt {

// ---------------------------------------------------------------- reflection

namespace {

// Value of an OpSpecConstantOp over 32-bit integer or boolean operands (the expressions
// glslang emits for array lengths and sizes built from specialization constants); false
// for an opcode it does not know.
bool eval_spec_op(uint32_t op, const std::vector<uint32_t>& v, uint32_t& out) {
    auto sgn = [](uint32_t x) { return int32_t(x); };
    switch (op) {
        case 128: out = v[0] + v[1]; return true;                        // OpIAdd
        case 130: out = v[0] - v[1]; return true;                        // OpISub
        case 132: out = v[0] * v[1]; return true;                        // OpIMul
        case 134: out = v[1] ? v[0] / v[1] : 0; return true;             // OpUDiv
        case 135: out = v[1] ? uint32_t(sgn(v[0]) / sgn(v[1])) : 0; return true;  // OpSDiv
        case 137: out = v[1] ? v[0] % v[1] : 0; return true;             // OpUMod
        case 126: out = uint32_t(-sgn(v[0])); return true;               // OpSNegate
        case 194: out = v[0] >> (v[1] & 31); return true;                // OpShiftRightLogical
        case 195: out = uint32_t(sgn(v[0]) >> (v[1] & 31)); return true; // OpShiftRightArithmetic
        case 196: out = v[0] << (v[1] & 31); return true;                // OpShiftLeftLogical
        case 197: out = v[0] | v[1]; return true;                        // OpBitwiseOr
        case 198: out = v[0] ^ v[1]; return true;                        // OpBitwiseXor
        case 199: out = v[0] & v[1]; return true;                        // OpBitwiseAnd
        case 200: out = ~v[0]; return true;                              // OpNot
        case 166: out = (v[0] || v[1]) ? 1 : 0; return true;             // OpLogicalOr
        case 167: out = (v[0] && v[1]) ? 1 : 0; return true;             // OpLogicalAnd
        case 168: out = v[0] ? 0 : 1; return true;                       // OpLogicalNot
        case 164: case 170: out = v[0] == v[1]; return true;             // OpLogicalEqual, OpIEqual
        case 165: case 171: out = v[0] != v[1]; return true;             // OpLogicalNotEqual, OpINotEqual
        case 172: out = v[0] > v[1]; return true;                        // OpUGreaterThan
        case 173: out = sgn(v[0]) > sgn(v[1]); return true;              // OpSGreaterThan
        case 174: out = v[0] >= v[1]; return true;                       // OpUGreaterThanEqual
        case 175: out = sgn(v[0]) >= sgn(v[1]); return true;             // OpSGreaterThanEqual
        case 176: out = v[0] < v[1]; return true;                        // OpULessThan
        case 177: out = sgn(v[0]) < sgn(v[1]); return true;              // OpSLessThan
        case 178: out = v[0] <= v[1]; return true;                       // OpULessThanEqual
        case 179: out = sgn(v[0]) <= sgn(v[1]); return true;             // OpSLessThanEqual
        case 169: out = v[0] ? v[1] : v[2]; return true;                 // OpSelect
        case 113: case 114: out = v[0]; return true;                     // OpUConvert, OpSConvert (32-bit)
        default: return false;
    }
}

}  // namespace

ShaderInterface reflect_spirv(const uint32_t* w, size_t n, const std::string& name, const std::vector<uint32_t>& spec) {
    VKRT_CHECK(n >= 5 && w[0] == 0x07230203u, Status::internal, "shader '", name, "' is not SPIR-V");
    enum : uint32_t {
        OpExecutionMode = 16, OpTypeBool = 20, OpTypeInt = 21, OpTypeFloat = 22, OpTypeVector = 23, OpTypeArray = 28,
        OpTypeStruct = 30, OpTypePointer = 32, OpConstantTrue = 41, OpConstantFalse = 42, OpConstant = 43,
        OpConstantComposite = 44, OpSpecConstantTrue = 48, OpSpecConstantFalse = 49, OpSpecConstant = 50,
        OpSpecConstantComposite = 51, OpSpecConstantOp = 52, OpCompositeExtract = 81, OpVariable = 59,
        OpDecorate = 71, OpMemberDecorate = 72, OpExecutionModeId = 331,
    };
    enum : uint32_t {
        DecSpecId = 1, DecBuiltIn = 11, DecBinding = 33, DecDescriptorSet = 34, DecOffset = 35, DecArrayStride = 6,
        DecNonWritable = 24,
    };
    enum : uint32_t { ScWorkgroup = 4, ScPushConstant = 9, ScStorageBuffer = 12, ScUniform = 2 };
    enum : uint32_t { BuiltInWorkgroupSize = 25, ModeLocalSize = 17, ModeLocalSizeId = 38 };
    std::map<uint32_t, uint32_t> scalar_size;           // type id -> bytes
    std::map<uint32_t, std::vector<uint32_t>> members;  // struct id -> member type ids
    std::map<uint32_t, std::map<uint32_t, uint32_t>> offsets;
    std::map<uint32_t, uint32_t> array_stride, array_len_id, ptr_pointee, binding, set, spec_id;
    std::map<uint32_t, uint32_t> value;                        // (spec) constant id -> its value, specialized
    std::map<uint32_t, std::vector<uint32_t>> composite;       // (spec) constant composite id -> constituents
    std::map<uint32_t, uint32_t> unknown_op;                   // spec constant id -> opcode not evaluated
    std::vector<std::pair<uint32_t, uint32_t>> vars;  // (pointer type, storage class)
    std::map<uint32_t, uint32_t> var_ptr;             // var id -> pointer type
    std::set<uint32_t> nonwritable_ids;               // variables decorated NonWritable
    std::map<uint32_t, std::set<uint32_t>> nonwritable_members;  // struct -> members decorated NonWritable
    uint32_t wg_size_id = 0;                          // the constant decorated BuiltIn WorkgroupSize
    uint32_t local_size_ids[3] = {0, 0, 0};           // LocalSizeId operands
    ShaderInterface iface;
    // A specialization constant's value: the one given for its SpecId, else its default.
    auto specialized = [&](uint32_t id, uint32_t dflt) {
        auto s = spec_id.find(id);
        return s != spec_id.end() && s->second < spec.size() ? spec[s->second] : dflt;
    };
    for (size_t i = 5; i < n;) {
        uint32_t op = w[i] & 0xffff, len = w[i] >> 16;
        VKRT_CHECK(len > 0 && i + len <= n, Status::internal, "shader '", name, "': malformed SPIR-V");
        const uint32_t* a = w + i + 1;
        switch (op) {
            case OpTypeBool: scalar_size[a[0]] = 4; break;
            case OpTypeInt:
            case OpTypeFloat: scalar_size[a[0]] = a[1] / 8; break;
            case OpTypeVector: scalar_size[a[0]] = scalar_size[a[1]] * a[2]; break;
            case OpTypeArray: array_len_id[a[0]] = a[2]; scalar_size[a[0]] = 0; members[a[0]] = {a[1]}; break;
            case OpTypeStruct: members[a[0]] = std::vector<uint32_t>(a + 1, a + len - 1); break;
            case OpTypePointer: ptr_pointee[a[0]] = a[2]; break;
            case OpConstantTrue: value[a[1]] = 1; break;
            case OpConstantFalse: value[a[1]] = 0; break;
            case OpConstant: if (len >= 4) value[a[1]] = a[2]; break;
            case OpSpecConstantTrue: value[a[1]] = specialized(a[1], 1) ? 1 : 0; break;
            case OpSpecConstantFalse: value[a[1]] = specialized(a[1], 0) ? 1 : 0; break;
            case OpSpecConstant: if (len >= 4) value[a[1]] = specialized(a[1], a[2]); break;
            case OpConstantComposite:
            case OpSpecConstantComposite: composite[a[1]] = std::vector<uint32_t>(a + 2, a + len - 1); break;
            case OpSpecConstantOp: {
                const uint32_t id = a[1], sop = a[2];
                if (sop == OpCompositeExtract && len >= 6 && composite.count(a[3]) && a[4] < composite[a[3]].size()) {
                    const uint32_t c = composite[a[3]][a[4]];
                    if (value.count(c)) value[id] = value[c];
                    else unknown_op[id] = sop;
                    break;
                }
                std::vector<uint32_t> v;
                bool known = true;
                for (uint32_t k = 3; k + 1 < len; ++k) {
                    if (!value.count(a[k])) known = false;
                    else v.push_back(value[a[k]]);
                }
                v.resize(std::max<size_t>(v.size(), 3), 0);  // eval_spec_op reads up to 3 operands
                uint32_t r = 0;
                if (known && eval_spec_op(sop, v, r)) value[id] = r;
                else unknown_op[id] = sop;
                break;
            }
            case OpVariable: var_ptr[a[1]] = a[0]; vars.push_back({a[1], a[2]}); break;
            case OpDecorate:
                if (a[1] == DecSpecId) spec_id[a[0]] = a[2];
                if (a[1] == DecBuiltIn && a[2] == BuiltInWorkgroupSize) wg_size_id = a[0];
                if (a[1] == DecBinding) binding[a[0]] = a[2];
                if (a[1] == DecDescriptorSet) set[a[0]] = a[2];
                if (a[1] == DecArrayStride) array_stride[a[0]] = a[2];
                if (a[1] == DecNonWritable) nonwritable_ids.insert(a[0]);
                break;
            case OpMemberDecorate:
                if (a[2] == DecOffset) offsets[a[0]][a[1]] = a[3];
                if (a[2] == DecNonWritable) nonwritable_members[a[0]].insert(a[1]);
                break;
            case OpExecutionMode:
                if (a[1] == ModeLocalSize && len >= 6) { iface.local_size[0] = a[2]; iface.local_size[1] = a[3]; iface.local_size[2] = a[4]; }
                break;
            case OpExecutionModeId:
                if (a[1] == ModeLocalSizeId && len >= 6) {
                    iface.local_size_from_spec = true;
                    for (int k = 0; k < 3; ++k) local_size_ids[k] = a[2 + k];
                }
                break;
            default: break;
        }
        i += len;
    }
    // A constant's specialized value; an expression this reflection cannot evaluate is a
    // bug to fix here (a new opcode), not a size to guess.
    auto constant = [&](uint32_t id, const char* what) -> uint32_t {
        auto v = value.find(id);
        if (v != value.end()) return v->second;
        auto u = unknown_op.find(id);
        fail(Status::internal, "shader '", name, "': cannot evaluate the ", what, " (spec-constant opcode ",
             u != unknown_op.end() ? std::to_string(u->second) : std::string("?"), ")");
    };
    // Size of a type as laid out (push constants: scalars, vectors, arrays, structs).
    std::function<uint32_t(uint32_t)> size_of = [&](uint32_t t) -> uint32_t {
        if (auto s = scalar_size.find(t); s != scalar_size.end() && s->second) return s->second;
        if (auto al = array_len_id.find(t); al != array_len_id.end()) {
            uint32_t len = value.count(al->second) ? value[al->second] : 0;
            uint32_t stride = array_stride.count(t) ? array_stride[t] : size_of(members[t][0]);
            return len * stride;
        }
        if (auto m = members.find(t); m != members.end()) {
            uint32_t end = 0;
            for (uint32_t k = 0; k < m->second.size(); ++k)
                end = std::max(end, offsets[t][k] + size_of(m->second[k]));
            return end;
        }
        return 0;
    };
    // Bytes of a Workgroup variable: no explicit layout there, so elements are packed at
    // their natural size (what the spec's limit counts; drivers may round up a little).
    std::function<uint64_t(uint32_t)> shared_size = [&](uint32_t t) -> uint64_t {
        if (auto s = scalar_size.find(t); s != scalar_size.end() && s->second) return s->second;
        if (auto al = array_len_id.find(t); al != array_len_id.end())
            return uint64_t(constant(al->second, "length of a shared array")) * shared_size(members[t][0]);
        uint64_t sum = 0;
        if (auto m = members.find(t); m != members.end())
            for (uint32_t mt : m->second) sum += shared_size(mt);
        return sum;
    };
    uint64_t shared = 0;
    for (auto [var, sc] : vars) {
        uint32_t pointee = ptr_pointee[var_ptr[var]];
        if (sc == ScWorkgroup) shared += shared_size(pointee);
        if (sc == ScPushConstant) iface.push_size = size_of(pointee);
        if ((sc == ScStorageBuffer || sc == ScUniform) && binding.count(var)) {
            VKRT_CHECK(set[var] == 0, Status::internal, "shader '", name, "': only descriptor set 0 is used");
            iface.n_bindings = std::max(iface.n_bindings, binding[var] + 1);
            // Read-only when the variable, or every member of its block, is NonWritable.
            const auto m = members.find(pointee);
            const bool readonly =
                nonwritable_ids.count(var) ||
                (m != members.end() && !m->second.empty() && nonwritable_members[pointee].size() == m->second.size());
            VKRT_CHECK(binding[var] < 32, Status::internal, "shader '", name, "': binding ", binding[var], " >= 32");
            if (!readonly) iface.writable_mask |= 1u << binding[var];
        }
    }
    iface.shared_bytes = uint32_t(std::min<uint64_t>(shared, UINT32_MAX));
    // The workgroup size: the WorkgroupSize built-in (glslang's local_size_x_id) wins over
    // the LocalSize mode; LocalSizeId names its three constants.
    if (wg_size_id && composite.count(wg_size_id) && composite[wg_size_id].size() == 3) {
        for (int k = 0; k < 3; ++k) {
            const uint32_t c = composite[wg_size_id][k];
            iface.local_size[k] = constant(c, "workgroup size");
            if (spec_id.count(c)) iface.local_size_from_spec = true;
        }
    } else if (local_size_ids[0]) {
        for (int k = 0; k < 3; ++k) iface.local_size[k] = constant(local_size_ids[k], "workgroup size");
    }
    return iface;
}

void check_limits(const Capabilities& caps, const ShaderInterface& i, const std::string& name) {
    const char* sim = caps.min_limits ? " (simulated minimum limits, VKRT_LIMITS=min)" : "";
    const uint64_t inv = uint64_t(i.local_size[0]) * i.local_size[1] * i.local_size[2];
    VKRT_CHECK(inv <= caps.max_workgroup_invocations, Status::limit_exceeded, "kernel '", name, "': a workgroup of ",
               inv, " invocations (", i.local_size[0], "x", i.local_size[1], "x", i.local_size[2],
               ") exceeds maxComputeWorkGroupInvocations ", caps.max_workgroup_invocations, " of ", caps.name, sim);
    for (int k = 0; k < 3; ++k)
        VKRT_CHECK(i.local_size[k] <= caps.max_workgroup_size[k], Status::limit_exceeded, "kernel '", name,
                   "': workgroup size ", "xyz"[k], " = ", i.local_size[k], " exceeds maxComputeWorkGroupSize[", k,
                   "] ", caps.max_workgroup_size[k], " of ", caps.name, sim);
    VKRT_CHECK(i.shared_bytes <= caps.shared_memory, Status::limit_exceeded, "kernel '", name, "': ", i.shared_bytes,
               " bytes of shared memory exceed maxComputeSharedMemorySize ", caps.shared_memory, " of ", caps.name,
               sim);
    VKRT_CHECK(i.push_size <= caps.max_push_constants, Status::limit_exceeded, "kernel '", name, "': ", i.push_size,
               " bytes of push constants exceed maxPushConstantsSize ", caps.max_push_constants, " of ", caps.name,
               sim);
    VKRT_CHECK(i.n_bindings <= caps.max_storage_buffers, Status::limit_exceeded, "kernel '", name, "': ",
               i.n_bindings, " storage buffers exceed maxPerStageDescriptorStorageBuffers ", caps.max_storage_buffers,
               " of ", caps.name, sim);
}

// ---------------------------------------------------------------- pipeline

Pipeline::Pipeline(Device& dev, spv::Variant variant, const std::vector<uint32_t>& spec)
    : name_(spv::variant_name(variant)) {
    const spv::ShaderBlob& blob = spv::shader(variant);
    iface_ = reflect_spirv(blob.words, blob.size, name_, spec);
    // Every shape the ops choose is checked here, before the driver sees it: a workgroup
    // or shared array too large for the device is an error naming both, not a driver crash.
    check_limits(dev.caps(), iface_, name_);
    VkDevice d = dev.handle();

    // Cooperative-matrix kernels are embedded in their NV form (the build's glslang has
    // no KHR one): the device gets them rewritten to SPV_KHR_cooperative_matrix.
    std::vector<uint32_t> khr;
    const std::span<const uint32_t> words(blob.words, blob.size);
    if (spv::uses_coopmat_nv(words)) {
        VKRT_CHECK(dev.caps().cooperative_matrix, Status::unsupported, "kernel '", name_,
                   "' needs cooperative matrices (VK_KHR_cooperative_matrix), which ", dev.caps().name,
                   " does not offer", dev.caps().forced_no_coopmat ? " (VKRT_DISABLE=coopmat)" : "");
        khr = spv::coopmat_nv_to_khr(words);
    }
    VkShaderModuleCreateInfo mci{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
    mci.codeSize = (khr.empty() ? blob.size : khr.size()) * 4;
    mci.pCode = khr.empty() ? blob.words : khr.data();
    VkShaderModule mod = VK_NULL_HANDLE;
    VK_CHECK(vkCreateShaderModule(d, &mci, nullptr, &mod));
    module_ = vk::Unique<VkShaderModule>(mod, [d](VkShaderModule m) { vkDestroyShaderModule(d, m, nullptr); });

    std::vector<VkDescriptorSetLayoutBinding> binds(iface_.n_bindings);
    for (uint32_t i = 0; i < iface_.n_bindings; ++i)
        binds[i] = {i, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT, nullptr};
    VkDescriptorSetLayoutCreateInfo dci{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
    dci.bindingCount = uint32_t(binds.size());
    dci.pBindings = binds.data();
    VkDescriptorSetLayout dsl = VK_NULL_HANDLE;
    VK_CHECK(vkCreateDescriptorSetLayout(d, &dci, nullptr, &dsl));
    set_layout_ = vk::Unique<VkDescriptorSetLayout>(
        dsl, [d](VkDescriptorSetLayout l) { vkDestroyDescriptorSetLayout(d, l, nullptr); });

    VkPushConstantRange pcr{VK_SHADER_STAGE_COMPUTE_BIT, 0, iface_.push_size};
    VkPipelineLayoutCreateInfo lci{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
    lci.setLayoutCount = 1;
    lci.pSetLayouts = &dsl;
    lci.pushConstantRangeCount = iface_.push_size ? 1 : 0;
    lci.pPushConstantRanges = &pcr;
    VkPipelineLayout pl = VK_NULL_HANDLE;
    VK_CHECK(vkCreatePipelineLayout(d, &lci, nullptr, &pl));
    layout_ = vk::Unique<VkPipelineLayout>(pl, [d](VkPipelineLayout l) { vkDestroyPipelineLayout(d, l, nullptr); });

    // The kernel's own constants (ids 0, 1, ...), then the ones every pipeline gets from
    // the device (shaders/shared/spec.h).
    std::vector<uint32_t> values = spec;
    values.push_back(dev.caps().native_half ? VK_TRUE : VK_FALSE);
    std::vector<VkSpecializationMapEntry> entries(values.size());
    for (uint32_t i = 0; i < spec.size(); ++i) entries[i] = {i, i * 4, 4};
    entries[spec.size()] = {VKRT_SPEC_NATIVE_HALF, uint32_t(spec.size() * 4), 4};
    VkSpecializationInfo si{uint32_t(entries.size()), entries.data(), values.size() * 4, values.data()};
    VkComputePipelineCreateInfo pci{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
    pci.stage = {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO};
    pci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
    pci.stage.module = mod;
    pci.stage.pName = "main";
    pci.stage.pSpecializationInfo = &si;
    pci.layout = pl;
    if (dev.capture_statistics()) pci.flags |= VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR;
    VkPipeline p = VK_NULL_HANDLE;
    VK_CHECK(vkCreateComputePipelines(d, dev.pipeline_cache(), 1, &pci, nullptr, &p));
    pipeline_ = vk::Unique<VkPipeline>(p, [d](VkPipeline x) { vkDestroyPipeline(d, x, nullptr); });
    if (dev.capture_statistics()) stats_ = pipeline_statistics(d, p);
}

}  // namespace vkrt
