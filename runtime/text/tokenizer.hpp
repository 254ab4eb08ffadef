// Tokenizers for llama-family GGUF models.
//
//   * "llama": SentencePiece-style (llama.cpp's llm_tokenizer_spm): spaces ->
//     U+2581, optional leading U+2581, best-score bigram merges over UTF-8
//     characters, byte fallback to <0xXX> tokens.
//   * "gpt2":  byte-level BPE (Llama-3, Qwen2, SmolLM, GPT-2): hand-written regex
//     pre-tokenizer per tokenizer.ggml.pre (see text/unicode.hpp for the character
//     classes, generated from the Unicode data), GPT-2 bytes_to_unicode mapping,
//     merges by rank. "qwen2" applies NFC first, as Qwen's tokenizer.json does.
//
// Special tokens (control / user-defined) found verbatim in the input are
// emitted as single ids before the text tokenizer runs, like llama.cpp's
// tokenizer_st_partition: user-defined tokens always, control and unknown
// tokens only when parse_special is true. Longer special tokens win.
//
// All checks throw vkrt::Error (Status::bad_format for bad vocabularies,
// Status::invalid_argument for bad ids or inputs that cannot be encoded).
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/error.hpp"

namespace vkrt {

namespace gguf {
class File;
}

// Values of tokenizer.ggml.token_type (llama.cpp's llama_token_type).
enum class TokenType : int32_t {
    undefined = 0, normal = 1, unknown = 2, control = 3, user_defined = 4, unused = 5, byte = 6,
};

// Everything a Tokenizer needs; filled from GGUF by Tokenizer::from_gguf or by hand (tests).
struct TokenizerData {
    std::string model = "llama";           // "llama" (SentencePiece) or "gpt2" (byte-level BPE)
    std::string pre;                       // gpt2 pre-tokenizer: "default"/"gpt-2", "llama-bpe"/"llama3", "qwen2", "smollm", ...
    std::vector<std::string> tokens;       // id -> text
    std::vector<float> scores;             // empty or one per token (SentencePiece merge priority)
    std::vector<int32_t> token_types;      // empty (all normal) or one TokenType per token
    std::vector<std::string> merges;       // gpt2 only: "left right", best (rank 0) first
    int32_t bos = -1, eos = -1, unk = -1, pad = -1, eot = -1;  // -1: none (eot: auto-detected)
    bool add_bos = true;                   // encode(..., add_special=true) prepends BOS
    bool add_eos = false;                  // encode(..., add_special=true) appends EOS
    bool add_space_prefix = true;          // llama: prefix text with U+2581; decode strips it again
};

class Tokenizer {
public:
    enum class Model { spm, bpe };

    explicit Tokenizer(TokenizerData data);  // validates (bad_format naming the problem)
    // Reads tokenizer.ggml.* (defaults as llama.cpp uses them when keys are absent).
    static Tokenizer from_gguf(const gguf::File& file);
    // Pure metadata part of from_gguf (no validation beyond types/lengths).
    static TokenizerData data_from_gguf(const gguf::File& file);

    Tokenizer(Tokenizer&&) noexcept;
    Tokenizer& operator=(Tokenizer&&) noexcept;
    ~Tokenizer();

    // ---- encode / decode ----
    // add_special: add what the vocabulary asks for, like llama_tokenize's add_special:
    // BOS first when add_bos (and the vocab has a BOS), EOS last when add_eos.
    // parse_special: match control tokens (<s>, <|im_start|>, ...) written in the text.
    std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const;
    // Concatenates the pieces. Control tokens render empty unless render_special.
    // SentencePiece vocabs with add_space_prefix drop the leading space of the first
    // non-empty piece (so decode(encode(s, true, false)) == s, as SentencePiece's
    // DecodeIds; llama_detokenize keeps that space after a leading BOS).
    std::string decode(std::span<const int32_t> ids, bool render_special = false) const;
    // Text of one token as it appears in output (no leading-space stripping). For
    // SentencePiece byte tokens this is one raw byte, possibly an incomplete UTF-8 sequence.
    std::string token_to_piece(int32_t id, bool render_special = false) const;

    // gpt2: the words the pre-tokenizer splits raw text into (raw bytes, no special
    // token handling); llama: the text itself. For tests and diagnostics.
    std::vector<std::string> pre_tokenize(std::string_view text) const;

    // ---- vocabulary ----
    int32_t n_vocab() const { return static_cast<int32_t>(d_.tokens.size()); }
    int32_t bos() const { return d_.bos; }
    int32_t eos() const { return d_.eos; }
    int32_t eot() const { return eot_; }  // tokenizer.ggml.eot_token_id or auto-detected, -1 if none
    int32_t unk() const { return d_.unk; }
    int32_t pad() const { return d_.pad; }
    bool add_bos() const { return d_.add_bos; }
    bool add_eos() const { return d_.add_eos; }
    Model model() const { return model_; }
    // End of generation: eos, eot and control tokens such as <|eot_id|>, <|im_end|>, <end_of_turn>.
    bool is_eog(int32_t id) const;
    const std::vector<int32_t>& eog_ids() const { return eog_; }
    const std::string& token_text(int32_t id) const;  // raw vocabulary text
    TokenType token_type(int32_t id) const;
    float token_score(int32_t id) const;
    int32_t find_token(std::string_view text) const;  // -1 if absent

private:
    struct Fragment {  // part of the input: raw text or an already-known token
        int32_t token;  // -1 for raw text
        std::string_view text;
    };
    struct SvHash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };
    using TokenMap = std::unordered_map<std::string, int32_t, SvHash, std::equal_to<>>;
    enum class Pre { gpt2, llama3, qwen2, smollm };

    void validate_and_index();
    void index_special_tokens();
    void index_bpe();
    void detect_eot_and_eog();
    void check_id(int32_t id) const;
    std::vector<Fragment> partition_special(std::string_view text, bool parse_special) const;
    void encode_spm(std::string_view raw, bool space_prefix, std::vector<int32_t>& out) const;
    void encode_bpe(std::string_view raw, std::vector<int32_t>& out) const;
    void bpe_word(const std::string& word, std::vector<int32_t>& out) const;
    int32_t bpe_rank(std::string_view left, std::string_view right) const;
    void spm_byte_fallback(std::string_view bytes, std::vector<int32_t>& out) const;

    TokenizerData d_;
    Model model_ = Model::spm;
    Pre pre_ = Pre::gpt2;
    bool ignore_merges_ = false;  // Llama-3: a word that is a token is emitted whole
    bool nfc_ = false;            // Qwen2: NFC-normalize text before pre-tokenizing
    int32_t eot_ = -1;
    TokenMap token_to_id_;
    TokenMap bpe_ranks_;  // key: left + '\0' + right
    std::array<int32_t, 256> byte_token_{};  // SentencePiece byte fallback (-1: none)
    std::vector<int32_t> special_;  // control/unknown/user-defined ids, longest text first
    std::vector<int32_t> eog_;
};

}  // namespace vkrt
