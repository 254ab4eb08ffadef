#include "vk/pipeline.hpp"

#include <functional>
#include <map>
#include <set>

#include "vk/check.hpp"
#include "vk/device.hpp"
#include "vk/shaders.hpp"

namespace vkrt {

// ---------------------------------------------------------------- reflection

ShaderInterface reflect_spirv(const uint32_t* w, size_t n, const std::string& name) {
    VKRT_CHECK(n >= 5 && w[0] == 0x07230203u, Status::internal, "shader '", name, "' is not SPIR-V");
    enum : uint32_t {
        OpExecutionMode = 16, OpTypeInt = 21, OpTypeFloat = 22, OpTypeVector = 23, OpTypeArray = 28,
        OpTypeStruct = 30, OpTypePointer = 32, OpConstant = 43, OpVariable = 59, OpDecorate = 71,
        OpMemberDecorate = 72, OpExecutionModeId = 331,
    };
    enum : uint32_t { DecBinding = 33, DecDescriptorSet = 34, DecOffset = 35, DecArrayStride = 6, DecNonWritable = 24 };
    enum : uint32_t { ScPushConstant = 9, ScStorageBuffer = 12, ScUniform = 2 };
    std::map<uint32_t, uint32_t> scalar_size;           // type id -> bytes
    std::map<uint32_t, std::vector<uint32_t>> members;  // struct id -> member type ids
    std::map<uint32_t, std::map<uint32_t, uint32_t>> offsets;
    std::map<uint32_t, uint32_t> array_stride, array_len_id, constants, ptr_pointee, binding, set;
    std::vector<std::pair<uint32_t, uint32_t>> vars;  // (pointer type, storage class)
    std::map<uint32_t, uint32_t> var_ptr;             // var id -> pointer type
    std::set<uint32_t> nonwritable_ids;               // variables decorated NonWritable
    std::map<uint32_t, std::set<uint32_t>> nonwritable_members;  // struct -> members decorated NonWritable
    ShaderInterface iface;
    for (size_t i = 5; i < n;) {
        uint32_t op = w[i] & 0xffff, len = w[i] >> 16;
        VKRT_CHECK(len > 0 && i + len <= n, Status::internal, "shader '", name, "': malformed SPIR-V");
        const uint32_t* a = w + i + 1;
        switch (op) {
            case OpTypeInt:
            case OpTypeFloat: scalar_size[a[0]] = a[1] / 8; break;
            case OpTypeVector: scalar_size[a[0]] = scalar_size[a[1]] * a[2]; break;
            case OpTypeArray: array_len_id[a[0]] = a[2]; scalar_size[a[0]] = 0; members[a[0]] = {a[1]}; break;
            case OpTypeStruct: members[a[0]] = std::vector<uint32_t>(a + 1, a + len - 1); break;
            case OpTypePointer: ptr_pointee[a[0]] = a[2]; break;
            case OpConstant: if (len >= 4) constants[a[1]] = a[2]; break;
            case OpVariable: var_ptr[a[1]] = a[0]; vars.push_back({a[1], a[2]}); break;
            case OpDecorate:
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
                if (a[1] == 17 && len >= 6) { iface.local_size[0] = a[2]; iface.local_size[1] = a[3]; iface.local_size[2] = a[4]; }
                break;
            case OpExecutionModeId: iface.local_size_from_spec = true; break;
            default: break;
        }
        i += len;
    }
    // Size of a type as laid out (push constants: scalars, vectors, arrays, structs).
    std::function<uint32_t(uint32_t)> size_of = [&](uint32_t t) -> uint32_t {
        if (auto s = scalar_size.find(t); s != scalar_size.end() && s->second) return s->second;
        if (auto al = array_len_id.find(t); al != array_len_id.end()) {
            uint32_t len = constants.count(al->second) ? constants[al->second] : 0;
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
    for (auto [var, sc] : vars) {
        uint32_t pointee = ptr_pointee[var_ptr[var]];
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
    if (iface.local_size_from_spec) iface.local_size[0] = iface.local_size[1] = iface.local_size[2] = 0;
    return iface;
}

// ---------------------------------------------------------------- pipeline

Pipeline::Pipeline(Device& dev, const std::string& variant, const std::vector<uint32_t>& spec) : name_(variant) {
    const spv::ShaderBlob& blob = spv::shader(variant);
    iface_ = reflect_spirv(blob.words, blob.size, variant);
    VkDevice d = dev.handle();

    VkShaderModuleCreateInfo mci{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
    mci.codeSize = blob.size * 4;
    mci.pCode = blob.words;
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

    std::vector<VkSpecializationMapEntry> entries(spec.size());
    for (uint32_t i = 0; i < spec.size(); ++i) entries[i] = {i, i * 4, 4};
    VkSpecializationInfo si{uint32_t(entries.size()), entries.data(), spec.size() * 4, spec.data()};
    VkComputePipelineCreateInfo pci{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
    pci.stage = {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO};
    pci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
    pci.stage.module = mod;
    pci.stage.pName = "main";
    pci.stage.pSpecializationInfo = spec.empty() ? nullptr : &si;
    pci.layout = pl;
    if (dev.capture_statistics()) pci.flags |= VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR;
    VkPipeline p = VK_NULL_HANDLE;
    VK_CHECK(vkCreateComputePipelines(d, dev.pipeline_cache(), 1, &pci, nullptr, &p));
    pipeline_ = vk::Unique<VkPipeline>(p, [d](VkPipeline x) { vkDestroyPipeline(d, x, nullptr); });
    if (dev.capture_statistics()) stats_ = pipeline_statistics(d, p);
}

}  // namespace vkrt
