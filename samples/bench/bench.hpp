// vkrt-bench kernel mode (kernels.cpp).
#pragma once
#include <cstdint>
#include <string>

#include "vk/device.hpp"

namespace vkrt::bench {

// Times each kernel family on representative shapes and prints a table:
// kernel | shape | path | time (us) | GB/s | GOPS. `filter` keeps rows whose kernel
// name contains it. On a CPU device (lavapipe) the big shapes are scaled down
// (the printed shapes say so).
int run_kernels(Device& dev, const std::string& filter, int reps);

// Constrained sampling on the CPU (grammar.cpp): the mask and accept cost per token of a JSON
// Schema over a synthetic vocabulary of n_vocab tokens; no device needed.
int run_grammar(int32_t n_vocab, int reps);

}  // namespace vkrt::bench
