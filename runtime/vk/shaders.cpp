#include "vk/shaders.hpp"

#include "core/error.hpp"

namespace vkrt::spv {

const ShaderBlob& shader(std::string_view name) {
    for (const ShaderBlob& s : all_shaders())
        if (name == s.name) return s;
    fail(Status::internal, "no embedded shader variant named '", name, "'");
}

}  // namespace vkrt::spv
