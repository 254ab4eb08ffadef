#include "vk/shaders.hpp"

#include <vulkan/vulkan.h>

#include "core/error.hpp"

namespace vkrt::spv {

const ShaderBlob& shader(Variant variant) {
    const size_t i = size_t(variant);
    VKRT_CHECK(i < kVariants, Status::internal, "shader variant ", i, " out of range (", kVariants, " variants)");
    return all_shaders()[i];
}

std::optional<Variant> variant_from_name(std::string_view name) {
    const std::span<const ShaderBlob> all = all_shaders();
    for (size_t i = 0; i < all.size(); ++i)
        if (name == all[i].name) return static_cast<Variant>(i);
    return std::nullopt;
}

Variant format_kernel(Family family, Format format, Path path) {
    for (const FormatKernel& k : format_kernels())
        if (k.family == family && k.format == uint32_t(format) && k.path == path) return k.variant;
    fail(Status::unsupported, "no ", family_name(family), " kernel for weight type ", fmt::name(format), " (id ",
         uint32_t(format), ") on the ", path_name(path), " path");
}

uint32_t spirv_version() {
    uint32_t v = 0;
    for (const ShaderBlob& s : all_shaders())
        if (s.size >= 2 && s.words[1] > v) v = s.words[1];
    return v;
}

uint32_t vulkan_version_for_spirv(uint32_t spirv) {
    const uint32_t minor = (spirv >> 8) & 0xffu;
    if (spirv >> 16 != 1 || minor > 6) return ~0u;  // no Vulkan version takes it
    return minor <= 0 ? VK_API_VERSION_1_0 : minor <= 3 ? VK_API_VERSION_1_1 : minor <= 5 ? VK_API_VERSION_1_2
                                                                                   : VK_API_VERSION_1_3;
}

}  // namespace vkrt::spv
