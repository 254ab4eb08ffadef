// Per-model data of the C API's chat calls (vkrt.h "chat" section): the GGUF metadata in a
// compact index (scalars and strings by value, arrays by length only: a 150k-token
// vocabulary is not copied twice) and the vocabulary trie of the grammar sampler, built at
// the first constrained generation and shared by every session of the model.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "gguf/gguf.hpp"
#include "text/grammar.hpp"

namespace vkrt {
class Tokenizer;
}

namespace vkrt::capi {

struct MetaValue {
    gguf::ValueType type = gguf::ValueType::UINT32;
    gguf::ValueType elem_type = gguf::ValueType::UINT32;  // arrays
    uint64_t u = 0;       // unsigned integers, bool
    int64_t i = 0;        // signed integers
    double f = 0.0;       // floats
    std::string s;        // strings
    uint64_t length = 0;  // arrays
};

struct ChatModelData {
    std::map<std::string, MetaValue, std::less<>> meta;

    // The trie over the tokenizer's pieces with `end_ids` as end tokens (built once).
    std::shared_ptr<const grammar::VocabTrie> trie(const Tokenizer& tok, const std::vector<int32_t>& end_ids);

private:
    std::mutex mu_;
    std::shared_ptr<const grammar::VocabTrie> trie_;
};

// Reads the metadata of the GGUF file at `path`.
std::shared_ptr<ChatModelData> chat_model_data(const std::string& path);

// Stored type of a metadata value, for messages ("UINT32", "STRING", "ARRAY of STRING"...).
std::string meta_type_name(const MetaValue& v);

}  // namespace vkrt::capi
