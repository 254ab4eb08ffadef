// Specialization constants the runtime sets on every pipeline it creates (runtime/vk/
// pipeline.cpp), from the device's capabilities; ids far above the per-kernel ones
// (0, 1, 2, ... of each kernel's own shape constants). A kernel that does not declare
// one is unaffected (Vulkan ignores map entries of ids a module does not use).
#ifndef VKRT_SHARED_SPEC_H
#define VKRT_SHARED_SPEC_H

// bool: halves decoded with unpackHalf2x16 (caps.native_half) rather than with integer
// operations (vkrt_half_to_float in shaders/common.glsl).
#define VKRT_SPEC_NATIVE_HALF 200

#endif
