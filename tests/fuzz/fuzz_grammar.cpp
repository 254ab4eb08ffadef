// libFuzzer target: constrained output's parsers. Input byte 0 picks what the rest is:
//   0: a GBNF grammar; if it parses, the matcher runs over a small byte-level vocabulary
//      (masks, accepting allowed tokens chosen by the next input bytes)
//   1: a JSON Schema, compiled to GBNF; what it compiles to must parse (anything else is a
//      finding: the compiler produced a grammar of its own that is wrong)
//   2: a JSON document: parse, dump, parse again and dump the same text
// Any input must end in success or a vkrt::Error; a crash, a sanitizer report, another
// exception, or a broken invariant (std::abort) is a finding.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "text/grammar.hpp"
#include "text/json_schema.hpp"

namespace {

// Every single byte, a few ASCII and UTF-8 words, and an end token.
std::shared_ptr<const vkrt::grammar::VocabTrie> vocab() {
    static const auto trie = [] {
        std::vector<std::string> t;
        for (int b = 0; b < 256; ++b) t.push_back(std::string(1, char(b)));
        for (const char* w : {"{\"", "\":", "true", "null", " \"", "\xC3\xA9", "\xE2\x82", "\xAC", "12", "],"})
            t.emplace_back(w);
        // Subtrees of several tokens, for the mask's whole-subtree shortcut: ASCII, whole and
        // cut characters, and invalid UTF-8 beside valid text.
        for (const char* w : {"ab", "abc", "abd", "ab\"", "a b", "\xC3\xA9t", "\xC3\xA9s", "\xC3\xA9\xC3", "\xC3\xA9" "a",
                              "\xE2\x82\xAC" "1", "\xE2\x82" "x", "\xE2\x82\xAC\xAC", "\xED\xA0\x80", "\xF0\x9F\x98\x80"})
            t.emplace_back(w);
        t.emplace_back("");  // a control token: never allowed
        t.emplace_back("<end>");
        const std::vector<int32_t> ends = {int32_t(t.size()) - 1};
        return std::make_shared<const vkrt::grammar::VocabTrie>(t, ends);
    }();
    return trie;
}

// The matcher, and beside it one without the whole-subtree shortcut: their masks must agree.
void run_matcher(const vkrt::grammar::Grammar& g, std::string_view steer) {
    auto trie = vocab();
    auto shared = std::make_shared<const vkrt::grammar::Grammar>(g);
    vkrt::grammar::Matcher m(shared, trie), full(shared, trie);
    full.set_subtree_shortcut(false);
    std::vector<float> logits(size_t(trie->n_vocab())), reference(logits.size());
    for (size_t step = 0; step < 32; ++step) {
        std::fill(logits.begin(), logits.end(), 0.0f);
        std::fill(reference.begin(), reference.end(), 0.0f);
        bool refused = false, full_refused = false;
        try {
            m.mask(logits);
        } catch (const vkrt::Error&) {
            refused = true;
        }
        try {
            full.mask(reference);
        } catch (const vkrt::Error&) {
            full_refused = true;
        }
        if (refused != full_refused || logits != reference) std::abort();  // the shortcut changed the mask
        if (refused) return;  // nothing can follow
        std::vector<int32_t> allowed;
        for (size_t i = 0; i < logits.size(); ++i) {
            if (logits[i] == 0.0f) allowed.push_back(int32_t(i));
        }
        const size_t pick = step < steer.size() ? uint8_t(steer[step]) : step;
        const int32_t t = allowed[pick % allowed.size()];
        if (!m.allows(t)) std::abort();  // the mask and allows() disagree
        m.accept(t);
        full.accept(t);
        if (trie->is_end(t)) return;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
    try {
        switch (data[0] % 3) {
            case 0: {
                const vkrt::grammar::Grammar g = vkrt::grammar::Grammar::parse(text);
                (void)vkrt::grammar::Matcher::accepts(g, text);
                run_matcher(g, text);
                break;
            }
            case 1: {
                const std::string gbnf = vkrt::json::schema_to_gbnf(text);
                try {
                    (void)vkrt::grammar::Grammar::parse(gbnf);
                } catch (const vkrt::Error&) {
                    std::abort();  // the compiler's own output must parse
                }
                break;
            }
            case 2: {
                const vkrt::json::Value v = vkrt::json::parse(text);
                const std::string once = vkrt::json::dump(v);
                if (vkrt::json::dump(vkrt::json::parse(once)) != once) std::abort();
                break;
            }
        }
    } catch (const vkrt::Error&) {
    }
    return 0;
}
