// Tokenizer tests: SentencePiece on the real stories260K vocabulary, synthetic
// SentencePiece and GPT-2 byte-level BPE vocabularies, GGUF loading, validation.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gguf/gguf.hpp"
#include "test_util.hpp"
#include "text/tokenizer.hpp"
#include "text/unicode.hpp"

using namespace vkrt;
using Ids = std::vector<int32_t>;

namespace {

// ---- helpers --------------------------------------------------------------------------

std::string stories_path() { return test::models_dir() + "/stories260K.gguf"; }

const Tokenizer& stories() {
    static const Tokenizer tok = Tokenizer::from_gguf(gguf::File::open(stories_path()));
    return tok;
}

Ids greedy_ids() {
    std::ifstream in(test::models_dir() + "/stories260K.greedy256.ids.txt");
    REQUIRE(in.good());
    Ids ids;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream ss(line);
        for (int x; ss >> x;) ids.push_back(x);
    }
    return ids;
}

template <typename F>
Status status_of(F&& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.status();
    }
    return Status::ok;
}

template <typename F>
std::string message_of(F&& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

// GPT-2 bytes_to_unicode text of raw bytes (written independently of the tokenizer).
std::string gpt2_text(std::string_view bytes) {
    std::string out;
    for (unsigned char b : bytes) {
        uint32_t cp = b;
        if (!((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE)) {
            uint32_t n = 0;
            for (uint32_t x = 0; x < b; ++x) {
                if (!((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || x >= 0xAE)) ++n;
            }
            cp = 256 + n;
        }
        text::append_utf8(out, cp);
    }
    return out;
}

// A byte-level BPE vocabulary: ids 0..255 are the single bytes (in byte order),
// then `extra` tokens (given as raw bytes) and `merges` (given as raw "left right").
struct BpeVocab {
    TokenizerData d;
    int32_t add(std::string_view raw, TokenType type = TokenType::normal) {
        d.tokens.push_back(type == TokenType::normal ? gpt2_text(raw) : std::string(raw));
        d.token_types.push_back(int32_t(type));
        return int32_t(d.tokens.size() - 1);
    }
    void merge(std::string_view left, std::string_view right) {
        d.merges.push_back(gpt2_text(left) + " " + gpt2_text(right));
    }
    explicit BpeVocab(std::string pre = "gpt-2") {
        d.model = "gpt2";
        d.pre = std::move(pre);
        d.add_bos = false;
        d.add_space_prefix = false;
        for (int b = 0; b < 256; ++b) add(std::string(1, char(b)));
    }
};

}  // namespace

// ---- SentencePiece: stories260K -------------------------------------------------------

TEST_CASE("spm: stories260K vocabulary metadata") {
    const Tokenizer& t = stories();
    CHECK(t.model() == Tokenizer::Model::spm);
    CHECK(t.n_vocab() == 512);
    CHECK(t.bos() == 1);
    CHECK(t.eos() == 2);
    CHECK(t.unk() == 0);
    CHECK(t.pad() == -1);  // stored as u32 0xFFFFFFFF
    CHECK(t.eot() == -1);
    CHECK(t.add_bos());
    CHECK_FALSE(t.add_eos());
    CHECK(t.is_eog(2));
    CHECK_FALSE(t.is_eog(1));
    CHECK_FALSE(t.is_eog(403));
    CHECK(t.token_type(1) == TokenType::control);
    CHECK(t.token_type(3) == TokenType::byte);
    CHECK(t.token_text(403) == "\xE2\x96\x81Once");
    CHECK(t.find_token("\xE2\x96\x81upon") == 407);
}

TEST_CASE("spm: encode known ids and round trip") {
    const Tokenizer& t = stories();
    CHECK(t.encode("Once upon a time", true, false) == Ids{1, 403, 407, 261, 378});
    CHECK(t.encode("Once upon a time", false, false) == Ids{403, 407, 261, 378});
    CHECK(t.decode(Ids{1, 403, 407, 261, 378}) == "Once upon a time");
    CHECK(t.decode(Ids{403, 407, 261, 378}) == "Once upon a time");
    CHECK(t.decode(Ids{1, 403, 407}, true) == "<s> Once upon");
    CHECK(t.encode("", true, false) == Ids{1});
    CHECK(t.encode("", false, false).empty());
    // best-score merges: "Lily" is one token, "named" too
    CHECK(t.encode("Lily named", false, false) == Ids{317, 395});
}

TEST_CASE("spm: pieces") {
    const Tokenizer& t = stories();
    CHECK(t.token_to_piece(403) == " Once");
    CHECK(t.token_to_piece(13) == "\n");  // <0x0A>
    CHECK(t.token_to_piece(1).empty());   // control renders empty
    CHECK(t.token_to_piece(1, true) == "<s>");
    CHECK(t.token_to_piece(0) == "<unk>");
    CHECK(status_of([&] { t.token_to_piece(512); }) == Status::invalid_argument);
    CHECK(status_of([&] { t.token_to_piece(-1); }) == Status::invalid_argument);
    CHECK(status_of([&] { t.decode(Ids{5, 9999}); }) == Status::invalid_argument);
}

TEST_CASE("spm: greedy reference ids decode to the published story and encode back") {
    const Tokenizer& t = stories();
    const Ids ids = greedy_ids();
    REQUIRE(ids.size() == 256);
    const std::string text = t.decode(ids);
    CHECK(text.rfind("Once upon a time, there was a little girl named Lily. She loved to play outside", 0) == 0);
    CHECK(text.find("\nLily's mom said, \"Lily, let's go to the park.\"") != std::string::npos);
    // the model's greedy continuation happens to be the canonical tokenization
    CHECK(t.encode(text, false, false) == ids);
    Ids with_bos = ids;
    with_bos.insert(with_bos.begin(), 1);
    CHECK(t.encode(text, true, false) == with_bos);
    CHECK(t.decode(with_bos) == text);
}

TEST_CASE("spm: byte fallback round trips UTF-8") {
    const Tokenizer& t = stories();
    // "é" is a token, "ö" is not: U+2581 then the bytes C3 B6
    CHECK(t.encode("\xC3\xA9", false, false) == Ids{410, 485});
    CHECK(t.encode("\xC3\xB6", false, false) == Ids{410, 3 + 0xC3, 3 + 0xB6});
    CHECK(t.decode(Ids{410, 3 + 0xC3, 3 + 0xB6}) == "\xC3\xB6");
    for (const std::string& s : std::vector<std::string>{"caf\xC3\xA9 na\xC3\xAFve", "\xF0\x9F\x98\x80 emoji", "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E",
                                "tab\tand\nnewline", "  two leading spaces", "trailing  ", "\xFF\xFE invalid", "cut\xC3 lead byte", "\xE2\x96 half"}) {
        CAPTURE(s);
        CHECK(t.decode(t.encode(s, true, false)) == s);
    }
}

TEST_CASE("spm: special tokens only with parse_special") {
    const Tokenizer& t = stories();
    const Ids with = t.encode("<s>Once</s>", false, true);
    CHECK(with == Ids{1, 403, 2});  // text after a special token gets the space prefix again
    const Ids without = t.encode("<s>Once</s>", false, false);
    CHECK(std::find(without.begin(), without.end(), 1) == without.end());
    CHECK(std::find(without.begin(), without.end(), 2) == without.end());
    CHECK(t.decode(without) == "<s>Once</s>");
}

// ---- SentencePiece: synthetic -----------------------------------------------------------

namespace {
TokenizerData small_spm(float score_ab, float score_bb) {
    TokenizerData d;
    d.model = "llama";
    d.tokens = {"<unk>", "<s>", "</s>", "a", "b", "ab", "bb", "\xE2\x96\x81", "\xE2\x96\x81" "a"};
    d.scores = {0, 0, 0, -10, -10, score_ab, score_bb, -5, -1};
    d.token_types = {2, 3, 3, 1, 1, 1, 1, 1, 1};
    d.bos = 1;
    d.eos = 2;
    d.unk = 0;
    d.add_space_prefix = false;
    return d;
}
}  // namespace

TEST_CASE("spm: merge order follows scores; unknown without byte tokens -> unk") {
    CHECK(Tokenizer(small_spm(-1, -2)).encode("abb", false, false) == Ids{5, 4});
    CHECK(Tokenizer(small_spm(-2, -1)).encode("abb", false, false) == Ids{3, 6});
    // equal scores: the leftmost pair first
    CHECK(Tokenizer(small_spm(-1, -1)).encode("abb", false, false) == Ids{5, 4});
    const Tokenizer t(small_spm(-1, -2));
    CHECK(t.encode("a a", false, false) == Ids{3, 8});
    CHECK(t.encode("ac", false, false) == Ids{3, 0});  // no <0x63>: falls back to <unk>
    TokenizerData d = small_spm(-1, -2);
    d.add_space_prefix = true;
    const Tokenizer p(d);
    CHECK(p.encode("a", true, false) == Ids{1, 8});
    CHECK(p.decode(Ids{1, 8}) == "a");
}

// ---- validation ------------------------------------------------------------------------

TEST_CASE("tokenizer data validation") {
    auto build = [](TokenizerData d) { Tokenizer t(std::move(d)); };
    TokenizerData d = small_spm(-1, -2);
    d.scores.pop_back();
    CHECK(status_of([&] { build(d); }) == Status::bad_format);
    CHECK(message_of([&] { build(d); }).find("tokenizer.ggml.scores") != std::string::npos);

    d = small_spm(-1, -2);
    d.token_types.push_back(1);
    CHECK(message_of([&] { build(d); }).find("tokenizer.ggml.token_type") != std::string::npos);

    d = small_spm(-1, -2);
    d.token_types[3] = 9;
    CHECK(status_of([&] { build(d); }) == Status::bad_format);

    d = small_spm(-1, -2);
    d.token_types[3] = int32_t(TokenType::byte);  // "a" is not <0xXX>
    CHECK(status_of([&] { build(d); }) == Status::bad_format);

    d = small_spm(-1, -2);
    d.bos = 9;
    CHECK(message_of([&] { build(d); }).find("bos_token_id") != std::string::npos);
    d = small_spm(-1, -2);
    d.eot = -2;
    CHECK(message_of([&] { build(d); }).find("eot_token_id") != std::string::npos);

    d = small_spm(-1, -2);
    d.tokens.clear();
    d.scores.clear();
    d.token_types.clear();
    CHECK(status_of([&] { build(d); }) == Status::bad_format);

    d = small_spm(-1, -2);
    d.model = "bert";
    CHECK(status_of([&] { build(d); }) == Status::unsupported);

    BpeVocab v;
    v.d.merges.push_back("nospace");
    CHECK(message_of([&] { build(v.d); }).find("tokenizer.ggml.merges") != std::string::npos);

    BpeVocab w("some-new-pre");
    CHECK(status_of([&] { build(w.d); }) == Status::unsupported);
}

// ---- GPT-2 byte-level BPE --------------------------------------------------------------

TEST_CASE("bpe: gpt-2 pre-tokenizer") {
    const Tokenizer t(BpeVocab("gpt-2").d);
    using S = std::vector<std::string>;
    CHECK(t.pre_tokenize("Hello world's  test 123!!\n\nok") ==
          S{"Hello", " world", "'s", " ", " test", " 123", "!!", "\n", "\n", "ok"});
    CHECK(t.pre_tokenize("I'M they're we'll") == S{"I", "'", "M", " they", "'re", " we", "'ll"});
    CHECK(t.pre_tokenize("hi  ") == S{"hi", "  "});
    CHECK(t.pre_tokenize(" 12345 x") == S{" 12345", " x"});
    CHECK(t.pre_tokenize("caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80\xF0\x9F\x98\x80!") ==
          S{"caf\xC3\xA9", " \xE6\x97\xA5\xE6\x9C\xAC", " \xF0\x9F\x98\x80\xF0\x9F\x98\x80!"});
    CHECK(t.pre_tokenize("").empty());
}

TEST_CASE("bpe: llama-3 and qwen2 pre-tokenizers") {
    const Tokenizer t(BpeVocab("llama-bpe").d);
    using S = std::vector<std::string>;
    CHECK(t.pre_tokenize("Hello world's  test 12345!!\n\nok") ==
          S{"Hello", " world", "'s", " ", " test", " ", "123", "45", "!!\n\n", "ok"});
    CHECK(t.pre_tokenize("I'M (hello) x") == S{"I", "'M", " (", "hello", ")", " x"});
    CHECK(t.pre_tokenize("(hello) \"quoted\"") == S{"(hello", ")", " \"", "quoted", "\""});
    CHECK(t.pre_tokenize("a \n\n b") == S{"a", " \n\n", " b"});
    CHECK(t.pre_tokenize("\tword") == S{"\tword"});
    CHECK(t.pre_tokenize("x   y") == S{"x", "  ", " y"});
    CHECK(t.pre_tokenize("\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E \xC3\xB1") ==
          S{"\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E", " \xC3\xB1"});
    const Tokenizer q(BpeVocab("qwen2").d);
    CHECK(q.pre_tokenize("x 2024") == S{"x", " ", "2", "0", "2", "4"});
    // digits of other scripts are \p{N} too (Javanese, Adlam, Meetei Mayek), a
    // combining mark is not a letter
    CHECK(t.pre_tokenize("\xEA\xA7\x91\xEA\xA7\x92\xEA\xA7\x93\xEA\xA7\x94 \xF0\x9E\xA5\x91\xEF\xBF\xAF\xEA\xAF\xB1") ==
          S{"\xEA\xA7\x91\xEA\xA7\x92\xEA\xA7\x93", "\xEA\xA7\x94", " ", "\xF0\x9E\xA5\x91", "\xEF\xBF\xAF",
            "\xEA\xAF\xB1"});
    CHECK(t.pre_tokenize("a\xCC\x81" "b") == S{"a", "\xCC\x81" "b"});
}

TEST_CASE("bpe: smollm pre-tokenizer splits every digit first") {
    const Tokenizer t(BpeVocab("smollm").d);
    using S = std::vector<std::string>;
    CHECK(t.pre_tokenize("Hello 2024 world's  x!") ==
          S{"Hello", " ", "2", "0", "2", "4", " world", "'s", " ", " x", "!"});
    CHECK(t.pre_tokenize("a1b") == S{"a", "1", "b"});
    CHECK(t.pre_tokenize("x  \xD9\xA1") == S{"x", "  ", "\xD9\xA1"});
}

TEST_CASE("bpe: qwen2 normalizes with NFC, the others do not") {
    for (const char* pre : {"qwen2", "llama-bpe", "gpt-2"}) {
        CAPTURE(pre);
        const Tokenizer t(BpeVocab(pre).d);
        const Ids decomposed = t.encode("cafe\xCC\x81", false, false);
        if (std::string(pre) == "qwen2") {
            CHECK(decomposed == Ids{'c', 'a', 'f', 0xC3, 0xA9});
        } else {
            CHECK(decomposed == Ids{'c', 'a', 'f', 'e', 0xCC, 0x81});
        }
    }
}

TEST_CASE("bpe: merges by rank give exact ids") {
    BpeVocab v;
    const int32_t th = v.add("th"), the = v.add("the"), sc = v.add(" c"), at = v.add("at"), scat = v.add(" cat");
    v.merge("t", "h");
    v.merge("th", "e");
    v.merge(" ", "c");
    v.merge("a", "t");
    v.merge(" c", "at");
    const Tokenizer t(v.d);
    CHECK(t.model() == Tokenizer::Model::bpe);
    CHECK(t.encode("the cat", true, false) == Ids{the, scat});  // add_bos=false vocab: no BOS
    CHECK(t.encode("cat", false, false) == Ids{'c', at});
    CHECK(t.encode("th", false, false) == Ids{th});
    CHECK(t.decode(Ids{the, scat}) == "the cat");
    CHECK(t.token_to_piece(sc) == " c");
    CHECK(t.token_to_piece(' ') == " ");
    CHECK(t.token_to_piece('\n') == "\n");

    // rank decides between overlapping pairs
    BpeVocab a;
    const int32_t ab = a.add("ab"), bc = a.add("bc");
    a.merge("b", "c");
    a.merge("a", "b");
    CHECK(Tokenizer(a.d).encode("abc", false, false) == Ids{'a', bc});
    BpeVocab b;
    const int32_t ab2 = b.add("ab");
    b.add("bc");
    b.merge("a", "b");
    b.merge("b", "c");
    CHECK(Tokenizer(b.d).encode("abc", false, false) == Ids{ab2, 'c'});
    (void)ab;
}

TEST_CASE("bpe: llama-3 ignore_merges takes whole-word tokens") {
    BpeVocab v("llama-bpe");
    const int32_t hello = v.add(" hello");  // no merges lead to it
    const Tokenizer t(v.d);
    CHECK(t.encode(" hello", false, false) == Ids{hello});
    BpeVocab g("gpt-2");
    g.add(" hello");
    CHECK(Tokenizer(g.d).encode(" hello", false, false).size() == 6);  // gpt-2: merges only
}

TEST_CASE("bpe: special tokens, BOS/EOS and end of generation") {
    BpeVocab v("llama-bpe");
    const int32_t begin = v.add("<|begin_of_text|>", TokenType::control);
    const int32_t im_start = v.add("<|im_start|>", TokenType::control);
    const int32_t im_end = v.add("<|im_end|>", TokenType::control);
    const int32_t eot_text = v.add("<|endoftext|>", TokenType::control);
    const int32_t user_def = v.add("<tool>", TokenType::user_defined);
    v.d.bos = begin;
    v.d.eos = eot_text;
    v.d.add_bos = true;
    const Tokenizer t(v.d);
    CHECK(t.eot() == im_end);  // auto-detected
    CHECK(t.is_eog(im_end));
    CHECK(t.is_eog(eot_text));
    CHECK_FALSE(t.is_eog(im_start));

    CHECK(t.encode("<|im_start|>hi<|im_end|>", true, true) == Ids{begin, im_start, 'h', 'i', im_end});
    const Ids plain = t.encode("<|im_start|>hi", false, false);
    CHECK(std::find(plain.begin(), plain.end(), im_start) == plain.end());
    CHECK(t.decode(plain) == "<|im_start|>hi");
    // user-defined tokens are always matched
    CHECK(t.encode("a<tool>b", false, false) == Ids{'a', user_def, 'b'});
    // control tokens render only when asked; user-defined always
    CHECK(t.decode(Ids{begin, 'h', im_end}) == "h");
    CHECK(t.decode(Ids{begin, 'h', im_end}, true) == "<|begin_of_text|>h<|im_end|>");
    CHECK(t.decode(Ids{user_def}) == "<tool>");

    TokenizerData e = v.d;
    e.add_eos = true;
    e.eot = im_start;  // explicit eot wins over detection
    const Tokenizer te(e);
    CHECK(te.encode("x", true, false) == Ids{begin, 'x', eot_text});
    CHECK(te.eot() == im_start);
}

TEST_CASE("bpe: byte-level round trip of arbitrary UTF-8 and invalid bytes") {
    for (const char* pre : {"gpt-2", "llama-bpe", "qwen2", "smollm"}) {
        const Tokenizer t(BpeVocab(pre).d);
        const bool nfc = std::string(pre) == "qwen2";
        for (const std::string& s : std::vector<std::string>{"h\xC3\xA9llo w\xC3\xB6rld", "\xF0\x9F\x98\x80\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD emoji",
              "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE6\x96\x87", "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82",
              "a\xCC\x81 combining", "\xFF\xFE\x80 bad\xC3", "tabs\t\tand\r\nlines\n\n", std::string("nul\0byte", 8)}) {
            CAPTURE(pre);
            CAPTURE(s);
            const Ids ids = t.encode(s, false, false);
            const std::string want = nfc ? text::nfc(s) : s;  // qwen2: "a" + U+0301 -> U+00E1
            CHECK(ids.size() == want.size());  // byte-only vocabulary: one id per byte
            CHECK(t.decode(ids) == want);
        }
    }
}

TEST_CASE("unicode classes") {
    using text::CharClass;
    CHECK(text::char_class('a') == CharClass::letter);
    CHECK(text::char_class('7') == CharClass::number);
    CHECK(text::char_class('!') == CharClass::other);
    CHECK(text::char_class('\n') == CharClass::whitespace);
    CHECK(text::char_class(0x00E9) == CharClass::letter);   // é
    CHECK(text::char_class(0x4E2D) == CharClass::letter);   // 中
    CHECK(text::char_class(0x0416) == CharClass::letter);   // Ж
    CHECK(text::char_class(0x00A0) == CharClass::whitespace);
    CHECK(text::char_class(0x3000) == CharClass::whitespace);
    CHECK(text::char_class(0x0661) == CharClass::number);   // Arabic-Indic 1
    CHECK(text::char_class(0xFF11) == CharClass::number);   // fullwidth 1
    CHECK(text::char_class(0x00BD) == CharClass::number);   // ½
    CHECK(text::char_class(0x1F600) == CharClass::other);   // 😀
    CHECK(text::char_class(0x3002) == CharClass::other);    // 。
    CHECK(text::char_class(0x2014) == CharClass::other);    // —
    CHECK(text::char_class(0x0301) == CharClass::other);    // combining acute
    CHECK(text::char_class(0x20AC) == CharClass::other);    // €
    auto c = text::decode_utf8("\xE2\x82\xAC", 0);
    CHECK(c.cp == 0x20AC);
    CHECK(c.len == 3);
    CHECK(text::decode_utf8("\xC0\xAF", 0).valid == false);  // overlong
    CHECK(text::decode_utf8("\xE2\x82", 0).len == 1);        // truncated
}

// ---- GGUF loading ----------------------------------------------------------------------

TEST_CASE("from_gguf: gpt2 vocabulary written with gguf::Writer") {
    BpeVocab v("llama-bpe");
    v.add("th");
    v.merge("t", "h");
    const int32_t eot = v.add("<|eot_id|>", TokenType::control);
    const std::string path = test::tmp_dir() + "/tok_gpt2.gguf";
    {
        gguf::Writer w;
        w.set_string("general.architecture", "llama");
        w.set_string("tokenizer.ggml.model", "gpt2");
        w.set_string("tokenizer.ggml.pre", "llama-bpe");
        w.set_string_array("tokenizer.ggml.tokens", v.d.tokens);
        w.set_i32_array("tokenizer.ggml.token_type", v.d.token_types);
        w.set_string_array("tokenizer.ggml.merges", v.d.merges);
        w.set_u32("tokenizer.ggml.bos_token_id", uint32_t(eot));
        w.set_u32("tokenizer.ggml.eos_token_id", uint32_t(eot));
        w.write(path);
    }
    const Tokenizer t = Tokenizer::from_gguf(gguf::File::open(path));
    CHECK(t.model() == Tokenizer::Model::bpe);
    CHECK(t.add_bos());  // llama-bpe default
    CHECK(t.bos() == eot);
    CHECK(t.unk() == -1);
    CHECK(t.encode("the", true, false) == Ids{eot, 256, 'e'});

    gguf::Writer bad;
    bad.set_string("tokenizer.ggml.model", "llama");
    bad.set_string_array("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>"});
    bad.set_u32("tokenizer.ggml.bos_token_id", 7);
    bad.write(path);
    const auto f = gguf::File::open(path);
    CHECK(message_of([&] { Tokenizer::from_gguf(f); }).find("tokenizer.ggml.bos_token_id") != std::string::npos);

    gguf::Writer none;
    none.set_string("general.architecture", "llama");
    none.write(path);
    CHECK(status_of([&] { Tokenizer::from_gguf(gguf::File::open(path)); }) == Status::bad_format);
}
