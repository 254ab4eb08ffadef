#include "vk/shaders.hpp"

#include "core/error.hpp"

namespace vkrt::spv {

const ShaderBlob& shader(std::string_view name) {
    for (const ShaderBlob& s : all_shaders())
        if (name == s.name) return s;
    fail(Status::internal, "no embedded shader variant named '", name, "'");
}

const char* format_kernel(Family family, Format format, Path path) {
    for (const FormatKernel& k : format_kernels())
        if (k.family == family && k.format == uint32_t(format) && k.path == path) return k.name;
    fail(Status::unsupported, "no ", family_name(family), " kernel for weight type ", fmt::name(format), " (id ",
         uint32_t(format), ") on the ", path_name(path), " path");
}

}  // namespace vkrt::spv
