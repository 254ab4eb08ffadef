// GBNF parsing and checking, the vocabulary trie and the mask computation (see grammar.hpp).
// The syntax follows llama.cpp's llama-grammar.cpp (parse_sequence, parse_char,
// handle_repetitions): rule names [A-Za-z0-9-]+, "literals", [character classes] with ^ and
// ranges, . (any character), ( groups ), | alternatives, * + ? {m} {m,} {m,n}, # comments,
// escapes \n \r \t \\ \" \[ \] \- \xHH \uHHHH \UHHHHHHHH. Newlines end a rule except inside
// parentheses or after |.
#include "text/grammar.hpp"

#include <algorithm>
#include <bit>
#include <limits>

#include "core/error.hpp"
#include "text/tokenizer.hpp"
#include "text/unicode.hpp"

namespace vkrt::grammar {

namespace {

// ---- parser ---------------------------------------------------------------------------

constexpr int kMaxRepetition = 4096;  // {m,n} bounds (each copy is a rule)
constexpr size_t kMaxRules = 1u << 20;
constexpr int kMaxNesting = 256;

struct Parser {
    std::string_view src;
    size_t pos = 0;
    // Rules under construction: rule -> alternatives -> elements (no end markers yet).
    std::vector<std::vector<std::vector<Elem>>> rules;
    std::vector<std::string> names;
    std::vector<bool> defined;
    std::vector<size_t> first_use;  // source offset of the first reference (undefined-rule errors)
    std::unordered_map<std::string, uint32_t> ids;
    std::vector<CharSet> sets;
    int depth = 0;

    [[noreturn]] void error_at(size_t at, const std::string& what) const {
        const text::TextPosition p = text::text_position(src, at);
        fail(Status::invalid_argument, "grammar: line ", p.line, ", column ", p.column, ": ", what);
    }
    [[noreturn]] void error(const std::string& what) const { error_at(pos, what); }

    bool eof() const { return pos >= src.size(); }
    char peek(size_t o = 0) const { return pos + o < src.size() ? src[pos + o] : '\0'; }
    static bool word_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    }

    // Spaces and # comments; newlines only when newline_ok.
    void space(bool newline_ok) {
        while (!eof()) {
            char c = peek();
            if (c == ' ' || c == '\t') {
                ++pos;
            } else if (c == '#') {
                while (!eof() && peek() != '\n' && peek() != '\r') ++pos;
            } else if (newline_ok && (c == '\n' || c == '\r')) {
                ++pos;
            } else {
                break;
            }
        }
    }

    uint32_t symbol(const std::string& name, size_t at) {
        auto it = ids.find(name);
        if (it != ids.end()) return it->second;
        VKRT_CHECK(rules.size() < kMaxRules, Status::limit_exceeded, "grammar: more than ", kMaxRules, " rules");
        const uint32_t id = uint32_t(rules.size());
        ids.emplace(name, id);
        rules.emplace_back();
        names.push_back(name);
        defined.push_back(false);
        first_use.push_back(at);
        return id;
    }
    uint32_t generated(const std::string& parent) {
        std::string n = parent + "_" + std::to_string(rules.size());
        const uint32_t id = symbol(n, pos);
        defined[id] = true;
        return id;
    }

    std::string name() {
        const size_t b = pos;
        while (!eof() && word_char(peek())) ++pos;
        if (pos == b) error("expected a rule name");
        return std::string(src.substr(b, pos - b));
    }

    uint32_t hex(int n) {
        uint32_t v = 0;
        for (int i = 0; i < n; ++i) {
            char c = peek();
            int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                                                     : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
            if (d < 0) error("expected " + std::to_string(n) + " hex digits");
            v = v * 16 + uint32_t(d);
            ++pos;
        }
        if (v > 0x10FFFF) error("code point above U+10FFFF");
        return v;
    }

    // One character of a literal or class (escapes decoded), as a code point.
    uint32_t character() {
        if (eof()) error("unexpected end of the grammar");
        if (peek() == '\\') {
            ++pos;
            const char c = peek();
            ++pos;
            switch (c) {
                case 'x': return hex(2);
                case 'u': return hex(4);
                case 'U': return hex(8);
                case 't': return '\t';
                case 'r': return '\r';
                case 'n': return '\n';
                case '\\': case '"': case '[': case ']': case '-': case '^': case '.': case '/': return uint32_t(c);
                default: error_at(pos - 2, std::string("unknown escape \\") + c);
            }
        }
        const text::Utf8Char u = text::decode_utf8(src, pos);
        if (!u.valid) error("invalid UTF-8");
        pos += u.len;
        return u.cp;
    }

    uint32_t add_set(CharSet s) {
        sets.push_back(std::move(s));
        return uint32_t(sets.size() - 1);
    }

    // x{min,max} (max < 0: unbounded) applied to the elements seq[from..], as llama.cpp's
    // handle_repetitions: min copies, then a chain of optional rules.
    void repeat(std::vector<Elem>& seq, size_t from, int min, int max, const std::string& rule_name) {
        const std::vector<Elem> item(seq.begin() + long(from), seq.end());
        seq.resize(from);
        for (int i = 0; i < min; ++i) seq.insert(seq.end(), item.begin(), item.end());
        const int n_opt = max < 0 ? 1 : max - min;
        uint32_t last = 0;
        for (int i = 0; i < n_opt; ++i) {
            const uint32_t id = generated(rule_name);
            std::vector<Elem> alt = item;
            if (i > 0 || max < 0) alt.push_back({ElemKind::rule, max < 0 ? id : last});
            rules[id] = {alt, {}};  // item [tail] | (nothing)
            last = id;
        }
        if (n_opt > 0) seq.push_back({ElemKind::rule, last});
    }

    int number() {
        const size_t b = pos;
        int64_t v = 0;
        while (!eof() && peek() >= '0' && peek() <= '9') {
            v = v * 10 + (peek() - '0');
            if (v > kMaxRepetition) error("repetition count above " + std::to_string(kMaxRepetition));
            ++pos;
        }
        if (pos == b) error("expected a number");
        return int(v);
    }

    std::vector<Elem> sequence(const std::string& rule_name, bool nested) {
        std::vector<Elem> seq;
        size_t last_start = std::string::npos;  // where the last item began (for repetitions)
        while (!eof()) {
            const char c = peek();
            if (c == '"') {
                ++pos;
                last_start = seq.size();
                while (peek() != '"') {
                    if (eof() || peek() == '\n') error("unterminated string literal");
                    const uint32_t cp = character();
                    seq.push_back({ElemKind::chars, add_set({{{cp, cp}}, false})});
                }
                ++pos;
            } else if (c == '[') {
                ++pos;
                CharSet set;
                if (peek() == '^') {
                    set.negated = true;
                    ++pos;
                }
                while (peek() != ']') {
                    if (eof() || peek() == '\n') error("unterminated character class");
                    const uint32_t lo = character();
                    uint32_t hi = lo;
                    if (peek() == '-' && peek(1) != ']' && pos + 1 < src.size()) {
                        ++pos;
                        hi = character();
                        if (hi < lo) error("character range with its end before its start");
                    }
                    set.ranges.emplace_back(lo, hi);
                }
                ++pos;
                last_start = seq.size();
                seq.push_back({ElemKind::chars, add_set(std::move(set))});
            } else if (word_char(c)) {
                const size_t at = pos;
                const std::string n = name();
                last_start = seq.size();
                seq.push_back({ElemKind::rule, symbol(n, at)});
            } else if (c == '(') {
                ++pos;
                if (++depth > kMaxNesting) error("groups nested deeper than " + std::to_string(kMaxNesting));
                space(true);
                const uint32_t id = generated(rule_name);
                alternates(id, rule_name, true);
                if (peek() != ')') error("expected ')'");
                ++pos;
                --depth;
                last_start = seq.size();
                seq.push_back({ElemKind::rule, id});
            } else if (c == '.') {
                ++pos;
                last_start = seq.size();
                seq.push_back({ElemKind::chars, add_set({{}, true})});
            } else if (c == '*' || c == '+' || c == '?' || c == '{') {
                if (last_start == std::string::npos) error(std::string("'") + c + "' has no item before it to repeat");
                ++pos;
                int min = 0, max = -1;
                if (c == '+') min = 1;
                if (c == '?') max = 1;
                if (c == '{') {
                    space(nested);
                    min = number();
                    space(nested);
                    max = min;
                    if (peek() == ',') {
                        ++pos;
                        space(nested);
                        max = (peek() >= '0' && peek() <= '9') ? number() : -1;
                        space(nested);
                    }
                    if (peek() != '}') error("expected '}'");
                    ++pos;
                    if (max >= 0 && max < min) error("repetition {m,n} with n < m");
                }
                repeat(seq, last_start, min, max, rule_name);
                last_start = std::string::npos;  // x** is not meaningful
            } else {
                break;
            }
            space(nested);
        }
        return seq;
    }

    void alternates(uint32_t id, const std::string& rule_name, bool nested) {
        std::vector<std::vector<Elem>> alts;
        alts.push_back(sequence(rule_name, nested));
        while (peek() == '|') {
            ++pos;
            space(true);
            alts.push_back(sequence(rule_name, nested));
        }
        rules[id] = std::move(alts);
    }

    void rule() {
        const size_t at = pos;
        const std::string n = name();
        space(false);
        if (!(peek() == ':' && peek(1) == ':' && peek(2) == '=')) error("expected '::=' after the rule name");
        pos += 3;
        space(true);
        const uint32_t id = symbol(n, at);
        if (defined[id]) error_at(at, "rule '" + n + "' is defined twice");
        defined[id] = true;
        alternates(id, n, false);
        if (!eof() && peek() != '\n' && peek() != '\r') error(std::string("unexpected '") + peek() + "'");
    }

    void all() {
        space(true);
        if (eof()) error("the grammar is empty");
        while (!eof()) {
            rule();
            space(true);
        }
    }
};

// ---- checks ---------------------------------------------------------------------------

// Rules that can derive the empty string (fixpoint).
std::vector<bool> nullable_rules(const Parser& p) {
    std::vector<bool> nul(p.rules.size(), false);
    for (bool changed = true; changed;) {
        changed = false;
        for (size_t r = 0; r < p.rules.size(); ++r) {
            if (nul[r]) continue;
            for (const auto& alt : p.rules[r]) {
                bool all = true;
                for (const Elem& e : alt) all = all && e.kind == ElemKind::rule && nul[e.arg];
                if (all) {
                    nul[r] = changed = true;
                    break;
                }
            }
        }
    }
    return nul;
}

// Rules that derive at least one finite string (fixpoint).
std::vector<bool> productive_rules(const Parser& p) {
    std::vector<bool> prod(p.rules.size(), false);
    for (bool changed = true; changed;) {
        changed = false;
        for (size_t r = 0; r < p.rules.size(); ++r) {
            if (prod[r]) continue;
            for (const auto& alt : p.rules[r]) {
                bool all = true;
                for (const Elem& e : alt)
                    all = all && (e.kind == ElemKind::rule ? bool(prod[e.arg]) : !p.sets[e.arg].empty());
                if (all) {
                    prod[r] = changed = true;
                    break;
                }
            }
        }
    }
    return prod;
}

// Left recursion: a rule that reaches itself through references each preceded only by
// nullable elements. The matcher expands such a rule without consuming input, forever.
void refuse_left_recursion(const Parser& p) {
    const std::vector<bool> nul = nullable_rules(p);
    const size_t n = p.rules.size();
    std::vector<std::vector<uint32_t>> first(n);  // r -> rules at a leftmost position
    for (size_t r = 0; r < n; ++r) {
        for (const auto& alt : p.rules[r]) {
            for (const Elem& e : alt) {
                if (e.kind != ElemKind::rule) break;
                first[r].push_back(e.arg);
                if (!nul[e.arg]) break;
            }
        }
    }
    // Iterative DFS with colours: 0 new, 1 on the path, 2 done.
    std::vector<uint8_t> colour(n, 0);
    for (size_t start = 0; start < n; ++start) {
        if (colour[start]) continue;
        std::vector<std::pair<uint32_t, size_t>> path{{uint32_t(start), 0}};
        colour[start] = 1;
        while (!path.empty()) {
            auto& [r, i] = path.back();
            if (i == first[r].size()) {
                colour[r] = 2;
                path.pop_back();
                continue;
            }
            const uint32_t next = first[r][i++];
            if (colour[next] == 1) {
                std::string cycle;
                bool on = false;
                for (const auto& [q, _] : path) {
                    on = on || q == next;
                    if (on) cycle += p.names[q] + " -> ";
                }
                fail(Status::invalid_argument, "grammar: rule '", p.names[next],
                     "' is left-recursive (", cycle, p.names[next],
                     " without consuming a character); rewrite it with repetition, e.g. x ::= item (sep item)*");
            }
            if (colour[next] == 0) {
                colour[next] = 1;
                path.emplace_back(next, 0);
            }
        }
    }
}

}  // namespace

Grammar Grammar::parse(std::string_view text, std::string_view root) {
    Parser p;
    p.src = text;
    p.all();
    for (size_t r = 0; r < p.rules.size(); ++r) {
        if (!p.defined[r]) p.error_at(p.first_use[r], "rule '" + p.names[r] + "' is not defined");
    }
    auto it = p.ids.find(std::string(root));
    VKRT_CHECK(it != p.ids.end(), Status::invalid_argument, "grammar: no rule named '", root,
               "' (the start rule)");
    refuse_left_recursion(p);
    const std::vector<bool> prod = productive_rules(p);
    VKRT_CHECK(prod[it->second], Status::invalid_argument, "grammar: the language is empty: rule '", root,
               "' derives no string (every alternative needs a rule that never completes or an empty class [])");

    Grammar g;
    g.root = it->second;
    g.names = std::move(p.names);
    g.sets = std::move(p.sets);
    g.alts.resize(p.rules.size());
    for (size_t r = 0; r < p.rules.size(); ++r) {
        for (const auto& alt : p.rules[r]) {
            g.alts[r].push_back(uint32_t(g.elems.size()));
            g.elems.insert(g.elems.end(), alt.begin(), alt.end());
            g.elems.push_back({ElemKind::end, 0});
        }
    }
    return g;
}

// ---- vocabulary trie ------------------------------------------------------------------

VocabTrie::VocabTrie(const Tokenizer& tok, std::span<const int32_t> end_ids) {
    std::vector<std::string> texts(size_t(tok.n_vocab()));
    for (int32_t id = 0; id < tok.n_vocab(); ++id) texts[size_t(id)] = tok.token_to_piece(id, false);
    std::vector<int32_t> ends(tok.eog_ids().begin(), tok.eog_ids().end());
    ends.insert(ends.end(), end_ids.begin(), end_ids.end());
    build(std::move(texts), ends);
}

VocabTrie::VocabTrie(const std::vector<std::string>& texts, std::span<const int32_t> end_ids) {
    build(texts, end_ids);
}

bool VocabTrie::is_end(int32_t id) const { return std::binary_search(end_.begin(), end_.end(), id); }

void VocabTrie::build(std::vector<std::string> texts, std::span<const int32_t> end_ids) {
    n_vocab_ = int32_t(texts.size());
    texts_ = std::move(texts);
    end_.assign(end_ids.begin(), end_ids.end());
    std::sort(end_.begin(), end_.end());
    end_.erase(std::unique(end_.begin(), end_.end()), end_.end());
    std::vector<int32_t> order;
    for (int32_t id = 0; id < n_vocab_; ++id) {
        if (!texts_[size_t(id)].empty() && !is_end(id)) order.push_back(id);
    }
    std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
        return texts_[size_t(a)] < texts_[size_t(b)] || (texts_[size_t(a)] == texts_[size_t(b)] && a < b);
    });
    ids_ = order;  // sorted by text: the tokens of a node are a contiguous run
    // Breadth first: a node's children are created together, so they are contiguous.
    struct Pending {
        uint32_t node;
        size_t lo, hi, depth;  // tokens ids_[lo, hi) share the node's prefix of `depth` bytes
    };
    nodes_.assign(1, Node{});
    std::vector<Pending> queue{{0, 0, ids_.size(), 0}};
    for (size_t q = 0; q < queue.size(); ++q) {
        const Pending cur = queue[q];
        size_t i = cur.lo;
        while (i < cur.hi && texts_[size_t(ids_[i])].size() == cur.depth) ++i;
        nodes_[cur.node].tok_begin = uint32_t(cur.lo);
        nodes_[cur.node].tok_end = uint32_t(i);
        nodes_[cur.node].sub_end = uint32_t(cur.hi);
        nodes_[cur.node].child_begin = uint32_t(nodes_.size());
        while (i < cur.hi) {
            const uint8_t b = uint8_t(texts_[size_t(ids_[i])][cur.depth]);
            size_t j = i;
            while (j < cur.hi && uint8_t(texts_[size_t(ids_[j])][cur.depth]) == b) ++j;
            Node child;
            child.byte = b;
            nodes_.push_back(child);
            queue.push_back({uint32_t(nodes_.size() - 1), i, j, cur.depth + 1});
            i = j;
        }
        nodes_[cur.node].child_end = uint32_t(nodes_.size());
    }
    summarize();
}

namespace {

// Well-formed UTF-8 (Unicode's table 3-7: no overlong forms, surrogates or code points above
// U+10FFFF) whose last character may be cut short, as long as what is there can still complete.
// Exactly the byte strings the matcher's step_byte keeps alive when every code point >= 0x80
// is allowed.
bool well_formed_utf8_prefix(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
        const uint8_t b = uint8_t(s[i]);
        if (b < 0x80) {
            ++i;
            continue;
        }
        size_t len;
        uint8_t lo = 0x80, hi = 0xBF;  // range of the second byte
        if (b >= 0xC2 && b <= 0xDF) len = 2;
        else if (b == 0xE0) len = 3, lo = 0xA0;
        else if (b == 0xED) len = 3, hi = 0x9F;
        else if (b >= 0xE1 && b <= 0xEF) len = 3;
        else if (b == 0xF0) len = 4, lo = 0x90;
        else if (b == 0xF4) len = 4, hi = 0x8F;
        else if (b >= 0xF1 && b <= 0xF3) len = 4;
        else return false;
        for (size_t k = 1; k < len; ++k) {
            if (i + k == s.size()) return true;  // cut short at the end of the token
            const uint8_t c = uint8_t(s[i + k]);
            if (k == 1 ? (c < lo || c > hi) : (c & 0xC0) != 0x80) return false;
        }
        i += len;
    }
    return true;
}

struct BelowHash {
    size_t operator()(const VocabTrie::Below& b) const {
        return std::hash<uint64_t>()(b.ascii[0] * 0x9E3779B97F4A7C15ull ^ b.ascii[1]) ^
               (size_t(b.non_ascii) << 1) ^ size_t(b.well_formed);
    }
};

}  // namespace

// Each node's Below, children first (breadth-first order: children come after their parent),
// then the distinct ones kept once.
void VocabTrie::summarize() {
    std::vector<Below> all(nodes_.size());
    for (size_t n = nodes_.size(); n-- > 0;) {
        Below& b = all[n];
        const Node& node = nodes_[n];
        for (uint32_t i = node.tok_begin; i < node.tok_end; ++i)
            b.well_formed = b.well_formed && well_formed_utf8_prefix(texts_[size_t(ids_[i])]);
        for (uint32_t c = node.child_begin; c < node.child_end; ++c) {
            const Below& cb = all[c];
            const uint8_t byte = nodes_[c].byte;
            b.ascii[0] |= cb.ascii[0];
            b.ascii[1] |= cb.ascii[1];
            if (byte < 0x80) b.ascii[byte >> 6] |= uint64_t(1) << (byte & 63);
            b.non_ascii = b.non_ascii || cb.non_ascii || byte >= 0x80;
            b.well_formed = b.well_formed && cb.well_formed;
        }
    }
    std::unordered_map<Below, uint32_t, BelowHash> index;
    below_.clear();
    for (size_t n = 0; n < nodes_.size(); ++n) {
        auto [it, fresh] = index.emplace(all[n], uint32_t(below_.size()));
        if (fresh) below_.push_back(all[n]);
        nodes_[n].below = it->second;
    }
    // Each token's own bytes, from its first (the mask's scan of the vocabulary), in token
    // order: the scan reads them in one pass.
    token_ascii_.assign(size_t(n_vocab_), {});
    token_flags_.assign(size_t(n_vocab_), 0);
    text_at_.assign(size_t(n_vocab_) + 1, 0);
    texts_blob_.clear();
    for (int32_t id = 0; id < n_vocab_; ++id) {
        texts_blob_ += texts_[size_t(id)];
        text_at_[size_t(id) + 1] = uint32_t(texts_blob_.size());
    }
    for (int32_t id : ids_) {
        std::array<uint64_t, 2>& a = token_ascii_[size_t(id)];
        uint8_t f = kInTrie;
        for (char c : texts_[size_t(id)]) {
            const uint8_t byte = uint8_t(c);
            if (byte < 0x80) a[byte >> 6] |= uint64_t(1) << (byte & 63);
            else f |= kNonAscii;
        }
        if (well_formed_utf8_prefix(texts_[size_t(id)])) f |= kWellFormed;
        token_flags_[size_t(id)] = f;
    }
}

// ---- matcher --------------------------------------------------------------------------

Matcher::Matcher(std::shared_ptr<const Grammar> g, std::shared_ptr<const VocabTrie> vocab)
    : g_(std::move(g)), vocab_(std::move(vocab)) {
    stacks_.push_back({0, -1});  // id 0: the empty stack (the grammar is complete)
    after_.emplace_back();
    after_done_.push_back(1);
    std::vector<int32_t> start;
    for (uint32_t a : g_->alts[g_->root]) expand(intern_stack(a, 0), start);
    state_ = {intern_set(std::move(start)), 0, 0, 0};
}

int32_t Matcher::intern_stack(uint32_t pos, int32_t parent) {
    const uint64_t key = (uint64_t(pos) << 32) | uint32_t(parent);
    auto [it, fresh] = stack_ids_.emplace(key, int32_t(stacks_.size()));
    if (fresh) {
        stacks_.push_back({pos, parent});
        after_.emplace_back();
        after_done_.push_back(0);
    }
    return it->second;
}

// The stacks `stack` stands for once every rule reference and finished alternative at its
// top is resolved: each has a character set on top, or is the empty stack.
void Matcher::expand(int32_t stack, std::vector<int32_t>& out) {
    if (stack == 0) {
        out.push_back(0);
        return;
    }
    const auto [pos, parent] = stacks_[size_t(stack)];
    const Elem e = g_->elems[pos];
    switch (e.kind) {
        case ElemKind::end: expand(parent, out); return;
        case ElemKind::chars: out.push_back(stack); return;
        case ElemKind::rule: {
            // A reference at the end of its alternative needs no continuation of its own
            // (right recursion x* then keeps the stack flat).
            const int32_t cont = g_->elems[pos + 1].kind == ElemKind::end ? parent : intern_stack(pos + 1, parent);
            for (uint32_t a : g_->alts[e.arg]) expand(intern_stack(a, cont), out);
            return;
        }
    }
}

const std::vector<int32_t>& Matcher::after(int32_t stack) {
    if (!after_done_[size_t(stack)]) {
        std::vector<int32_t> out;
        const auto [pos, parent] = stacks_[size_t(stack)];
        expand(intern_stack(pos + 1, parent), out);
        std::sort(out.begin(), out.end());
        out.erase(std::unique(out.begin(), out.end()), out.end());
        after_[size_t(stack)] = std::move(out);  // expand may have grown after_: index again
        after_done_[size_t(stack)] = 1;
    }
    return after_[size_t(stack)];
}

int32_t Matcher::intern_set(std::vector<int32_t> stacks) {
    std::sort(stacks.begin(), stacks.end());
    stacks.erase(std::unique(stacks.begin(), stacks.end()), stacks.end());
    if (stacks.empty()) return -1;
    auto [it, fresh] = set_ids_.emplace(stacks, int32_t(sets_.size()));
    if (fresh) {
        sets_.push_back(std::move(stacks));
        std::array<int32_t, 128> unknown;
        unknown.fill(-2);
        ascii_next_.push_back(unknown);
    }
    return it->second;
}

int32_t Matcher::step_cp(int32_t set, uint32_t cp) {
    int32_t* memo;
    if (cp < 128) {
        memo = &ascii_next_[size_t(set)][cp];
    } else {
        if (other_next_.size() <= size_t(set)) other_next_.resize(size_t(set) + 1);
        Intervals& iv = other_next_[size_t(set)];
        if (iv.starts.empty()) {
            iv.starts = {128};
            for (int32_t st : sets_[size_t(set)]) {
                if (st == 0) continue;
                for (const auto& [lo, hi] : g_->sets[g_->elems[stacks_[size_t(st)].first].arg].ranges) {
                    if (lo > 128) iv.starts.push_back(lo);
                    if (hi >= 128 && hi < 0x10FFFF) iv.starts.push_back(hi + 1);
                }
            }
            std::sort(iv.starts.begin(), iv.starts.end());
            iv.starts.erase(std::unique(iv.starts.begin(), iv.starts.end()), iv.starts.end());
            iv.next.assign(iv.starts.size(), -2);
        }
        const size_t i = size_t(std::upper_bound(iv.starts.begin(), iv.starts.end(), cp) - iv.starts.begin()) - 1;
        memo = &iv.next[i];
    }
    if (*memo != -2) return *memo;
    std::vector<int32_t> next;
    for (int32_t st : sets_[size_t(set)]) {
        if (st == 0) continue;
        if (!g_->sets[g_->elems[stacks_[size_t(st)].first].arg].match(cp)) continue;
        const std::vector<int32_t>& a = after(st);
        next.insert(next.end(), a.begin(), a.end());
    }
    const int32_t r = intern_set(std::move(next));
    // (intern_set may have grown ascii_next_ / sets_, never other_next_'s intervals of `set`:
    // look the slot up again all the same.)
    if (cp < 128) {
        ascii_next_[size_t(set)][cp] = r;
    } else {
        Intervals& iv = other_next_[size_t(set)];
        iv.next[size_t(std::upper_bound(iv.starts.begin(), iv.starts.end(), cp) - iv.starts.begin()) - 1] = r;
    }
    return r;
}

// A partial character (its lead bits and the continuation bytes still missing) is kept only
// while some stack's character set holds a code point that starts with those bits and is
// valid UTF-8 of that length (no overlong forms, no surrogates: the text stays valid UTF-8),
// so a token that ends inside a character is allowed exactly when the character can complete.
bool Matcher::partial_viable(const State& s) {
    const uint64_t key = (uint64_t(uint32_t(s.set)) << 26) | (uint64_t(s.partial) << 5) | (s.need << 3) | s.len;
    if (auto it = viable_.find(key); it != viable_.end()) return it->second;
    static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    uint32_t lo = s.partial << (6 * s.need), hi = lo | ((1u << (6 * s.need)) - 1);
    lo = std::max(lo, kMin[s.len]);
    hi = std::min(hi, uint32_t(0x10FFFF));
    bool ok = false;
    if (lo <= hi && !(lo >= 0xD800 && hi <= 0xDFFF)) {
        for (int32_t st : sets_[size_t(s.set)]) {
            ok = ok || (st != 0 && g_->sets[g_->elems[stacks_[size_t(st)].first].arg].intersects(lo, hi));
        }
    }
    viable_.emplace(key, ok);
    return ok;
}

// One byte of token text: ASCII and completed characters advance the stacks; the bytes of a
// multi-byte character are gathered first. Invalid UTF-8 kills the state.
Matcher::State Matcher::step_byte(State s, uint8_t b) {
    constexpr State dead{-1, 0, 0, 0};
    if (s.need > 0) {
        if ((b & 0xC0) != 0x80) return dead;
        s.partial = (s.partial << 6) | (b & 0x3F);
        if (--s.need > 0) return partial_viable(s) ? s : dead;
        if (!partial_viable(s)) return dead;  // overlong, a surrogate, or no set holds it
        return {step_cp(s.set, s.partial), 0, 0, 0};
    }
    if (b < 0x80) return {step_cp(s.set, b), 0, 0, 0};
    if ((b & 0xE0) == 0xC0) s = {s.set, uint32_t(b & 0x1F), 1, 2};
    else if ((b & 0xF0) == 0xE0) s = {s.set, uint32_t(b & 0x0F), 2, 3};
    else if ((b & 0xF8) == 0xF0) s = {s.set, uint32_t(b & 0x07), 3, 4};
    else return dead;
    return partial_viable(s) ? s : dead;
}

bool Matcher::set_accepting(int32_t set) const {
    return set >= 0 && !sets_[size_t(set)].empty() && sets_[size_t(set)].front() == 0;
}
bool Matcher::set_live(int32_t set) const {
    return set >= 0 && !sets_[size_t(set)].empty() && sets_[size_t(set)].back() != 0;
}

// Whether `set` leads back to itself on every byte below a node: each ASCII byte there, and,
// if there are others or the node is inside a character (mid_char), every code point >= 0x80
// with the subtree's texts well-formed (so the bytes below complete the character under way
// and spell whole ones after it). Transitions are asked only for the bytes the subtree has,
// and what is learnt is kept per set.
bool Matcher::loops_over(int32_t set, const VocabTrie::Below& below, bool mid_char) {
    if (loops_.size() <= size_t(set)) loops_.resize(sets_.size());
    for (int w = 0; w < 2; ++w) {
        if (below.ascii[size_t(w)] & loops_[size_t(set)].exit[size_t(w)]) return false;
        uint64_t unknown = below.ascii[size_t(w)] & ~loops_[size_t(set)].loop[size_t(w)];
        while (unknown) {
            const int bit = std::countr_zero(unknown);
            unknown &= unknown - 1;
            const bool loop = step_cp(set, uint32_t(64 * w + bit)) == set;
            if (loops_.size() < sets_.size()) loops_.resize(sets_.size());  // step_cp may add sets
            (loop ? loops_[size_t(set)].loop : loops_[size_t(set)].exit)[size_t(w)] |= uint64_t(1) << bit;
            if (!loop) return false;
        }
    }
    if (!below.non_ascii && !mid_char) return true;
    if (!below.well_formed) return false;
    if (loops_[size_t(set)].non_ascii < 0) {
        // Intervals of code points over which no character set of the set changes its answer
        // (built by step_cp): one representative each.
        step_cp(set, 128);
        const std::vector<uint32_t> starts = other_next_[size_t(set)].starts;
        bool all = true;
        for (size_t i = 0; all && i < starts.size(); ++i) all = step_cp(set, starts[i]) == set;
        if (loops_.size() < sets_.size()) loops_.resize(sets_.size());
        loops_[size_t(set)].non_ascii = all ? 1 : 0;
    }
    return loops_[size_t(set)].non_ascii == 1;
}

void Matcher::walk(uint32_t node, State s, std::vector<uint64_t>& bits) {
    const auto& nodes = vocab_->nodes();
    const VocabTrie::Node& n = nodes[node];
    ++walked_;
    // The shortcut: a state that every byte below the node leads back to allows every token of
    // the subtree (each one's bytes keep the state alive; a last character cut short can
    // complete, since every code point >= 0x80 is allowed). Inside a character (need > 0) the
    // tokens' texts must be well-formed from their first byte: then the walk, which reads them
    // from their first byte too (a mask that starts inside a character only reaches tokens
    // that start with a continuation byte, never well-formed), is inside the same character as
    // the text, and the bytes below complete it. The subtree's tokens are one run of ids.
    // Worth asking only for a subtree of several tokens.
    if (shortcut_ && n.sub_end - n.tok_begin >= 4 && loops_over(s.set, vocab_->below()[n.below], s.need > 0)) {
        ++whole_;
        for (uint32_t i = n.tok_begin; i < n.sub_end; ++i) {
            const int32_t id = vocab_->ids()[i];
            bits[size_t(id) >> 6] |= uint64_t(1) << (id & 63);
        }
        return;
    }
    // (A token may end inside a character: step_byte kept the state only if it can complete.)
    if (n.tok_begin != n.tok_end) {
        for (uint32_t i = n.tok_begin; i < n.tok_end; ++i) {
            const int32_t id = vocab_->ids()[i];
            bits[size_t(id) >> 6] |= uint64_t(1) << (id & 63);
        }
    }
    for (uint32_t c = n.child_begin; c < n.child_end; ++c) {
        const State t = step_byte(s, nodes[c].byte);
        if (t.set >= 0) walk(c, t, bits);
    }
}

const std::vector<uint64_t>& Matcher::mask_bits(State s) {
    const auto key = std::make_tuple(s.set, s.partial, s.need, s.len);
    auto it = masks_.find(key);
    if (it != masks_.end()) return it->second;
    if (masks_.size() >= 256) masks_.clear();  // bounded memory; states recur, so rarely hit
    std::vector<uint64_t> bits((size_t(vocab_->n_vocab()) + 63) / 64, 0);
    if (s.set >= 0) {
        if (s.need == 0 && set_accepting(s.set)) {
            for (int32_t id : vocab_->end_ids()) {
                if (id >= 0 && id < vocab_->n_vocab()) bits[size_t(id) >> 6] |= uint64_t(1) << (id & 63);
            }
        }
        if (set_live(s.set) && !(shortcut_ && scan(s, bits))) walk(0, s, bits);
    }
    return masks_.emplace(key, std::move(bits)).first->second;
}

// A state that loops over most ASCII bytes (inside a string, free text) allows most of the
// vocabulary, and the tokens it does not loop over (a quote, a newline inside) are spread
// over the whole trie: there a scan of the tokens beats the walk. A token whose every byte
// the state loops over is allowed (its summary against the state's loops, as a trie
// subtree's); any other is walked byte by byte from the state, as allows_one does. Only on
// a character boundary; false (walk the trie) for a state that loops over few bytes.
bool Matcher::scan(State s, std::vector<uint64_t>& bits) {
    if (s.need != 0) return false;
    if (loops_.size() <= size_t(s.set)) loops_.resize(sets_.size());
    // Learn the state's every ASCII transition (the root of the walk would ask them all).
    for (uint32_t b = 0; b < 128; ++b) {
        const Loops& l = loops_[size_t(s.set)];
        if ((l.loop[b >> 6] | l.exit[b >> 6]) >> (b & 63) & 1) continue;
        const bool loop = step_cp(s.set, b) == s.set;
        if (loops_.size() < sets_.size()) loops_.resize(sets_.size());
        (loop ? loops_[size_t(s.set)].loop : loops_[size_t(s.set)].exit)[b >> 6] |= uint64_t(1) << (b & 63);
    }
    const std::array<uint64_t, 2> loop = loops_[size_t(s.set)].loop;
    if (std::popcount(loop[0]) + std::popcount(loop[1]) < 48) return false;
    VocabTrie::Below any_non_ascii;
    any_non_ascii.non_ascii = true;
    const bool non_ascii = loops_over(s.set, any_non_ascii, false);  // every code point >= 0x80 loops
    const std::vector<std::array<uint64_t, 2>>& ascii = vocab_->token_ascii();
    const std::vector<uint8_t>& flags = vocab_->token_flags();
    for (int32_t id = 0; id < vocab_->n_vocab(); ++id) {
        const uint8_t f = flags[size_t(id)];
        if (!(f & VocabTrie::kInTrie)) continue;  // no text, or an end token
        const std::array<uint64_t, 2>& a = ascii[size_t(id)];
        bool ok = !(a[0] & ~loop[0]) && !(a[1] & ~loop[1]) &&
                  (!(f & VocabTrie::kNonAscii) || (non_ascii && (f & VocabTrie::kWellFormed)));
        if (!ok) {
            // The bytes before the first one the state does not loop over keep it: walk from there.
            const std::string_view text = vocab_->text_view(id);
            size_t i = 0;
            while (i < text.size() && uint8_t(text[i]) < 0x80 && (loop[uint8_t(text[i]) >> 6] >> (text[i] & 63) & 1)) ++i;
            State t = s;
            for (; i < text.size() && t.set >= 0; ++i) t = step_byte(t, uint8_t(text[i]));
            ok = t.set >= 0;
        }
        if (ok) bits[size_t(id) >> 6] |= uint64_t(1) << (id & 63);
    }
    ++scans_;
    return true;
}

void Matcher::mask(std::span<float> logits) {
    VKRT_CHECK(logits.size() == size_t(vocab_->n_vocab()), Status::invalid_argument, "grammar: ", logits.size(),
               " logits for a vocabulary of ", vocab_->n_vocab());
    const std::vector<uint64_t>& bits = mask_bits(state_);
    bool any = false;
    for (size_t w = 0; w < bits.size(); ++w) {
        const uint64_t word = bits[w];
        any = any || word != 0;
        if (word == ~uint64_t(0)) continue;
        const size_t end = std::min(logits.size(), (w + 1) * 64);
        for (size_t i = w * 64; i < end; ++i) {
            if (!((word >> (i & 63)) & 1)) logits[i] = -std::numeric_limits<float>::infinity();
        }
    }
    VKRT_CHECK(any, Status::invalid_argument,
               "grammar: no token of the vocabulary can continue the text here (the grammar needs characters "
               "no token spells, or it is complete and the vocabulary has no end-of-generation token)");
}

bool Matcher::allows(int32_t token) {
    if (token < 0 || token >= vocab_->n_vocab()) return false;
    const std::vector<uint64_t>& bits = mask_bits(state_);
    return (bits[size_t(token) >> 6] >> (token & 63)) & 1;
}

bool Matcher::allows_one(int32_t token) {
    if (token < 0 || token >= vocab_->n_vocab()) return false;
    if (vocab_->is_end(token)) return complete();
    const std::string& text = vocab_->text(token);
    if (text.empty()) return false;
    State s = state_;
    for (char c : text) {
        s = step_byte(s, uint8_t(c));
        if (s.set < 0) return false;
    }
    return true;
}

void Matcher::accept(int32_t token) {
    VKRT_CHECK(allows_one(token), Status::invalid_argument, "grammar: token ", token, " is not allowed here");
    if (vocab_->is_end(token)) {
        state_ = {intern_set({0}), 0, 0, 0};
        return;
    }
    State s = state_;
    for (char c : vocab_->text(token)) s = step_byte(s, uint8_t(c));
    state_ = s;
}

bool Matcher::complete() const { return state_.need == 0 && set_accepting(state_.set); }

bool Matcher::accepts(const Grammar& g, std::string_view s) {
    VocabTrie none(std::vector<std::string>{}, {});
    Matcher m(std::make_shared<const Grammar>(g), std::make_shared<const VocabTrie>(std::move(none)));
    State st = m.state_;
    for (char c : s) {
        st = m.step_byte(st, uint8_t(c));
        if (st.set < 0) return false;
    }
    return st.need == 0 && m.set_accepting(st.set);
}

}  // namespace vkrt::grammar
