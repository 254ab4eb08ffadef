// Constrained sampling: GBNF grammars (llama.cpp's format, grammars/README.md there) and the
// per-step token mask they impose on a vocabulary.
//
//   Grammar     the parsed, checked grammar: rules of alternatives of elements, each element a
//               set of code points or a reference to a rule. Groups and repetitions (* + ? {m,n})
//               become generated rules as in llama.cpp (x* -> r ::= x r | ; right recursion).
//               Refused with Status::invalid_argument: text that does not parse ("line L, column
//               C: ..."), an undefined or twice-defined rule, no root rule, left recursion (the
//               matcher would expand forever) and a root that derives no string (empty language).
//   VocabTrie   the vocabulary's token texts in a byte trie, built once per model: tokens that
//               share a prefix are checked together, so a mask costs one walk of the trie.
//   Matcher     one generation's state: the set of parse stacks (llama.cpp's representation:
//               each stack is the list of element positions still to match, innermost first) and
//               a pending partial UTF-8 character. Stacks and stack sets are interned, the
//               transition of a set by a code point is memoised, and the mask of a state is
//               cached: in JSON most steps revisit a few states (inside a string, after a comma),
//               so after the first visit a step costs a copy of the cached bitmask onto the logits.
//               A first visit: a state that leads back to itself on most ASCII bytes (inside a
//               string, free text) allows most of the vocabulary: its mask is a scan of the
//               tokens' byte summaries (a token made of bytes the state loops over is allowed;
//               the others are walked from their first other byte). Any other state walks the
//               trie, taking whole every subtree whose bytes the state loops over.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

namespace vkrt {
class Tokenizer;
}

namespace vkrt::grammar {

// A set of code points: the union of [lo, hi] ranges, or its complement (negated).
struct CharSet {
    std::vector<std::pair<uint32_t, uint32_t>> ranges;
    bool negated = false;
    bool match(uint32_t cp) const {
        bool in = false;
        for (const auto& [lo, hi] : ranges) in |= cp >= lo && cp <= hi;
        return in != negated;
    }
    bool empty() const { return !negated && ranges.empty(); }
    // Some code point in [lo, hi] matches (a partial UTF-8 character can still complete).
    bool intersects(uint32_t lo, uint32_t hi) const {
        if (!negated) {
            for (const auto& [a, b] : ranges) {
                if (a <= hi && b >= lo) return true;
            }
            return false;
        }
        // The complement meets [lo, hi] unless the ranges cover all of it.
        for (uint32_t cur = lo;;) {
            bool covered = false;
            for (const auto& [a, b] : ranges) {
                if (a <= cur && cur <= b) {
                    if (b >= hi) return false;
                    cur = b + 1;
                    covered = true;
                    break;
                }
            }
            if (!covered) return true;
        }
    }
};

enum class ElemKind : uint8_t { end, chars, rule };
struct Elem {
    ElemKind kind;
    uint32_t arg;  // chars: index into Grammar::sets; rule: rule id
};

struct Grammar {
    std::vector<std::string> names;             // rule id -> name (generated: "parent_N")
    std::vector<std::vector<uint32_t>> alts;    // rule id -> position in elems of each alternative
    std::vector<Elem> elems;                    // alternatives, each closed by an end element
    std::vector<CharSet> sets;
    uint32_t root = 0;

    // Parses and checks `text`; the start rule is `root`. Throws invalid_argument.
    static Grammar parse(std::string_view text, std::string_view root = "root");
};

// The vocabulary as a byte trie of token texts (Tokenizer::token_to_piece). Tokens with an
// empty text (control tokens) are never allowed by a grammar; end-of-generation tokens are
// allowed exactly when the grammar is complete.
class VocabTrie {
public:
    // `end_ids`: tokens that end generation (the tokenizer's EOG ids are always included).
    VocabTrie(const Tokenizer& tok, std::span<const int32_t> end_ids = {});
    // From raw token texts (tests, benchmarks); `end_ids` as above.
    VocabTrie(const std::vector<std::string>& texts, std::span<const int32_t> end_ids);

    int32_t n_vocab() const { return n_vocab_; }
    size_t n_nodes() const { return nodes_.size(); }
    const std::string& text(int32_t id) const { return texts_[size_t(id)]; }
    bool is_end(int32_t id) const;

    struct Node {
        uint32_t child_begin = 0, child_end = 0;  // children: nodes_[child_begin, child_end)
        uint32_t tok_begin = 0, tok_end = 0;      // tokens whose text ends here: ids_[tok_begin, tok_end)
        // The subtree's tokens (this node's and every descendant's) are ids_[tok_begin, sub_end):
        // ids_ is sorted by text, so the tokens sharing a prefix are one run.
        uint32_t sub_end = 0;
        uint32_t below = 0;  // index into below(): the bytes on the edges under this node
        uint8_t byte = 0;
    };
    // What the texts below a node are made of, for the matcher's shortcut (a grammar state that
    // maps itself to itself on every byte of a subtree allows the whole subtree: inside a JSON
    // string that is nearly the whole vocabulary, one run of ids instead of a walk).
    struct Below {
        std::array<uint64_t, 2> ascii{};  // bytes < 0x80 on the edges below the node
        bool non_ascii = false;           // some byte >= 0x80 below the node
        // Every token of the subtree is well-formed UTF-8 from its first byte (a last
        // character may be cut short, as a prefix of a well-formed one): read from a
        // character boundary, its bytes below the node are whole characters.
        bool well_formed = true;
        bool operator==(const Below&) const = default;
    };
    const std::vector<Node>& nodes() const { return nodes_; }
    const std::vector<Below>& below() const { return below_; }
    // Per token, what its own bytes are made of (as Below, read from its first byte): the ASCII
    // bytes, and flags: kInTrie (it has a text and is not an end token), kNonAscii, kWellFormed.
    static constexpr uint8_t kInTrie = 1, kNonAscii = 2, kWellFormed = 4;
    const std::vector<std::array<uint64_t, 2>>& token_ascii() const { return token_ascii_; }
    const std::vector<uint8_t>& token_flags() const { return token_flags_; }
    // text(id) from one buffer of every text in token order (the scan reads them in order).
    std::string_view text_view(int32_t id) const {
        return std::string_view(texts_blob_).substr(text_at_[size_t(id)], text_at_[size_t(id) + 1] - text_at_[size_t(id)]);
    }
    const std::vector<int32_t>& ids() const { return ids_; }
    const std::vector<int32_t>& end_ids() const { return end_; }

private:
    void build(std::vector<std::string> texts, std::span<const int32_t> end_ids);
    void summarize();
    int32_t n_vocab_ = 0;
    std::vector<std::string> texts_;
    std::vector<Node> nodes_;
    std::vector<Below> below_;  // distinct summaries (most subtrees share a few)
    std::vector<std::array<uint64_t, 2>> token_ascii_;
    std::vector<uint8_t> token_flags_;
    std::string texts_blob_;
    std::vector<uint32_t> text_at_;  // text of id: texts_blob_[text_at_[id], text_at_[id + 1])
    std::vector<int32_t> ids_;
    std::vector<int32_t> end_;  // sorted
};

class Matcher {
public:
    Matcher(std::shared_ptr<const Grammar> g, std::shared_ptr<const VocabTrie> vocab);

    // Sets the logit of every token the grammar does not allow next to -inf. Throws
    // invalid_argument if no token is allowed (a grammar that needs text no token spells).
    void mask(std::span<float> logits);
    bool allows(int32_t token);
    // allows(token) without computing the whole mask: walks the token's bytes only, so a
    // sampler that draws first and masks only when the draw is refused (as llama.cpp's
    // common sampler does) pays microseconds per token while the model follows the grammar.
    bool allows_one(int32_t token);
    // Advances past `token`; invalid_argument if the grammar does not allow it.
    void accept(int32_t token);
    // The grammar accepts what was generated so far (an end token would be allowed).
    bool complete() const;
    // Whether the text `s` (whole code points) is accepted from the start: tests, tools.
    static bool accepts(const Grammar& g, std::string_view s);

    // Counters for tests and vkrt-bench.
    size_t cached_masks() const { return masks_.size(); }
    // Trie nodes the mask walks visited, and subtrees taken whole (see walk), since creation.
    size_t walked_nodes() const { return walked_; }
    size_t whole_subtrees() const { return whole_; }
    size_t scans() const { return scans_; }  // masks made by a scan of the vocabulary
    // Off: the mask walks every allowed node of the trie, with neither whole subtrees nor
    // scans (the reference the shortcuts are tested against).
    void set_subtree_shortcut(bool on) { shortcut_ = on; }

private:
    struct State {
        int32_t set;       // interned stack set (-1: dead)
        uint32_t partial;  // code point bits gathered so far
        uint32_t need;     // continuation bytes still missing (0: on a character boundary)
        uint32_t len;      // length of the character being gathered (2..4; overlong forms refused)
    };
    int32_t intern_stack(uint32_t pos, int32_t parent);
    void expand(int32_t stack, std::vector<int32_t>& out);
    const std::vector<int32_t>& after(int32_t stack);  // stacks after matching `stack`'s top
    int32_t intern_set(std::vector<int32_t> stacks);
    int32_t step_cp(int32_t set, uint32_t cp);
    State step_byte(State s, uint8_t b);
    bool set_accepting(int32_t set) const;
    bool set_live(int32_t set) const;  // has a stack that can still match a character
    bool partial_viable(const State& s);  // some stack accepts a character starting so
    const std::vector<uint64_t>& mask_bits(State s);
    void walk(uint32_t node, State s, std::vector<uint64_t>& bits);
    bool loops_over(int32_t set, const VocabTrie::Below& below, bool mid_char);
    bool scan(State s, std::vector<uint64_t>& bits);

    std::shared_ptr<const Grammar> g_;
    std::shared_ptr<const VocabTrie> vocab_;
    // Stack nodes: (position of the next element, parent stack); id 0 is the empty stack.
    std::vector<std::pair<uint32_t, int32_t>> stacks_;
    std::unordered_map<uint64_t, int32_t> stack_ids_;
    std::vector<std::vector<int32_t>> after_;
    std::vector<uint8_t> after_done_;
    // Stack sets: sorted ids of stacks whose top is a character set, plus 0 when accepting.
    std::vector<std::vector<int32_t>> sets_;
    std::map<std::vector<int32_t>, int32_t> set_ids_;
    // Transitions of each set: ASCII directly; above, per interval of code points over which
    // no character set of the set's stacks changes its answer (a CJK vocabulary has tens of
    // thousands of distinct characters, but a set has a handful of ranges). -2: not computed.
    std::vector<std::array<int32_t, 128>> ascii_next_;
    struct Intervals {
        std::vector<uint32_t> starts;  // sorted; interval i is [starts[i], starts[i+1])
        std::vector<int32_t> next;
    };
    std::vector<Intervals> other_next_;  // built at a set's first non-ASCII character
    std::unordered_map<uint64_t, bool> viable_;  // partial_viable by (set, partial, need, len)
    std::map<std::tuple<int32_t, uint32_t, uint32_t, uint32_t>, std::vector<uint64_t>> masks_;
    // Per set, learnt as the walk asks: the ASCII bytes known to lead back to the same set
    // (loop) or elsewhere (exit), and whether every code point >= 0x80 leads back to it
    // (-1 unknown, 0 no, 1 yes).
    struct Loops {
        std::array<uint64_t, 2> loop{}, exit{};
        int8_t non_ascii = -1;
    };
    std::vector<Loops> loops_;
    bool shortcut_ = true;
    size_t walked_ = 0, whole_ = 0, scans_ = 0;
    State state_;
};

}  // namespace vkrt::grammar
