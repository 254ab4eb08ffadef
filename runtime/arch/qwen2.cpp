// qwen2 (llama.cpp src/models/qwen2.cpp): biases on q, k and v; NEOX rope.
#include "arch/models.hpp"

namespace vkrt::arch {

namespace {
void read(const gguf::File*, HParams& hp) {
    hp.rope_neox = true;
    hp.qkv_bias = true;
}
void write(const HParams&, gguf::Writer&) {}
}  // namespace

const Arch kQwen2 = {"qwen2", read, write};

}  // namespace vkrt::arch
