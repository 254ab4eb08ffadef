// Constrained output: the GBNF parser and its errors, the matcher against an independent
// oracle, JSON parsing and JSON Schema -> GBNF, and 100 seeded sampled generations on
// stories260K through the C++ API (vkrt.hpp) that must all parse and validate.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "text/grammar.hpp"
#include "text/json_schema.hpp"
#include "vkrt/vkrt.hpp"

using namespace vkrt;
using grammar::Grammar;
using grammar::Matcher;

namespace {

// llama.cpp's grammars/json.gbnf (current and an older revision, with \U escapes and a
// right-recursive ws) and a simple enumeration.
const char* kJsonGbnf = R"(root   ::= object
value  ::= object | array | string | number | ("true" | "false" | "null") ws

object ::=
  "{" ws (
            string ":" ws value
    ("," ws string ":" ws value)*
  )? "}" ws

array  ::=
  "[" ws (
            value
    ("," ws value)*
  )? "]" ws

string ::=
  "\"" (
    [^"\\\x7F\x00-\x1F] |
    "\\" (["\\bfnrt] | "u" [0-9a-fA-F]{4}) # escapes
  )* "\"" ws

number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9] [1-9]{0,15})? ws

# Optional space: by convention, applied in this grammar after literal chars when allowed
ws ::= | " " | "\n" [ \t]{0,20}
)";

const char* kJsonGbnfOld = R"(# Grammar for subset of JSON - doesn't support full string or number syntax

root  ::= object
value ::= object | array | string | number | boolean

object ::=
  "{" ws (
            string ":" ws value
    ("," ws string ":" ws value)*
  )? "}"

array  ::=
  "[" ws (
            value
    ("," ws value)*
  )? "]"

string  ::=
  "\"" (
    [\x20\x21\x23-\x5b\x5d-\U0010FFFF] | # any code point except " (\x22) and \ (\x5c)
    "\\" (["\\/bfnrt] | "u" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F]) # escapes
  )* "\""

# Only plain integers currently
number  ::= "-"? [0-9]+ ws
boolean ::= ("true" | "false") ws

# Optional space: by convention, applied in this grammar after literal chars when allowed
ws ::= ([ \t\n] ws)?
)";

std::string parse_error(const std::string& g) {
    try {
        (void)Grammar::parse(g);
    } catch (const Error& e) {
        CHECK(e.status() == Status::invalid_argument);
        return e.what();
    }
    return "";
}

bool accepts(const std::string& g, const std::string& s) { return Matcher::accepts(Grammar::parse(g), s); }

// ---- an independent JSON Schema validator (for the subset the compiler handles) -------------

size_t code_points(const std::string& s) {
    size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
}

bool valid(const json::Value& v, const json::Value& schema);

bool valid_type(const json::Value& v, const std::string& t, const json::Value& s) {
    using T = json::Value::Type;
    if (t == "null") return v.type == T::null;
    if (t == "boolean") return v.type == T::boolean;
    if (t == "number") return v.type == T::number;
    if (t == "integer") return v.is_integer();
    if (t == "string") {
        if (v.type != T::string) return false;
        const json::Value* mx = s.get("maxLength");
        const json::Value* mn = s.get("minLength");
        return (!mx || code_points(v.text) <= size_t(mx->number)) && (!mn || code_points(v.text) >= size_t(mn->number));
    }
    if (t == "array") {
        if (v.type != T::array) return false;
        if (const json::Value* mx = s.get("maxItems"); mx && v.array.size() > size_t(mx->number)) return false;
        if (const json::Value* mn = s.get("minItems"); mn && v.array.size() < size_t(mn->number)) return false;
        const json::Value* items = s.get("items");
        for (const auto& e : v.array) {
            if (items && !valid(e, *items)) return false;
        }
        return true;
    }
    if (t == "object") {
        if (v.type != T::object) return false;
        const json::Value* props = s.get("properties");
        if (!props) return true;
        for (size_t i = 0; i < v.keys.size(); ++i) {
            const json::Value* ps = props->get(v.keys[i]);
            if (!ps || !valid(v.members[i], *ps)) return false;  // no other keys
        }
        if (const json::Value* req = s.get("required")) {
            for (const auto& r : req->array) {
                if (!v.get(r.text)) return false;
            }
        }
        const std::set<std::string> keys(v.keys.begin(), v.keys.end());
        if (keys.size() != v.keys.size()) return false;  // no duplicates
        return true;
    }
    return false;
}

bool valid(const json::Value& v, const json::Value& s) {
    if (const json::Value* e = s.get("enum")) {
        for (const auto& x : e->array) {
            if (json::dump(x) == json::dump(v)) return true;
        }
        return false;
    }
    const json::Value* t = s.get("type");
    if (!t) return true;
    if (t->type == json::Value::Type::string) return valid_type(v, t->text, s);
    for (const auto& x : t->array) {
        if (valid_type(v, x.text, s)) return true;
    }
    return false;
}

}  // namespace

TEST_CASE("grammar: llama.cpp's json.gbnf and enumerations parse and accept what they should") {
    for (const char* g : {kJsonGbnf, kJsonGbnfOld}) {
        CHECK(accepts(g, R"({"a": [1, 2, {"b": "c\"\u00e9"}], "d": -3})"));
        CHECK(accepts(g, "{}"));
        CHECK(accepts(g, "{\n  \"caf\xC3\xA9\": \"\xF0\x9F\x99\x82\"}"));
        CHECK_FALSE(accepts(g, R"({"a": })"));
        CHECK_FALSE(accepts(g, R"({"a": 1)"));
        CHECK_FALSE(accepts(g, R"([1, 2])"));  // root is an object
        CHECK_FALSE(accepts(g, "{\"a\": \"\x01\"}"));
    }
    CHECK(accepts(kJsonGbnf, R"({"n": 12.5e3, "t": true, "z": null})"));
    CHECK_FALSE(accepts(kJsonGbnf, R"({"n": 012})"));
    const std::string e = "root ::= (\"red\" | \"green\" | \"blue\") (\", \" (\"red\" | \"green\" | \"blue\"))*\n";
    CHECK(accepts(e, "red"));
    CHECK(accepts(e, "red, blue, green"));
    CHECK_FALSE(accepts(e, "red,blue"));
    CHECK_FALSE(accepts(e, "yellow"));
    CHECK_FALSE(accepts(e, ""));
    // repetitions {m}, {m,}, {m,n}, ?, escapes, any character, comments
    CHECK(accepts("root ::= [a-c]{2} \"-\" x{1,3} y{2,}\nx ::= \"\\x41\"\ny ::= . # any\n", "ab-AAA\xC3\xA9z"));
    const std::string rep = "root ::= [a-c]{2} \"-\" x{1,3} y{2,}\nx ::= \"\\x41\"\ny ::= .\n";
    CHECK(accepts(rep, "ab-AAAAz"));   // x = AAA, y = Az
    CHECK_FALSE(accepts(rep, "ab-Bzz"));  // x needs an A
    CHECK_FALSE(accepts(rep, "abc-Azz"));  // [a-c]{2}: exactly two
    CHECK_FALSE(accepts(rep, "ab-Az"));   // y needs two characters
    CHECK(accepts("root ::= [^a-z]+\n", "ABC"));
    CHECK_FALSE(accepts("root ::= [^a-z]+\n", "AbC"));
    CHECK(accepts("root ::= \"\\u00e9\\t\" | \"x\"?\n", "\xC3\xA9\t"));
    CHECK(accepts("root ::= \"\\u00e9\\t\" | \"x\"?\n", ""));
}

TEST_CASE("grammar: text that cannot be parsed gets its line and column; bad grammars are refused") {
    CHECK(parse_error("root ::= \"abc\n").find("line 1, column 14: unterminated string literal") != std::string::npos);
    CHECK(parse_error("root ::= a\na ::= \"x\" )\n").find("line 2, column 11") != std::string::npos);
    CHECK(parse_error("root ::= \"a\"\n\nfoo = \"b\"\n").find("line 3, column 5: expected '::='") !=
          std::string::npos);
    CHECK(parse_error("root ::= \"a\" undefined-rule\n").find("line 1, column 14: rule 'undefined-rule' is not defined") !=
          std::string::npos);
    CHECK(parse_error("root ::= * \"a\"\n").find("line 1, column 10") != std::string::npos);
    CHECK(parse_error("root ::= \"a\"{3,1}\n").find("n < m") != std::string::npos);
    CHECK(parse_error("root ::= \"\\q\"\n").find("unknown escape") != std::string::npos);
    CHECK(parse_error("root ::= [z-a]\n").find("range") != std::string::npos);
    CHECK(parse_error("root ::= \"a\"\nroot ::= \"b\"\n").find("defined twice") != std::string::npos);
    CHECK(parse_error("start ::= \"a\"\n").find("no rule named 'root'") != std::string::npos);
    CHECK(parse_error("").find("empty") != std::string::npos);
    CHECK(parse_error("root ::= \"\xC3\"\n").find("UTF-8") != std::string::npos);
    // left recursion, direct and through a nullable prefix and another rule
    CHECK(parse_error("root ::= root \"a\" | \"a\"\n").find("left-recursive") != std::string::npos);
    const std::string indirect = parse_error("root ::= opt b\nopt ::= \"x\"?\nb ::= root \"y\" | \"z\"\n");
    CHECK(indirect.find("left-recursive") != std::string::npos);
    CHECK(indirect.find("root") != std::string::npos);
    CHECK(parse_error("root ::= (\"a\" | root)* \"b\"\n").find("left-recursive") != std::string::npos);
    // the empty language
    CHECK(parse_error("root ::= [] \"a\"\n").find("language is empty") != std::string::npos);
    CHECK(parse_error("root ::= \"a\" loop\nloop ::= \"b\" loop\n").find("language is empty") != std::string::npos);
    // right recursion is fine (and does not grow the stack: 10000 items)
    CHECK(accepts("root ::= \"a\" root | \"a\"\n", std::string(10000, 'a')));
    CHECK(parse_error("root ::= " + std::string(300, '(') + "\"a\"" + std::string(300, ')') + "\n")
              .find("nested deeper") != std::string::npos);
}

TEST_CASE("grammar: the mask over a vocabulary equals an enumeration of the language's prefixes") {
    // A finite language: every string it accepts is listed, so "token t may come next" is
    // "text so far + t is a prefix of one of them" (or t ends and the text is one of them).
    const std::vector<std::string> words = {"cat", "car", "cart", "d\xC3\xA9j\xC3\xA0", "dog"};
    const std::string g = "root ::= w (\" \" w)?\nw ::= \"cat\" | \"car\" | \"cart\" | \"d\xC3\xA9j\xC3\xA0\" | \"dog\"\n";
    std::vector<std::string> lang;
    for (const auto& a : words) {
        lang.push_back(a);
        for (const auto& b : words) lang.push_back(a + " " + b);
    }
    std::vector<std::string> vocab = {"", "c", "ca", "cat", "r", "t", " ", " d", "d", "\xC3", "\xA9", "\xC3\xA9",
                                      "j\xC3\xA0", "og", "a", "rt", "x", "\xA0", "j\xC3", "t c", "<eos>"};
    const int32_t eos = int32_t(vocab.size()) - 1;
    const std::vector<int32_t> ends = {eos};
    auto trie = std::make_shared<const grammar::VocabTrie>(vocab, ends);
    std::mt19937 rng(1);
    for (int round = 0; round < 200; ++round) {
        Matcher m(std::make_shared<const Grammar>(Grammar::parse(g)), trie);
        std::string text;
        for (int step = 0; step < 12; ++step) {
            std::vector<int32_t> allowed;
            for (int32_t t = 0; t < int32_t(vocab.size()); ++t) {
                bool ok;
                if (t == eos) {
                    ok = std::find(lang.begin(), lang.end(), text) != lang.end();
                } else {
                    ok = !vocab[size_t(t)].empty() &&
                         std::any_of(lang.begin(), lang.end(), [&](const std::string& s) {
                             return s.compare(0, text.size() + vocab[size_t(t)].size(), text + vocab[size_t(t)]) == 0 &&
                                    s.size() >= text.size() + vocab[size_t(t)].size();
                         });
                }
                CHECK_MESSAGE(m.allows(t) == ok, "text '", text, "' token '", vocab[size_t(t)], "'");
                if (ok) allowed.push_back(t);
            }
            std::vector<float> logits(vocab.size(), 0.0f);
            m.mask(logits);
            for (int32_t t = 0; t < int32_t(vocab.size()); ++t)
                CHECK((logits[size_t(t)] == 0.0f) == (std::find(allowed.begin(), allowed.end(), t) != allowed.end()));
            REQUIRE(!allowed.empty());
            const int32_t pick = allowed[rng() % allowed.size()];
            m.accept(pick);
            if (pick == eos) break;
            text += vocab[size_t(pick)];
        }
        CHECK_THROWS_AS(m.accept(vocab.size() - 3), Error);  // "x" is never allowed
    }
}

TEST_CASE("grammar: the shortcuts (whole subtrees, scans) give the same masks as the full walk") {
    // A vocabulary with what real ones have and a walk must get right: words with and without
    // a space, JSON fragments, quotes and escapes, 2/3/4-byte characters whole and cut at
    // every byte, tokens that start inside a character, invalid UTF-8 (overlong, surrogates,
    // above U+10FFFF, stray continuation bytes) and every single byte.
    std::mt19937 rng(7);
    std::set<std::string> seen;
    std::vector<std::string> vocab;
    auto add = [&](const std::string& t) {
        if (!t.empty() && seen.insert(t).second) vocab.push_back(t);
    };
    for (int b = 1; b < 256; ++b) add(std::string(1, char(b)));
    const std::vector<std::string> chars = {"\xC3\xA9", "\xE4\xB8\xAD", "\xE6\x96\x87", "\xF0\x9F\x98\x80",
                                            "\xED\x9F\xBF", "\xEF\xBF\xBD", "\xF4\x8F\xBF\xBF"};
    const std::vector<std::string> bad = {"\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xE0\x80\x80", "\xF5\x80",
                                          "\x80", "\xBF\xBF", "\xFF"};
    const std::string letters = "abcdefghijklmnopqrstuvwxyzAEIOUXYZ";
    const std::string punct = "\"\\{}[]:,.-+eE0123456789 \n\t";
    for (const char* f : {"{\"", "\":", "\": ", "\",", "\", \"", "},", "}", "[\"", "\"]", "null", "true", "false",
                          "\n  ", "  ", "\\n", "\\u00", "\\\"", "1.5e", "-0"})
        add(f);
    // A character cut short, then ASCII: invalid, though only ASCII follows the node inside it.
    for (const char* t : {"\xE6\x97" "a", "\xE6\x97" "bc", "\xE6\x97" "de", "\xE6\x97" "fgh", "\xC3" "xy"}) add(t);
    for (const auto& c : chars) {
        for (size_t cut = 1; cut <= c.size(); ++cut) {
            add(c.substr(0, cut));
            add(c.substr(cut));
            add("a" + c.substr(0, cut));
            add(c.substr(cut) + "b");
        }
    }
    while (vocab.size() < 6000) {
        std::string t;
        const int kind = int(rng() % 8), len = 1 + int(rng() % 6);
        for (int i = 0; i < len; ++i) {
            if (kind <= 3) t += letters[rng() % letters.size()];
            else if (kind == 4) t += punct[rng() % punct.size()];
            else if (kind == 5) t += chars[rng() % chars.size()];
            else if (kind == 6) t += rng() % 4 ? letters[rng() % letters.size()] : punct[rng() % punct.size()];
            else t += rng() % 3 ? chars[rng() % chars.size()] : bad[rng() % bad.size()];
        }
        if (kind <= 2 && rng() % 2) t = " " + t;
        add(t);
    }
    vocab.emplace_back("");  // the end token
    const std::vector<int32_t> ends = {int32_t(vocab.size()) - 1};
    auto trie = std::make_shared<const grammar::VocabTrie>(vocab, ends);

    const std::vector<std::string> grammars = {
        kJsonGbnf,
        json::schema_to_gbnf(R"({"type": "object", "properties": {"name": {"type": "string"},
            "n": {"type": "integer"}, "tags": {"type": "array", "items": {"type": "string"}}},
            "required": ["name"]})"),
        "root ::= [^\"\\n]* \"\\n\"\n",                      // a line: loops on all but two bytes
        "root ::= ([a-z ] | [\\u00e0-\\u00ff] | \"\\\"\")*\n",  // loops on part of the non-ASCII range
        "root ::= [^\\u4e00-\\u4fff]* \"x\"\n",             // all but a CJK block
        "root ::= [\\x00-\\U0010FFFF]*\n",                  // any character
    };
    size_t whole = 0, scans = 0;
    for (const auto& text : grammars) {
        auto g = std::make_shared<const Grammar>(Grammar::parse(text));
        for (int round = 0; round < 12; ++round) {
            Matcher fast(g, trie), full(g, trie);
            full.set_subtree_shortcut(false);
            for (int step = 0; step < 40; ++step) {
                std::vector<float> a(vocab.size(), 0.0f), b(vocab.size(), 0.0f);
                fast.mask(a);
                full.mask(b);
                const auto diff = std::mismatch(a.begin(), a.end(), b.begin());
                REQUIRE_MESSAGE(diff.first == a.end(), "grammar ", text, " step ", step, " token '",
                                vocab[size_t(diff.first - a.begin())], "'");
                std::vector<int32_t> allowed;
                for (int32_t t = 0; t < int32_t(vocab.size()); ++t) {
                    if (b[size_t(t)] == 0.0f) allowed.push_back(t);
                }
                const int32_t pick = allowed[rng() % allowed.size()];
                if (pick == ends[0]) break;
                fast.accept(pick);
                full.accept(pick);
            }
            whole += fast.whole_subtrees();
            scans += fast.scans();
            CHECK(full.whole_subtrees() == 0);
            CHECK(full.scans() == 0);
        }
    }
    MESSAGE(whole, " subtrees taken whole, ", scans, " masks by a scan");
    CHECK(whole > 0);  // both shortcuts were taken
    CHECK(scans > 0);
}

TEST_CASE("json: parse, errors with line and column, dump") {
    const json::Value v = json::parse(" {\"a\": [1, -2.5e3, true, null, \"\\u00e9\\ud83d\\ude42\\n\"], \"b\": {}} ");
    CHECK(json::dump(v) == "{\"a\":[1,-2.5e3,true,null,\"\xC3\xA9\xF0\x9F\x99\x82\\n\"],\"b\":{}}");
    CHECK(v.get("a")->array[0].is_integer());
    CHECK_FALSE(v.get("a")->array[1].is_integer());
    auto err = [](const char* s) {
        try {
            (void)json::parse(s);
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    CHECK(err("{\"a\": 1,\n \"b\" 2}").find("line 2, column 6: expected ':'") != std::string::npos);
    CHECK(err("[1, 2").find("expected ']'") != std::string::npos);
    CHECK(err("01").find("unexpected text") != std::string::npos);
    CHECK(err("\"\\ud800\"").find("surrogate") != std::string::npos);
    CHECK(err("\"a\x01\"").find("control character") != std::string::npos);
    CHECK(err(std::string(600, '[').c_str()).find("nested deeper") != std::string::npos);
    CHECK(err("").find("line 1, column 1") != std::string::npos);
}

TEST_CASE("json schema: compiled grammars accept valid documents and reject invalid ones") {
    const std::string schema = R"({"type": "object", "properties": {
        "name": {"type": "string", "maxLength": 5},
        "age": {"type": "integer"},
        "ok": {"type": "boolean"},
        "color": {"enum": ["red", "green", 3]},
        "tags": {"type": "array", "items": {"type": "number"}, "minItems": 1, "maxItems": 2},
        "pet": {"type": ["string", "null"]}},
      "required": ["name", "age"]})";
    const Grammar g = Grammar::parse(json::schema_to_gbnf(schema));
    const char* good[] = {
        R"({"name": "Ann", "age": 3})",
        R"({"name":"","age":-12,"ok":false,"color":"green","tags":[1.5, 2],"pet":null})",
        R"({"name": "abcde", "age": 0, "color": 3})",
        R"({"name": "x", "age": 1, "pet": "dog"})",
        "{\n  \"name\": \"\xC3\xA9\\n\", \"age\": 1, \"tags\": [3e2]}",
    };
    for (const char* s : good) {
        CHECK_MESSAGE(Matcher::accepts(g, s), s);
        CHECK(valid(json::parse(s), json::parse(schema)));
    }
    const char* bad[] = {
        R"({"age": 3})",                                 // required name missing
        R"({"name": "abcdef", "age": 3})",               // too long
        R"({"name": "a", "age": 3.5})",                  // not an integer
        R"({"name": "a", "age": 3, "color": "blue"})",   // not in the enum
        R"({"name": "a", "age": 3, "tags": []})",        // minItems
        R"({"name": "a", "age": 3, "tags": [1, 2, 3]})", // maxItems
        R"({"name": "a", "age": 3, "other": 1})",        // no other keys
        R"({"age": 3, "name": "a"})",                    // required first, in order
        R"({"name": "a", "age": 01})",
    };
    for (const char* s : bad) CHECK_MESSAGE(!Matcher::accepts(g, s), s);
    // optional properties only: any subset in order, commas right
    const Grammar o = Grammar::parse(json::schema_to_gbnf(
        R"({"properties": {"a": {"type": "integer"}, "b": {"type": "integer"}, "c": {"const": "x"}}})"));
    for (const char* s : {"{}", R"({"a": 1})", R"({"b": 2})", R"({"a": 1, "c": "x"})", R"({"b": 2, "c": "x"})",
                          R"({"a": 1, "b": 2, "c": "x"})"})
        CHECK_MESSAGE(Matcher::accepts(o, s), s);
    for (const char* s : {R"({, "b": 2})", R"({"a": 1,})", R"({"c": "x", "a": 1})", R"({"c": "y"})"})
        CHECK_MESSAGE(!Matcher::accepts(o, s), s);
    // any value, nested arrays, anyOf
    const Grammar any = Grammar::parse(json::schema_to_gbnf("{}"));
    CHECK(Matcher::accepts(any, R"([{"a": [null, 1, "x"]}, false])"));
    const Grammar alt = Grammar::parse(json::schema_to_gbnf(R"({"anyOf": [{"type": "integer"}, {"type": "array", "items": {"type": "boolean"}}]})"));
    CHECK(Matcher::accepts(alt, "[true, false]"));
    CHECK(Matcher::accepts(alt, "-7"));
    CHECK_FALSE(Matcher::accepts(alt, "\"s\""));
    // unsupported keywords and bad schemas are named
    auto err = [](const char* s) {
        try {
            (void)json::schema_to_gbnf(s);
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    CHECK(err(R"({"type": "string", "pattern": "^a"})").find("\"pattern\" is not supported") != std::string::npos);
    CHECK(err(R"({"type": "object", "properties": {"x": {"type": "strin"}}})").find("#/properties/x/type") !=
          std::string::npos);
    CHECK(err(R"({"type": "object", "properties": {"x": {}}, "required": ["y"]})").find("\"y\"") != std::string::npos);
    CHECK(err(R"({"enum": []})").find("#/enum") != std::string::npos);
    CHECK(err("false").find("allows nothing") != std::string::npos);
    CHECK(err("{\"type\": ").find("line 1, column 10") != std::string::npos);
}

TEST_CASE("json schema: 100 seeded sampled generations on stories260K all parse and validate") {
    // Object, required and optional properties, a bounded string, integer, enum and a type
    // list. Short keys: stories260K spells most JSON character by character (about 50 tokens
    // a generation; the 100 take some 5000 decode steps, ~40 CPU s with validation on).
    const std::string schema = R"({"type": "object", "properties": {
        "n": {"type": "string", "maxLength": 6},
        "age": {"type": "integer"},
        "c": {"enum": ["red", "green", "blue"]},
        "ok": {"type": ["boolean", "null"]}},
      "required": ["n", "age", "c"]})";
    const json::Value s = json::parse(schema);
    vkrt_context_params cp = vkrt_context_default_params();
    vkrt::Context ctx(cp);
    vkrt::Model model(ctx, std::string(VKRT_MODELS_DIR) + "/stories260K.gguf");
    vkrt_session_params sp = vkrt_session_default_params();
    sp.n_ctx = 1024;
    vkrt::Session session(model, sp);
    vkrt::GenerateOptions o;
    o.json_schema = schema;
    o.max_tokens = 1000;
    // llama.cpp's default sampler chain (temperature 0.8, top-k 40, top-p 0.95, min-p 0.05)
    int total_tokens = 0;
    std::set<std::string> distinct;
    for (uint64_t seed = 0; seed < 100; ++seed) {
        session.reset();
        o.sampler.seed = seed;
        const vkrt::GenerateResult r = vkrt::generate(session, "Once upon a time", o);
        total_tokens += r.n_generated;
        CHECK_MESSAGE(r.finish == VKRT_FINISH_EOG, "seed ", seed, ": ", r.finish_name(), " after ", r.n_generated);
        json::Value v;
        CHECK_NOTHROW_MESSAGE(v = json::parse(r.text), "seed ", seed, ": ", r.text);
        CHECK_MESSAGE(valid(v, s), "seed ", seed, ": ", r.text);
        distinct.insert(r.text);
    }
    MESSAGE(total_tokens, " tokens in 100 generations, ", distinct.size(), " distinct texts");
    CHECK(distinct.size() > 50);  // sampled, not one forced text
}

TEST_CASE("C++ API: chat templates, metadata, stop strings, exceptions from the callback") {
    vkrt::Context ctx;
    vkrt::Model model(ctx, std::string(VKRT_MODELS_DIR) + "/stories260K.gguf");
    CHECK(vkrt::chat_template_name(model) == "none");
    CHECK(vkrt::meta_string(model, "general.architecture") == "llama");
    CHECK(vkrt::meta_int(model, "llama.block_count") == 5);
    CHECK(vkrt::meta_array_length(model, "tokenizer.ggml.tokens") == 512);
    CHECK(vkrt::meta_has(model, "llama.embedding_length"));
    CHECK(vkrt::meta_float(model, "llama.embedding_length") == 64.0);
    CHECK_THROWS_AS((void)vkrt::meta_int(model, "nope"), vkrt::Exception);
    const std::vector<vkrt::Message> msgs = {{"system", "S"}, {"user", "U"}};
    CHECK(vkrt::apply_chat_template(model, msgs, true, "gemma") ==
          "<start_of_turn>user\nS\n\nU<end_of_turn>\n<start_of_turn>model\n");
    CHECK_THROWS_AS((void)vkrt::apply_chat_template(model, msgs, true), vkrt::Exception);  // no template
    CHECK_THROWS_AS((void)vkrt::apply_chat_template(model, {{"bot", "x"}}, true, "chatml"), vkrt::Exception);
    // a long template output goes through the retry with the needed size
    const std::string big(5000, 'x');
    CHECK(vkrt::apply_chat_template(model, {{"user", big}}, false, "chatml").size() == big.size() + 28);

    vkrt::Session session(model);
    vkrt::GenerateOptions o;
    o.sampler.temperature = 0.0f;
    o.max_tokens = 30;
    const vkrt::GenerateResult full = vkrt::generate(session, "Once upon a time", o);
    CHECK(full.finish == VKRT_FINISH_LENGTH);
    CHECK(std::string(full.finish_name()) == "length");
    REQUIRE(full.text.size() > 12);
    session.reset();
    o.stop = {full.text.substr(8, 4)};
    const vkrt::GenerateResult cut = vkrt::generate(session, "Once upon a time", o);
    CHECK(cut.finish == VKRT_FINISH_STOP_STRING);
    CHECK(cut.text == full.text.substr(0, full.text.find(o.stop[0])));
    session.reset();
    o.stop.clear();
    int calls = 0;
    CHECK_THROWS_WITH_AS(vkrt::generate(session, "Once", o,
                                        [&](const vkrt_token_info&) -> bool {
                                            if (++calls == 3) throw std::runtime_error("from the callback");
                                            return true;
                                        }),
                         "from the callback", std::runtime_error);
    CHECK(calls == 3);
    // the session stays usable; chat() with a named template
    o.chat_template = "chatml";
    o.max_tokens = 5;
    const vkrt::GenerateResult c = vkrt::chat(session, msgs, o);
    CHECK(c.n_generated > 0);
    CHECK(c.n_prompt > 0);
    CHECK(vkrt::json_schema_to_grammar(R"({"type": "integer"})").find("root ::= integer") == 0);
    CHECK_THROWS_AS((void)vkrt::json_schema_to_grammar("{"), vkrt::Exception);
}
