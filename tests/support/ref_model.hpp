// The CPU reference llama (runtime/ref/forward.hpp) loaded from a GGUF file:
// every tensor dequantized to float with the reference decoders.
#pragma once
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ref/forward.hpp"

namespace vkrt::test {

class RefModel {
public:
    // type_k / type_v: the reference's KV cache types (ggml ids of Format::F32 / F16 / Q8_0).
    explicit RefModel(const std::string& gguf_path, uint32_t n_ctx = 256, uint32_t type_k = uint32_t(Format::F32),
                      uint32_t type_v = uint32_t(Format::F32));
    // tokens at positions start_pos.. -> logits (M, n_vocab)
    std::vector<float> forward(std::span<const int32_t> tokens, int32_t start_pos) {
        return llama_->forward(tokens, start_pos);
    }
    const ref::RefConfig& config() const { return llama_->config(); }

private:
    std::unique_ptr<ref::RefModel> llama_;
};

}  // namespace vkrt::test
