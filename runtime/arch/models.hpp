// The architectures (one file each: runtime/arch/<name>.cpp).
#pragma once
#include "arch/arch.hpp"

namespace vkrt::arch {

extern const Arch kLlama;    // llama.cpp src/models/llama.cpp (Llama 2/3.x, SmolLM2, Mistral files)
extern const Arch kMistral;  // older Mistral GGUFs: the llama graph under another name
extern const Arch kQwen2;    // src/models/qwen2.cpp
extern const Arch kQwen3;    // src/models/qwen3.cpp
extern const Arch kGemma3;   // src/models/gemma3.cpp
extern const Arch kPhi3;     // src/models/phi3.cpp

}  // namespace vkrt::arch
