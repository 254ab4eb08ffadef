// Device microbenchmarks for vkrt-bench's fraction-of-peak figures
// (shaders/dot_peak.comp). They measure; tests only check they run.
#pragma once
#include <cstdint>

#include "vk/device.hpp"

namespace vkrt::ops {

// Packed int8 dot-product throughput in TOPS (1 dot of 4 int8 pairs = 8 ops):
// ALU-bound chains of OpSDot (or the unpack-and-multiply fallback when
// !caps.int_dot). The work grows until a run takes long enough to time
// (GPU timestamps, wall clock where the queue has none); well under 1 s on lavapipe.
double measure_int_dot_peak_tops(Device& dev);

// Float FMA throughput in TFLOPS (1 FMA = 2 ops): chains of 2-vector FMAs in float16 where
// the device has shaderFloat16 (packed halves where the hardware has them), else float
// (caps.fp16 says which); the same calibration. The vector-ALU figure: cooperative-matrix
// units (vkrt-bench's gemm_cm rows) may exceed it.
double measure_fma_peak_tflops(Device& dev);

// Read bandwidth in GB/s (1e9 bytes/s): a uvec4 grid-stride read of a device
// buffer of `bytes` (rounded down to 16, clamped to the device's limits).
double measure_read_bandwidth_gbs(Device& dev, uint64_t bytes);

}  // namespace vkrt::ops
