// libFuzzer target: the tokenizers. Input byte 0 picks a vocabulary
// (SentencePiece with byte fallback, byte-level BPE with the gpt-2, llama3 and
// qwen2 pre-tokenizers and special tokens), byte 1 the flags, the rest is the
// text. Encoding, decoding and piece lookup may only succeed or throw
// vkrt::Error; byte-level BPE without special tokens must round-trip exactly.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "text/tokenizer.hpp"
#include "text/unicode.hpp"

using vkrt::TokenizerData;
using vkrt::TokenType;

namespace {

// GPT-2 bytes_to_unicode of raw bytes (from the spec, independent of the tokenizer's own table).
std::string gpt2_text(std::string_view bytes) {
    auto printable = [](uint32_t b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE; };
    std::string out;
    for (unsigned char b : bytes) {
        uint32_t cp = b;
        if (!printable(b)) {
            uint32_t n = 0;
            for (uint32_t x = 0; x < b; ++x) n += !printable(x);
            cp = 256 + n;
        }
        vkrt::text::append_utf8(out, cp);
    }
    return out;
}

TokenizerData bpe(const char* pre, bool specials) {
    TokenizerData d;
    d.model = "gpt2";
    d.pre = pre;
    d.add_bos = false;
    d.add_space_prefix = false;
    auto add = [&](std::string_view raw, TokenType type = TokenType::normal) {
        d.tokens.push_back(type == TokenType::normal ? gpt2_text(raw) : std::string(raw));
        d.token_types.push_back(int32_t(type));
    };
    for (int b = 0; b < 256; ++b) add(std::string(1, char(b)));
    const char* merges[][2] = {{" ", "t"}, {"h", "e"}, {" t", "he"}, {"i", "n"}, {" ", "a"}, {"e", "r"},
                               {"o", "n"}, {"1", "2"}, {"12", "3"}, {"\xC3", "\xA9"}, {" ", " "}};
    for (auto& m : merges) {
        add(std::string(m[0]) + m[1]);
        d.merges.push_back(gpt2_text(m[0]) + " " + gpt2_text(m[1]));
    }
    if (specials) {
        add("<|im_start|>", TokenType::control);
        add("<|im_end|>", TokenType::control);
        add("<tag>", TokenType::user_defined);
        d.eos = int32_t(d.tokens.size()) - 2;
    }
    return d;
}

TokenizerData spm() {
    TokenizerData d;
    d.model = "llama";
    d.tokens = {"<unk>", "<s>", "</s>"};
    d.token_types = {2, 3, 3};
    for (int b = 0; b < 256; ++b) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "<0x%02X>", b);
        d.tokens.push_back(buf);
        d.token_types.push_back(int32_t(TokenType::byte));
    }
    const char* pieces[] = {"\xE2\x96\x81", "a", "b", "ab", "\xE2\x96\x81" "a", "on", "ce", "\xE2\x96\x81" "on",
                            "up", "\xC3\xA9", "\xF0\x9F\x99\x82", "<tag>"};
    for (const char* p : pieces) {
        d.tokens.push_back(p);
        d.token_types.push_back(std::strcmp(p, "<tag>") == 0 ? int32_t(TokenType::user_defined)
                                                              : int32_t(TokenType::normal));
    }
    d.scores.assign(d.tokens.size(), 0.0f);
    for (size_t i = 0; i < d.scores.size(); ++i) d.scores[i] = -float(i % 17);
    d.bos = 1;
    d.eos = 2;
    d.unk = 0;
    return d;
}

struct Vocabs {
    std::vector<std::unique_ptr<vkrt::Tokenizer>> t;
    Vocabs() {
        t.push_back(std::make_unique<vkrt::Tokenizer>(spm()));
        t.push_back(std::make_unique<vkrt::Tokenizer>(bpe("gpt-2", false)));
        t.push_back(std::make_unique<vkrt::Tokenizer>(bpe("llama3", true)));
        t.push_back(std::make_unique<vkrt::Tokenizer>(bpe("qwen2", true)));
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const Vocabs vocabs;
    if (size < 2) return 0;
    const size_t which = data[0] % vocabs.t.size();
    const vkrt::Tokenizer& tok = *vocabs.t[which];
    const bool add_special = data[1] & 1, parse_special = data[1] & 2, render_special = data[1] & 4;
    const std::string_view text(reinterpret_cast<const char*>(data + 2), size - 2);
    try {
        const std::vector<int32_t> ids = tok.encode(text, add_special, parse_special);
        const std::string back = tok.decode(ids, render_special);
        for (int32_t id : ids) (void)tok.token_to_piece(id, render_special);
        // Byte-level BPE is lossless: every byte string encodes and decodes to itself.
        if (which == 1 && !add_special && back != text) std::abort();
        (void)tok.pre_tokenize(text);
    } catch (const vkrt::Error&) {
    }
    // The bytes as ids (valid and invalid): decoding must check every one.
    std::vector<int32_t> raw(text.size() / 4);
    if (!raw.empty()) std::memcpy(raw.data(), text.data(), raw.size() * 4);
    try {
        (void)tok.decode(raw, render_special);
    } catch (const vkrt::Error&) {
    }
    for (int32_t id : raw) {
        try {
            (void)tok.token_to_piece(id % (tok.n_vocab() + 8), true);
        } catch (const vkrt::Error&) {
        }
    }
    return 0;
}
