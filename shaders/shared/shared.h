// Structs and constants shared by the kernels (GLSL) and their host side (C++): one
// definition of each, included by both languages (niagara's pattern), so a push-constant
// block or a tile constant can never drift between shader and host.
//
// Rules for the headers under shaders/shared/ (one per kernel family: matvec.h, ...):
//   * push-constant blocks are plain structs of 32-bit scalars (uint, int, float), named
//     <Family>Push; the shader declares `layout(push_constant) uniform PC { FooPush pc; };`
//     and reads pc.M as before; the host passes a FooPush to Recorder::dispatch, which
//     checks its size against the reflected block;
//   * VKRT_SIZE_CHECK(T, words), with no semicolon after it (GLSL refuses an empty one),
//     pins each struct's size: a member added on one side only is a compile error, not a
//     silent misread;
//   * constants are VKRT_CONST(type, name, value), a `const` in GLSL and a `constexpr` in C++.
// In C++ everything lives in namespace vkrt::shader.
#ifndef VKRT_SHARED_H
#define VKRT_SHARED_H

#ifdef __cplusplus
#include <cstdint>
#define VKRT_SHARED_BEGIN namespace vkrt::shader { using uint = std::uint32_t;
#define VKRT_SHARED_END }
#define VKRT_CONST(type, name, value) inline constexpr type name = value
#define VKRT_SIZE_CHECK(T, words) static_assert(sizeof(T) == 4u * (words), #T ": expected " #words " 32-bit words");
#else
#define VKRT_SHARED_BEGIN
#define VKRT_SHARED_END
#define VKRT_CONST(type, name, value) const type name = value
#define VKRT_SIZE_CHECK(T, words)
#endif

#endif  // VKRT_SHARED_H
