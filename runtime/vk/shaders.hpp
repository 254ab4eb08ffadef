// Embedded SPIR-V: every shaders/<family>.comp variant, compiled at build time
// (cmake/VkrtShaders.cmake). Look one up by its variant name.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace vkrt::spv {

struct ShaderBlob {
    const char* name;
    const uint32_t* words;
    size_t size;  // in 32-bit words
};

std::span<const ShaderBlob> all_shaders();
// Throws vkrt::Error(internal) if no variant has that name.
const ShaderBlob& shader(std::string_view name);

}  // namespace vkrt::spv
