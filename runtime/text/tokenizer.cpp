// SentencePiece-style and GPT-2 byte-level BPE tokenizers (see tokenizer.hpp).
#include "text/tokenizer.hpp"

#include <algorithm>
#include <cstdio>
#include <queue>
#include <utility>

#include "gguf/gguf.hpp"
#include "text/unicode.hpp"

namespace vkrt {

using text::CharClass;

namespace {

constexpr std::string_view kSpmSpace = "\xE2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK

// ---- GPT-2 bytes_to_unicode ---------------------------------------------------
// Printable bytes map to themselves; the other 68 bytes map to U+0100.. in order.
struct ByteMap {
    std::array<uint32_t, 256> to_cp{};
    std::array<int16_t, 324> to_byte{};  // codepoint -> byte, -1 if not a mapped codepoint
    ByteMap() {
        to_byte.fill(-1);
        uint32_t next = 256;
        for (uint32_t b = 0; b < 256; ++b) {
            const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
            to_cp[b] = printable ? b : next++;
            to_byte[to_cp[b]] = static_cast<int16_t>(b);
        }
    }
};
const ByteMap& byte_map() {
    static const ByteMap m;
    return m;
}

std::string bytes_to_bpe_text(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char b : bytes) text::append_utf8(out, byte_map().to_cp[b]);
    return out;
}

// Inverse of bytes_to_bpe_text; codepoints outside the map are kept as UTF-8.
std::string bpe_text_to_bytes(std::string_view s) {
    std::string out;
    for (size_t pos = 0; pos < s.size();) {
        const auto c = text::decode_utf8(s, pos);
        if (c.valid && c.cp < byte_map().to_byte.size() && byte_map().to_byte[c.cp] >= 0) {
            out += static_cast<char>(byte_map().to_byte[c.cp]);
        } else {
            out.append(s.substr(pos, c.len));
        }
        pos += c.len;
    }
    return out;
}

// ---- pre-tokenizers (hand-written versions of the GPT-2 / Llama-3 regexes) ----
// Works on decoded characters (invalid UTF-8 bytes are single U+FFFD "other"
// units that keep their byte), returns [begin, end) byte ranges of the words.
enum class Kind : uint8_t { none, whitespace, letter, number, other };

struct Units {
    std::vector<uint32_t> cp;
    std::vector<Kind> kind;
    std::vector<size_t> off;  // byte offset of each unit; off[n] = text size

    explicit Units(std::string_view s) {
        for (size_t pos = 0; pos < s.size();) {
            const auto c = text::decode_utf8(s, pos);
            cp.push_back(c.cp);
            kind.push_back(to_kind(text::char_class(c.cp)));
            off.push_back(pos);
            pos += c.len;
        }
        off.push_back(s.size());
    }
    Units() = default;
    size_t size() const { return cp.size(); }
    // Units [b, e) on their own (the end of the slice is the end of the text).
    Units slice(size_t b, size_t e) const {
        Units u;
        u.cp.assign(cp.begin() + b, cp.begin() + e);
        u.kind.assign(kind.begin() + b, kind.begin() + e);
        u.off.assign(off.begin() + b, off.begin() + e + 1);
        return u;
    }
    Kind k(size_t i) const { return i < size() ? kind[i] : Kind::none; }
    uint32_t c(size_t i) const { return i < size() ? cp[i] : 0xFFFFFFFFu; }
    static Kind to_kind(CharClass cls) {
        switch (cls) {
            case CharClass::whitespace: return Kind::whitespace;
            case CharClass::letter: return Kind::letter;
            case CharClass::number: return Kind::number;
            case CharClass::other: return Kind::other;
        }
        return Kind::other;
    }
};

using Words = std::vector<std::pair<size_t, size_t>>;  // unit index ranges

struct WordSink {
    Words& words;
    size_t prev = 0;
    void add(size_t end) {
        if (end > prev) words.emplace_back(prev, end);
        prev = end;
    }
};

// Length of a contraction ('s 't 're 've 'm 'll 'd) at pos, 0 if none.
size_t contraction_len(const Units& u, size_t pos, bool ignore_case) {
    if (u.c(pos) != '\'' || pos + 1 >= u.size()) return 0;
    auto low = [&](size_t i) { return ignore_case ? text::ascii_lower(u.c(i)) : u.c(i); };
    const uint32_t c1 = low(pos + 1);
    if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return 2;
    if (pos + 2 >= u.size()) return 0;
    const uint32_t c2 = low(pos + 2);
    if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) return 3;
    return 0;
}

// GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
Words split_gpt2(const Units& u) {
    Words words;
    WordSink sink{words};
    for (size_t pos = 0; pos < u.size();) {
        if (size_t n = contraction_len(u, pos, false)) {
            pos += n;
            sink.add(pos);
            continue;
        }
        const uint32_t cp = u.c(pos);
        const Kind k2 = cp == ' ' ? u.k(pos + 1) : u.k(pos);
        if (k2 == Kind::letter || k2 == Kind::number || k2 == Kind::other) {
            pos += (cp == ' ');
            while (u.k(pos) == k2) ++pos;
            sink.add(pos);
            continue;
        }
        size_t nws = 0;
        while (u.k(pos + nws) == Kind::whitespace) ++nws;
        if (nws > 1 && pos + nws < u.size()) {  // \s+(?!\S): leave the last space to the next word
            pos += nws - 1;
        } else if (nws > 0) {
            pos += nws;
        } else {
            ++pos;
        }
        sink.add(pos);
    }
    return words;
}

// Llama-3 (max_digits 3) and Qwen2 (max_digits 1):
// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
Words split_llama3(const Units& u, size_t max_digits) {
    Words words;
    WordSink sink{words};
    auto is_rn = [](uint32_t c) { return c == '\r' || c == '\n'; };
    for (size_t pos = 0; pos < u.size();) {
        if (size_t n = contraction_len(u, pos, true)) {
            pos += n;
            sink.add(pos);
            continue;
        }
        const uint32_t cp = u.c(pos);
        const Kind k = u.k(pos);
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if (!is_rn(cp) && k != Kind::number && (k == Kind::letter || u.k(pos + 1) == Kind::letter)) {
            ++pos;
            while (u.k(pos) == Kind::letter) ++pos;
            sink.add(pos);
            continue;
        }
        // \p{N}{1,max_digits}
        if (k == Kind::number) {
            size_t ini = pos;
            while (u.k(pos) == Kind::number) {
                if (++pos - ini >= max_digits) {
                    sink.add(pos);
                    ini = pos;
                }
            }
            sink.add(pos);
            continue;
        }
        // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
        const Kind k2 = cp == ' ' ? u.k(pos + 1) : k;
        if (k2 == Kind::other) {
            pos += (cp == ' ');
            while (u.k(pos) == Kind::other) ++pos;
            while (pos < u.size() && is_rn(u.c(pos))) ++pos;
            sink.add(pos);
            continue;
        }
        size_t nws = 0, last_rn_end = 0;
        while (u.k(pos + nws) == Kind::whitespace) {
            if (is_rn(u.c(pos + nws))) last_rn_end = pos + nws + 1;
            ++nws;
        }
        if (last_rn_end > 0) {  // \s*[\r\n]+
            pos = last_rn_end;
        } else if (nws > 1 && pos + nws < u.size()) {  // \s+(?!\S)
            pos += nws - 1;
        } else if (nws > 0) {  // \s+
            pos += nws;
        } else {  // no match: one character on its own
            ++pos;
        }
        sink.add(pos);
    }
    return words;
}

// SmolLM (llama.cpp's LLAMA_VOCAB_PRE_TYPE_SMOLLM, also StarCoder): two regexes
// in turn, \p{N} then the GPT-2 one: every number character is a word of its
// own, and the GPT-2 split runs on the text between them (so " 12" is " ", "1", "2").
Words split_smollm(const Units& u) {
    Words words;
    for (size_t pos = 0; pos < u.size();) {
        if (u.k(pos) == Kind::number) {
            words.emplace_back(pos, pos + 1);
            ++pos;
            continue;
        }
        size_t end = pos;
        while (end < u.size() && u.k(end) != Kind::number) ++end;
        const Units part = u.slice(pos, end);
        for (const auto& [b, e] : split_gpt2(part)) words.emplace_back(pos + b, pos + e);
        pos = end;
    }
    return words;
}

// ---- SentencePiece symbol merging -----------------------------------------------
struct Symbol {
    int prev, next;
    size_t off, n;  // byte range in the working string; n == 0 once merged away
};

struct SpmBigram {
    int left, right;
    float score;
    size_t size;
    // priority_queue is a max-heap: best score first, ties -> leftmost first
    bool operator<(const SpmBigram& o) const {
        return score < o.score || (score == o.score && left > o.left);
    }
};

struct BpeBigram {
    int left, right;
    int32_t rank;
    size_t size;
    // lowest rank first, ties -> leftmost first
    bool operator<(const BpeBigram& o) const {
        return rank > o.rank || (rank == o.rank && left > o.left);
    }
};

// Splits s into UTF-8 characters linked in a list. Invalid or truncated sequences
// are single-byte symbols (llama.cpp trusts the lead byte, which lets a stray lead
// byte swallow the next character; only invalid input is affected).
std::vector<Symbol> utf8_symbols(std::string_view s) {
    std::vector<Symbol> syms;
    for (size_t off = 0; off < s.size();) {
        const size_t n = text::decode_utf8(s, off).len;
        const int idx = static_cast<int>(syms.size());
        syms.push_back({idx - 1, off + n == s.size() ? -1 : idx + 1, off, n});
        off += n;
    }
    return syms;
}

// Merges the right symbol of a bigram into the left one.
void merge_symbols(std::vector<Symbol>& syms, int left, int right) {
    Symbol& l = syms[left];
    Symbol& r = syms[right];
    l.n += r.n;
    r.n = 0;
    l.next = r.next;
    if (r.next >= 0) syms[r.next].prev = left;
}

bool is_special_type(TokenType t) {
    return t == TokenType::control || t == TokenType::unknown || t == TokenType::user_defined;
}

// Byte value of a SentencePiece byte token "<0xXX>", -1 if the text is not one.
int parse_byte_token(std::string_view t) {
    if (t.size() != 6 || t.substr(0, 3) != "<0x" || t[5] != '>') return -1;
    auto nibble = [](char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    const int hi = nibble(t[3]), lo = nibble(t[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

std::string hex_byte(unsigned b) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    return buf;
}

}  // namespace

// ---- construction -----------------------------------------------------------------

Tokenizer::Tokenizer(TokenizerData data) : d_(std::move(data)) { validate_and_index(); }
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

void Tokenizer::validate_and_index() {
    if (d_.model == "llama") {
        model_ = Model::spm;
    } else if (d_.model == "gpt2") {
        model_ = Model::bpe;
    } else {
        fail(Status::unsupported, "tokenizer.ggml.model '", d_.model, "' is not supported (llama, gpt2)");
    }
    const size_t n = d_.tokens.size();
    VKRT_CHECK(n > 0, Status::bad_format, "tokenizer.ggml.tokens is empty");
    VKRT_CHECK(n <= size_t(INT32_MAX), Status::bad_format, "tokenizer.ggml.tokens has too many entries");
    VKRT_CHECK(d_.scores.empty() || d_.scores.size() == n, Status::bad_format, "tokenizer.ggml.scores has ",
               d_.scores.size(), " entries, tokenizer.ggml.tokens has ", n);
    VKRT_CHECK(d_.token_types.empty() || d_.token_types.size() == n, Status::bad_format,
               "tokenizer.ggml.token_type has ", d_.token_types.size(), " entries, tokenizer.ggml.tokens has ", n);
    if (d_.scores.empty()) d_.scores.assign(n, 0.0f);
    if (d_.token_types.empty()) d_.token_types.assign(n, int32_t(TokenType::normal));
    for (size_t i = 0; i < n; ++i) {
        VKRT_CHECK(d_.token_types[i] >= 0 && d_.token_types[i] <= 6, Status::bad_format,
                   "tokenizer.ggml.token_type[", i, "] = ", d_.token_types[i], " is not a token type (0..6)");
    }
    auto check_special = [&](int32_t id, const char* key) {
        VKRT_CHECK(id >= -1 && id < int64_t(n), Status::bad_format, "tokenizer.ggml.", key, " = ", id,
                   " is out of range (n_vocab ", n, ")");
    };
    check_special(d_.bos, "bos_token_id");
    check_special(d_.eos, "eos_token_id");
    check_special(d_.unk, "unknown_token_id");
    check_special(d_.pad, "padding_token_id");
    check_special(d_.eot, "eot_token_id");

    token_to_id_.reserve(n);
    for (size_t i = 0; i < n; ++i) token_to_id_[d_.tokens[i]] = static_cast<int32_t>(i);  // last wins, as llama.cpp

    if (model_ == Model::spm) {
        for (size_t i = 0; i < n; ++i) {
            VKRT_CHECK(d_.token_types[i] != int32_t(TokenType::byte) || parse_byte_token(d_.tokens[i]) >= 0,
                       Status::bad_format, "tokenizer.ggml.tokens[", i, "] = '", d_.tokens[i],
                       "' is a byte token but not <0xXX>");
        }
        for (unsigned b = 0; b < 256; ++b) {
            int32_t id = find_token(hex_byte(b));
            if (id < 0) id = find_token(std::string(1, static_cast<char>(b)));
            byte_token_[b] = id;
        }
    } else {
        index_bpe();
    }
    index_special_tokens();
    detect_eot_and_eog();
}

void Tokenizer::index_bpe() {
    if (d_.pre.empty() || d_.pre == "default" || d_.pre == "gpt-2" || d_.pre == "gpt2" || d_.pre == "mpt" ||
        d_.pre == "olmo" || d_.pre == "jais") {
        pre_ = Pre::gpt2;
    } else if (d_.pre == "llama3" || d_.pre == "llama-v3" || d_.pre == "llama-bpe" || d_.pre == "falcon3") {
        pre_ = Pre::llama3;
        ignore_merges_ = true;
    } else if (d_.pre == "smaug-bpe") {
        pre_ = Pre::llama3;
    } else if (d_.pre == "qwen2" || d_.pre == "deepseek-r1-qwen" || d_.pre == "stablelm2" || d_.pre == "megrez") {
        pre_ = Pre::qwen2;
        // Qwen's tokenizer.json normalizes with NFC before splitting (llama.cpp skips
        // this, so a decomposed "e" + U+0301 gives other ids there than in Hugging Face).
        nfc_ = d_.pre == "qwen2";
    } else if (d_.pre == "smollm" || d_.pre == "starcoder" || d_.pre == "refact" || d_.pre == "command-r" ||
               d_.pre == "codeshell" || d_.pre == "exaone" || d_.pre == "minerva-7b") {
        pre_ = Pre::smollm;
    } else {
        fail(Status::unsupported, "tokenizer.ggml.pre '", d_.pre,
             "' is not supported (gpt-2, llama-bpe, qwen2, smollm and their aliases)");
    }
    bpe_ranks_.reserve(d_.merges.size());
    for (size_t i = 0; i < d_.merges.size(); ++i) {
        const std::string& m = d_.merges[i];
        const size_t sp = m.size() > 1 ? m.find(' ', 1) : std::string::npos;
        VKRT_CHECK(sp != std::string::npos && sp + 1 < m.size(), Status::bad_format, "tokenizer.ggml.merges[", i,
                   "] = '", m, "' is not 'left right'");
        std::string key = m.substr(0, sp);
        key += '\0';
        key.append(m, sp + 1);
        bpe_ranks_.emplace(std::move(key), static_cast<int32_t>(i));  // first (best) rank wins
    }
}

void Tokenizer::index_special_tokens() {
    for (int32_t id = 0; id < n_vocab(); ++id) {
        if (is_special_type(token_type(id)) && !d_.tokens[id].empty()) special_.push_back(id);
    }
    std::stable_sort(special_.begin(), special_.end(), [&](int32_t a, int32_t b) {
        return d_.tokens[a].size() > d_.tokens[b].size();
    });
}

void Tokenizer::detect_eot_and_eog() {
    eot_ = d_.eot;
    if (eot_ < 0) {
        for (const char* t : {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<EOT>", "<|endoftext|>"}) {
            if (int32_t id = find_token(t); id >= 0) {
                eot_ = id;
                break;
            }
        }
    }
    auto add = [&](int32_t id) {
        if (id >= 0 && std::find(eog_.begin(), eog_.end(), id) == eog_.end()) eog_.push_back(id);
    };
    add(d_.eos);
    add(eot_);
    for (const char* t : {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>",
                          "<EOT>", "_<EOT>", "<|end_of_text|>", "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>"}) {
        add(find_token(t));
    }
}

// ---- GGUF -------------------------------------------------------------------------

TokenizerData Tokenizer::data_from_gguf(const gguf::File& f) {
    TokenizerData d;
    const gguf::Value* model = f.find("tokenizer.ggml.model");
    VKRT_CHECK(model != nullptr, Status::bad_format, "missing tokenizer.ggml.model");
    d.model = model->as_string("tokenizer.ggml.model");
    const bool spm = d.model == "llama";
    d.pre = f.get_string("tokenizer.ggml.pre", "default");
    d.tokens = f.get_string_array("tokenizer.ggml.tokens");
    VKRT_CHECK(!d.tokens.empty(), Status::bad_format, "missing or empty tokenizer.ggml.tokens");
    d.scores = f.get_float_array("tokenizer.ggml.scores");
    for (int64_t t : f.get_int_array("tokenizer.ggml.token_type")) {
        VKRT_CHECK(t >= INT32_MIN && t <= INT32_MAX, Status::bad_format, "tokenizer.ggml.token_type value ", t,
                   " out of range");
        d.token_types.push_back(static_cast<int32_t>(t));
    }
    d.merges = f.get_string_array("tokenizer.ggml.merges");

    // llama.cpp defaults when the keys are absent (spm: <unk>=0 <s>=1 </s>=2; gpt2: 11),
    // dropped when they do not fit the vocabulary.
    const int64_t n = static_cast<int64_t>(d.tokens.size());
    auto def = [&](int64_t id) { return id < n ? static_cast<int32_t>(id) : -1; };
    auto id_key = [&](const char* key, int32_t fallback) -> int32_t {
        const std::string k = std::string("tokenizer.ggml.") + key;
        int64_t v = f.get_int(k, fallback);
        if (v == int64_t(UINT32_MAX)) v = -1;  // u32 0xFFFFFFFF: "no such token" (llama.cpp's LLAMA_TOKEN_NULL)
        VKRT_CHECK(v >= -1 && v < n, Status::bad_format, k, " = ", v, " is out of range (n_vocab ", n, ")");
        return static_cast<int32_t>(v);
    };
    d.bos = id_key("bos_token_id", spm ? def(1) : def(11));
    d.eos = id_key("eos_token_id", spm ? def(2) : def(11));
    d.unk = id_key("unknown_token_id", spm ? def(0) : -1);
    d.pad = id_key("padding_token_id", -1);
    d.eot = id_key("eot_token_id", -1);

    const bool llama3_pre = d.pre == "llama3" || d.pre == "llama-v3" || d.pre == "llama-bpe" || d.pre == "falcon3";
    auto flag = [&](const char* key, bool fallback) {
        const gguf::Value* v = f.find(std::string("tokenizer.ggml.") + key);
        return v ? v->as_bool(std::string("tokenizer.ggml.") + key) : fallback;
    };
    d.add_bos = flag("add_bos_token", spm || llama3_pre);
    d.add_eos = flag("add_eos_token", false);
    d.add_space_prefix = flag("add_space_prefix", spm);
    return d;
}

Tokenizer Tokenizer::from_gguf(const gguf::File& file) { return Tokenizer(data_from_gguf(file)); }

// ---- vocabulary queries -------------------------------------------------------------

void Tokenizer::check_id(int32_t id) const {
    VKRT_CHECK(id >= 0 && id < n_vocab(), Status::invalid_argument, "token id ", id, " out of range (n_vocab ",
               n_vocab(), ")");
}

const std::string& Tokenizer::token_text(int32_t id) const {
    check_id(id);
    return d_.tokens[id];
}

TokenType Tokenizer::token_type(int32_t id) const {
    check_id(id);
    return static_cast<TokenType>(d_.token_types[id]);
}

float Tokenizer::token_score(int32_t id) const {
    check_id(id);
    return d_.scores[id];
}

int32_t Tokenizer::find_token(std::string_view text) const {
    auto it = token_to_id_.find(text);
    return it == token_to_id_.end() ? -1 : it->second;
}

bool Tokenizer::is_eog(int32_t id) const {
    return id >= 0 && std::find(eog_.begin(), eog_.end(), id) != eog_.end();
}

// ---- encode -------------------------------------------------------------------------

// Splits the text at special tokens (llama.cpp's tokenizer_st_partition): each
// special token, longest first, claims all its occurrences in the raw fragments left.
std::vector<Tokenizer::Fragment> Tokenizer::partition_special(std::string_view text, bool parse_special) const {
    std::vector<Fragment> frags;
    if (text.empty()) return frags;
    frags.push_back({-1, text});
    for (int32_t id : special_) {
        const TokenType t = token_type(id);
        if (!parse_special && t != TokenType::user_defined) continue;
        const std::string& s = d_.tokens[id];
        if (text.find(s) == std::string_view::npos) continue;
        std::vector<Fragment> next;
        next.reserve(frags.size() + 2);
        for (const Fragment& f : frags) {
            if (f.token >= 0) {
                next.push_back(f);
                continue;
            }
            std::string_view rest = f.text;
            for (size_t at; (at = rest.find(s)) != std::string_view::npos;) {
                if (at > 0) next.push_back({-1, rest.substr(0, at)});
                next.push_back({id, rest.substr(at, s.size())});
                rest.remove_prefix(at + s.size());
            }
            if (!rest.empty()) next.push_back({-1, rest});
        }
        frags = std::move(next);
    }
    return frags;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
    std::vector<int32_t> out;
    if (add_special && d_.add_bos && d_.bos >= 0) out.push_back(d_.bos);
    bool prev_special = true;  // SentencePiece: a space prefix starts every text run after a special token
    for (const Fragment& f : partition_special(text, parse_special)) {
        if (f.token >= 0) {
            out.push_back(f.token);
            prev_special = true;
        } else if (model_ == Model::spm) {
            encode_spm(f.text, d_.add_space_prefix && prev_special, out);
            prev_special = false;
        } else {
            encode_bpe(f.text, out);
            prev_special = false;
        }
    }
    if (add_special && d_.add_eos && d_.eos >= 0) out.push_back(d_.eos);
    return out;
}

// ---- SentencePiece ------------------------------------------------------------------

void Tokenizer::spm_byte_fallback(std::string_view bytes, std::vector<int32_t>& out) const {
    for (unsigned char b : bytes) {
        int32_t id = byte_token_[b] >= 0 ? byte_token_[b] : d_.unk;
        VKRT_CHECK(id >= 0, Status::invalid_argument, "cannot encode byte 0x", std::hex, unsigned(b),
                   ": the vocabulary has no byte token and no unknown token");
        out.push_back(id);
    }
}

void Tokenizer::encode_spm(std::string_view raw, bool space_prefix, std::vector<int32_t>& out) const {
    // escape whitespace: ' ' -> U+2581, optional U+2581 prefix
    std::string s;
    s.reserve(raw.size() + 3 * 4);
    if (space_prefix) s += kSpmSpace;
    for (char c : raw) {
        if (c == ' ') s += kSpmSpace;
        else s += c;
    }
    std::vector<Symbol> syms = utf8_symbols(s);
    std::priority_queue<SpmBigram> queue;
    auto try_add = [&](int left, int right) {
        if (left < 0 || right < 0) return;
        const size_t len = syms[left].n + syms[right].n;
        const int32_t id = find_token(std::string_view(s).substr(syms[left].off, len));
        if (id < 0) return;
        queue.push({left, right, d_.scores[id], len});
    };
    for (int i = 1; i < static_cast<int>(syms.size()); ++i) try_add(i - 1, i);
    while (!queue.empty()) {
        const SpmBigram b = queue.top();
        queue.pop();
        const Symbol& l = syms[b.left];
        const Symbol& r = syms[b.right];
        if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;  // stale
        merge_symbols(syms, b.left, b.right);
        try_add(syms[b.left].prev, b.left);
        try_add(b.left, syms[b.left].next);
    }
    for (int i = syms.empty() ? -1 : 0; i != -1; i = syms[i].next) {
        const std::string_view piece = std::string_view(s).substr(syms[i].off, syms[i].n);
        const int32_t id = find_token(piece);
        if (id >= 0) out.push_back(id);
        else spm_byte_fallback(piece, out);
    }
}

// ---- byte-level BPE -----------------------------------------------------------------

int32_t Tokenizer::bpe_rank(std::string_view left, std::string_view right) const {
    std::string key;
    key.reserve(left.size() + right.size() + 1);
    key.append(left);
    key += '\0';
    key.append(right);
    auto it = bpe_ranks_.find(key);
    return it == bpe_ranks_.end() ? -1 : it->second;
}

void Tokenizer::encode_bpe(std::string_view raw, std::vector<int32_t>& out) const {
    // Normalization applies to the text between special tokens, as Hugging Face
    // normalizes after splitting off the added tokens.
    const std::string normalized = nfc_ ? text::nfc(raw) : std::string();
    if (nfc_) raw = normalized;
    for (const std::string& word : pre_tokenize(raw)) bpe_word(bytes_to_bpe_text(word), out);
}

std::vector<std::string> Tokenizer::pre_tokenize(std::string_view raw) const {
    if (model_ == Model::spm) return {std::string(raw)};
    const Units units(raw);
    Words words;
    switch (pre_) {
        case Pre::gpt2: words = split_gpt2(units); break;
        case Pre::llama3: words = split_llama3(units, 3); break;
        case Pre::qwen2: words = split_llama3(units, 1); break;
        case Pre::smollm: words = split_smollm(units); break;
    }
    std::vector<std::string> out;
    out.reserve(words.size());
    for (const auto& [b, e] : words) out.emplace_back(raw.substr(units.off[b], units.off[e] - units.off[b]));
    return out;
}

void Tokenizer::bpe_word(const std::string& word, std::vector<int32_t>& out) const {
    if (ignore_merges_) {
        if (int32_t id = find_token(word); id >= 0) {
            out.push_back(id);
            return;
        }
    }
    std::vector<Symbol> syms = utf8_symbols(word);
    const std::string_view w(word);
    auto text_of = [&](const Symbol& s) { return w.substr(s.off, s.n); };
    std::priority_queue<BpeBigram> queue;
    auto try_add = [&](int left, int right) {
        if (left < 0 || right < 0) return;
        const int32_t rank = bpe_rank(text_of(syms[left]), text_of(syms[right]));
        if (rank >= 0) queue.push({left, right, rank, syms[left].n + syms[right].n});
    };
    for (int i = 1; i < static_cast<int>(syms.size()); ++i) try_add(i - 1, i);
    while (!queue.empty()) {
        const BpeBigram b = queue.top();
        queue.pop();
        const Symbol& l = syms[b.left];
        const Symbol& r = syms[b.right];
        // stale: a side was merged away or grew since the bigram was queued
        // (symbols only grow to the right and stay adjacent, so the sizes identify the text)
        if (l.n == 0 || r.n == 0 || l.next != b.right || l.n + r.n != b.size) continue;
        merge_symbols(syms, b.left, b.right);
        try_add(syms[b.left].prev, b.left);
        try_add(b.left, syms[b.left].next);
    }
    for (int i = syms.empty() ? -1 : 0; i != -1; i = syms[i].next) {
        const std::string_view piece = text_of(syms[i]);
        if (int32_t id = find_token(piece); id >= 0) {
            out.push_back(id);
            continue;
        }
        // not a token (a merge without its token): fall back to one token per mapped byte
        for (size_t pos = 0; pos < piece.size();) {
            const size_t n = std::min(text::utf8_len(static_cast<unsigned char>(piece[pos])), piece.size() - pos);
            int32_t id = find_token(piece.substr(pos, n));
            if (id < 0) id = d_.unk;
            VKRT_CHECK(id >= 0, Status::invalid_argument, "cannot encode '", piece.substr(pos, n),
                       "': not in the vocabulary and no unknown token");
            out.push_back(id);
            pos += n;
        }
    }
}

// ---- decode -------------------------------------------------------------------------

std::string Tokenizer::token_to_piece(int32_t id, bool render_special) const {
    const TokenType type = token_type(id);  // checks the id
    const std::string& text = d_.tokens[id];
    switch (type) {
        case TokenType::control:
            return render_special ? text : std::string();
        case TokenType::unknown:
        case TokenType::user_defined:
            return text;
        case TokenType::normal:
            break;
        case TokenType::byte:
            // SentencePiece: "<0xXX>" (checked at construction); byte-level BPE has no byte tokens
            if (model_ == Model::spm) return std::string(1, static_cast<char>(parse_byte_token(text)));
            return std::string();
        default:  // undefined, unused
            return std::string();
    }
    if (model_ == Model::bpe) return bpe_text_to_bytes(text);
    std::string out;
    out.reserve(text.size());
    for (size_t pos = 0; pos < text.size();) {
        if (text.compare(pos, kSpmSpace.size(), kSpmSpace) == 0) {
            out += ' ';
            pos += kSpmSpace.size();
        } else {
            out += text[pos++];
        }
    }
    return out;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool render_special) const {
    std::string out;
    bool strip = model_ == Model::spm && d_.add_space_prefix;
    for (int32_t id : ids) {
        std::string piece = token_to_piece(id, render_special);
        if (strip && !piece.empty()) {
            if (piece[0] == ' ') piece.erase(0, 1);
            strip = false;
        }
        out += piece;
    }
    return out;
}

}  // namespace vkrt
