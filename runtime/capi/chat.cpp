// Per-model chat data of the C API (see chat.hpp).
#include "capi/chat.hpp"

#include <type_traits>
#include <variant>

#include "text/tokenizer.hpp"

namespace vkrt::capi {

namespace {

const char* type_name(gguf::ValueType t) {
    switch (t) {
        case gguf::ValueType::UINT8: return "UINT8";
        case gguf::ValueType::INT8: return "INT8";
        case gguf::ValueType::UINT16: return "UINT16";
        case gguf::ValueType::INT16: return "INT16";
        case gguf::ValueType::UINT32: return "UINT32";
        case gguf::ValueType::INT32: return "INT32";
        case gguf::ValueType::FLOAT32: return "FLOAT32";
        case gguf::ValueType::BOOL: return "BOOL";
        case gguf::ValueType::STRING: return "STRING";
        case gguf::ValueType::ARRAY: return "ARRAY";
        case gguf::ValueType::UINT64: return "UINT64";
        case gguf::ValueType::INT64: return "INT64";
        case gguf::ValueType::FLOAT64: return "FLOAT64";
    }
    return "unknown";
}

}  // namespace

std::string meta_type_name(const MetaValue& v) {
    if (v.type == gguf::ValueType::ARRAY) return std::string("ARRAY of ") + type_name(v.elem_type);
    return type_name(v.type);
}

std::shared_ptr<ChatModelData> chat_model_data(const std::string& path) {
    const gguf::File f = gguf::File::open(path);
    auto d = std::make_shared<ChatModelData>();
    for (const auto& [key, val] : f.metadata()) {
        MetaValue m;
        m.type = val.type;
        m.elem_type = val.elem_type;
        std::visit(
            [&](const auto& x) {
                using T = std::decay_t<decltype(x)>;
                if constexpr (std::is_same_v<T, uint64_t>) m.u = x;
                else if constexpr (std::is_same_v<T, int64_t>) m.i = x;
                else if constexpr (std::is_same_v<T, double>) m.f = x;
                else if constexpr (std::is_same_v<T, bool>) m.u = x ? 1 : 0;
                else if constexpr (std::is_same_v<T, std::string>) m.s = x;
                else m.length = x ? x->size() : 0;
            },
            val.v);
        d->meta.emplace(key, std::move(m));
    }
    return d;
}

std::shared_ptr<const grammar::VocabTrie> ChatModelData::trie(const Tokenizer& tok,
                                                              const std::vector<int32_t>& end_ids) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!trie_) trie_ = std::make_shared<const grammar::VocabTrie>(tok, end_ids);
    return trie_;
}

}  // namespace vkrt::capi
