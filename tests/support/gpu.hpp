// GPU fixture for tests: one vkrt::Device per test process (lavapipe in CI),
// created from the environment (VKRT_DEVICE, VKRT_DISABLE, VKRT_VALIDATION).
// CTest sets VKRT_VALIDATION=1; any validation message fails the test through
// CHECK_NO_VALIDATION (and the test main fails the process if any device saw one).
#pragma once
#include <doctest/doctest.h>

#include <functional>
#include <memory>

#include "vk/buffer.hpp"
#include "vk/device.hpp"
#include "vk/recorder.hpp"

namespace vkrt::test {

// The shared device, created on first use with options from the environment.
Device& gpu();
// A device with some capability paths forced off (cached per combination).
Device& gpu_with(bool no_int_dot, bool no_fp16, bool no_subgroup, bool no_native_half = false);
// The device with halves decoded by the shaders' integer decoder (caps.native_half off, as
// on arm64 lavapipe with LLVM 15), everything else as gpu().
Device& gpu_integer_half();
// Destroys every shared device (called by the test main before it returns);
// returns the number of validation messages they saw.
uint64_t release_devices();
// Record with `fn`, submit, wait.
void run(Device& dev, const std::function<void(Recorder&)>& fn);

}  // namespace vkrt::test

#define CHECK_NO_VALIDATION(dev) CHECK_MESSAGE((dev).validation_messages() == 0, "Vulkan validation layer reported messages (see stderr)")
