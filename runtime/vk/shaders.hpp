// Embedded SPIR-V: every shaders/<family>.comp variant, compiled at build time
// (cmake/VkrtShaders.cmake). Look one up by its generated enumerator (spv::Variant), so
// that the compiler checks every name the runtime asks for.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "core/format.hpp"
#include "format_kernels.hpp"  // generated: Family, Path, format_kernels()
#include "variants.hpp"        // generated: Variant (every variant), variant_name()

namespace vkrt::spv {

struct ShaderBlob {
    const char* name;
    const uint32_t* words;
    size_t size;  // in 32-bit words
};

std::span<const ShaderBlob> all_shaders();  // indexed by Variant
const ShaderBlob& shader(Variant variant);
// The variant of that name, if the build has one: for tools and tests that list or name
// kernels in text (the runtime itself chooses kernels by enumerator only).
std::optional<Variant> variant_from_name(std::string_view name);

// The variant of a kernel family for a weight format and path, from the table the build
// generates from the `//! variant-per-format` lines; throws Status::unsupported naming
// the family, format and path when the build has no such variant.
Variant format_kernel(Family family, Format format, Path path);

// The highest SPIR-V version among the embedded kernels (the module header's word, e.g.
// 0x00010300 for 1.3), and the Vulkan API version that accepts it (1.0: SPIR-V 1.0,
// 1.1: 1.3, 1.2: 1.5, 1.3: 1.6).
uint32_t spirv_version();
uint32_t vulkan_version_for_spirv(uint32_t spirv_version);

}  // namespace vkrt::spv
