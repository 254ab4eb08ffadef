// Shared between C++ (runtime/) and GLSL (shaders/): quantized block layouts
// and constants. Plain #defines only, so both languages read it.
// GGUF Q4_0 block (18 bytes): fp16 d, then 16 bytes of nibbles. Element j of the
// block (0..31): q = (j < 16) ? qs[j] & 0xF : qs[j-16] >> 4; value = d * (q - 8).
// GGUF Q8_0 block (34 bytes): fp16 d, then 32 int8 qs; value = d * qs[j].
#ifndef VKRT_SHADERS_TYPES_H
#define VKRT_SHADERS_TYPES_H

#define VKRT_QK4_0 32
#define VKRT_QK8_0 32
#define VKRT_Q4_0_BYTES 18
#define VKRT_Q8_0_BYTES 34

// Weight/tensor type ids as used in GGUF (ggml_type).
#define VKRT_TYPE_F32 0
#define VKRT_TYPE_F16 1
#define VKRT_TYPE_Q4_0 2
#define VKRT_TYPE_Q8_0 8
#define VKRT_TYPE_I8 24
#define VKRT_TYPE_I32 26

#endif
