// llama (llama.cpp src/models/llama.cpp): the shared block as it is. Llama 3.1 / 3.2
// files carry rope_freqs.weight (n_rot/2 factors dividing each pair's frequency);
// biases on q/k/v are optional; the output may be tied to token_embd.
#include "arch/models.hpp"
#include "gguf/gguf.hpp"

namespace vkrt::arch {

namespace {
void read(const gguf::File* f, HParams& hp) {
    hp.rope_neox = false;
    if (f) hp.rope_factors = f->find_tensor("rope_freqs.weight") != nullptr;
}
void write(const HParams&, gguf::Writer&) {}
}  // namespace

const Arch kLlama = {"llama", read, write};
const Arch kMistral = {"mistral", read, write};

}  // namespace vkrt::arch
