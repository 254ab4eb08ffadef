// JSON parsing and JSON Schema -> GBNF (see json_schema.hpp).
#include "text/json_schema.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "core/error.hpp"
#include "text/unicode.hpp"

namespace vkrt::json {

namespace {

constexpr int kMaxDepth = 512;

// ---- parser ---------------------------------------------------------------------------

struct Parser {
    std::string_view s;
    size_t pos = 0;
    int depth = 0;

    [[noreturn]] void error(const std::string& what) const {
        const text::TextPosition p = text::text_position(s, pos);
        fail(Status::invalid_argument, "json: line ", p.line, ", column ", p.column, ": ", what);
    }
    void ws() {
        while (pos < s.size() && (s[pos] == ' ' || s[pos] == '\t' || s[pos] == '\n' || s[pos] == '\r')) ++pos;
    }
    char peek() const { return pos < s.size() ? s[pos] : '\0'; }
    void expect(char c) {
        if (peek() != c) error(std::string("expected '") + c + "'");
        ++pos;
    }
    uint32_t hex4() {
        uint32_t v = 0;
        for (int i = 0; i < 4; ++i) {
            const char c = peek();
            const int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                                                           : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
            if (d < 0) error("expected 4 hex digits after \\u");
            v = v * 16 + uint32_t(d);
            ++pos;
        }
        return v;
    }
    std::string string() {
        expect('"');
        std::string out;
        for (;;) {
            if (pos >= s.size()) error("unterminated string");
            const unsigned char c = uint8_t(s[pos]);
            if (c == '"') {
                ++pos;
                return out;
            }
            if (c < 0x20) error("control character in a string (escape it)");
            if (c == '\\') {
                ++pos;
                const char e = peek();
                ++pos;
                switch (e) {
                    case '"': out += '"'; break;
                    case '\\': out += '\\'; break;
                    case '/': out += '/'; break;
                    case 'b': out += '\b'; break;
                    case 'f': out += '\f'; break;
                    case 'n': out += '\n'; break;
                    case 'r': out += '\r'; break;
                    case 't': out += '\t'; break;
                    case 'u': {
                        uint32_t cp = hex4();
                        if (cp >= 0xD800 && cp < 0xDC00) {
                            if (!(peek() == '\\' && pos + 1 < s.size() && s[pos + 1] == 'u')) error("lone surrogate");
                            pos += 2;
                            const uint32_t lo = hex4();
                            if (lo < 0xDC00 || lo >= 0xE000) error("invalid surrogate pair");
                            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        } else if (cp >= 0xDC00 && cp < 0xE000) {
                            error("lone surrogate");
                        }
                        text::append_utf8(out, cp);
                        break;
                    }
                    default: --pos; error(std::string("unknown escape \\") + e);
                }
                continue;
            }
            const text::Utf8Char u = text::decode_utf8(s, pos);
            if (!u.valid) error("invalid UTF-8");
            out.append(s.substr(pos, u.len));
            pos += u.len;
        }
    }
    Value number() {
        const size_t b = pos;
        auto digits = [&] {
            const size_t d = pos;
            while (peek() >= '0' && peek() <= '9') ++pos;
            if (pos == d) error("expected a digit");
        };
        if (peek() == '-') ++pos;
        if (peek() == '0') {
            ++pos;
        } else {
            digits();
        }
        if (peek() == '.') {
            ++pos;
            digits();
        }
        if (peek() == 'e' || peek() == 'E') {
            ++pos;
            if (peek() == '+' || peek() == '-') ++pos;
            digits();
        }
        Value v;
        v.type = Value::Type::number;
        v.text = std::string(s.substr(b, pos - b));
        v.number = std::strtod(v.text.c_str(), nullptr);
        return v;
    }
    void literal(std::string_view w) {
        if (s.substr(pos, w.size()) != w) error("unexpected character");
        pos += w.size();
    }
    Value value() {
        if (++depth > kMaxDepth) error("nested deeper than " + std::to_string(kMaxDepth));
        ws();
        Value v;
        const char c = peek();
        if (c == '{') {
            ++pos;
            v.type = Value::Type::object;
            ws();
            if (peek() == '}') {
                ++pos;
            } else {
                for (;;) {
                    ws();
                    std::string k = string();
                    ws();
                    expect(':');
                    Value m = value();
                    v.keys.push_back(std::move(k));
                    v.members.push_back(std::move(m));
                    ws();
                    if (peek() == ',') {
                        ++pos;
                        continue;
                    }
                    expect('}');
                    break;
                }
            }
        } else if (c == '[') {
            ++pos;
            v.type = Value::Type::array;
            ws();
            if (peek() == ']') {
                ++pos;
            } else {
                for (;;) {
                    v.array.push_back(value());
                    ws();
                    if (peek() == ',') {
                        ++pos;
                        continue;
                    }
                    expect(']');
                    break;
                }
            }
        } else if (c == '"') {
            v.type = Value::Type::string;
            v.text = string();
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            v = number();
        } else if (c == 't') {
            literal("true");
            v.type = Value::Type::boolean;
            v.boolean = true;
        } else if (c == 'f') {
            literal("false");
            v.type = Value::Type::boolean;
        } else if (c == 'n') {
            literal("null");
        } else {
            error(pos >= s.size() ? "unexpected end of the text" : "unexpected character");
        }
        ws();
        --depth;
        return v;
    }
};

void dump_string(std::string& out, std::string_view s) {
    out += '"';
    for (unsigned char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    out += buf;
                } else {
                    out += char(c);
                }
        }
    }
    out += '"';
}

void dump_to(std::string& out, const Value& v) {
    switch (v.type) {
        case Value::Type::null: out += "null"; return;
        case Value::Type::boolean: out += v.boolean ? "true" : "false"; return;
        case Value::Type::number: out += v.text; return;
        case Value::Type::string: dump_string(out, v.text); return;
        case Value::Type::array:
            out += '[';
            for (size_t i = 0; i < v.array.size(); ++i) {
                if (i) out += ',';
                dump_to(out, v.array[i]);
            }
            out += ']';
            return;
        case Value::Type::object:
            out += '{';
            for (size_t i = 0; i < v.keys.size(); ++i) {
                if (i) out += ',';
                dump_string(out, v.keys[i]);
                out += ':';
                dump_to(out, v.members[i]);
            }
            out += '}';
            return;
    }
}

// ---- schema -> GBNF -------------------------------------------------------------------

// A GBNF "literal" of raw text (bytes outside printable ASCII as \xHH / the code point).
std::string gbnf_literal(std::string_view s) {
    std::string out = "\"";
    size_t i = 0;
    while (i < s.size()) {
        const unsigned char c = uint8_t(s[i]);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += char(c);
            ++i;
        } else if (c >= 0x20 && c < 0x7F) {
            out += char(c);
            ++i;
        } else if (c < 0x80) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02X", c);
            out += buf;
            ++i;
        } else {
            const text::Utf8Char u = text::decode_utf8(s, i);
            char buf[16];
            std::snprintf(buf, sizeof buf, "\\U%08X", u.cp);
            out += buf;
            i += u.len;
        }
    }
    return out + "\"";
}

constexpr const char* kPrimitives =
    "ws ::= | \" \" | \"\\n\" [ \\t]{0,20}\n"
    "char ::= [^\"\\\\\\x7F\\x00-\\x1F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4})\n"
    "string ::= \"\\\"\" char* \"\\\"\" ws\n"
    "integral ::= \"-\"? ([0-9] | [1-9] [0-9]{1,15})\n"
    "integer ::= integral ws\n"
    "number ::= integral (\".\" [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})? ws\n"
    "boolean ::= (\"true\" | \"false\") ws\n"
    "null ::= \"null\" ws\n"
    "value ::= object | array | string | number | boolean | null\n"
    "object ::= \"{\" ws ( string \":\" ws value (\",\" ws string \":\" ws value)* )? \"}\" ws\n"
    "array ::= \"[\" ws ( value (\",\" ws value)* )? \"]\" ws\n";

struct Compiler {
    std::string rules;
    int n = 0;

    [[noreturn]] static void unsupported(const std::string& where, const std::string& what) {
        fail(Status::invalid_argument, "json schema: ", where, ": ", what);
    }

    std::string add_rule(const std::string& body) {
        std::string name = "s";  // (not "s" + to_string: GCC 12 warns -Wrestrict falsely)
        name += std::to_string(n++);
        rules += name + " ::= " + body + "\n";
        return name;
    }

    static int64_t count(const Value& v, const std::string& where) {
        if (v.type != Value::Type::number || !v.is_integer() || v.number < 0 || v.number > 4096)
            unsupported(where, "must be an integer in [0, 4096]");
        return int64_t(v.number);
    }

    std::string type_rule(const std::string& type, const Value& s, const std::string& where) {
        if (type == "string") {
            const Value* mn = s.get("minLength");
            const Value* mx = s.get("maxLength");
            if (!mn && !mx) return "string";
            const int64_t lo = mn ? count(*mn, where + "/minLength") : 0;
            const std::string hi = mx ? std::to_string(count(*mx, where + "/maxLength")) : "";
            if (mx && count(*mx, where) < lo) unsupported(where, "maxLength < minLength");
            return add_rule("\"\\\"\" char{" + std::to_string(lo) + "," + hi + "} \"\\\"\" ws");
        }
        if (type == "number" || type == "integer" || type == "boolean" || type == "null") return type;
        if (type == "array") {
            const Value* items = s.get("items");
            const std::string item = items ? schema(*items, where + "/items") : "value";
            const Value* mn = s.get("minItems");
            const Value* mx = s.get("maxItems");
            const int64_t lo = mn ? count(*mn, where + "/minItems") : 0;
            const int64_t hi = mx ? count(*mx, where + "/maxItems") : -1;
            if (hi >= 0 && hi < lo) unsupported(where, "maxItems < minItems");
            if (hi == 0) return add_rule("\"[\" ws \"]\" ws");
            const std::string rest = "(\",\" ws " + item + "){" + std::to_string(lo > 0 ? lo - 1 : 0) + "," +
                                     (hi >= 0 ? std::to_string(hi - 1) : "") + "}";
            const std::string list = item + " " + rest;
            return add_rule("\"[\" ws " + (lo > 0 ? list : "(" + list + ")?") + " \"]\" ws");
        }
        if (type == "object") {
            const Value* props = s.get("properties");
            if (!props) return "object";
            if (props->type != Value::Type::object) unsupported(where + "/properties", "must be an object");
            std::vector<std::string> req_names;
            if (const Value* r = s.get("required")) {
                if (r->type != Value::Type::array) unsupported(where + "/required", "must be an array of names");
                for (const Value& n : r->array) {
                    if (n.type != Value::Type::string) unsupported(where + "/required", "must be an array of names");
                    if (!props->get(n.text))
                        unsupported(where + "/required", "\"" + n.text + "\" is not one of the properties");
                    req_names.push_back(n.text);
                }
            }
            std::vector<std::string> req, opt;  // "key": value rules
            for (size_t i = 0; i < props->keys.size(); ++i) {
                const std::string& name = props->keys[i];
                Value key;
                key.type = Value::Type::string;
                key.text = name;
                std::string kv = add_rule(gbnf_literal(dump(key)) + " ws \":\" ws " +
                                          schema(props->members[i], where + "/properties/" + name));
                bool is_req = false;
                for (const auto& r : req_names) is_req = is_req || r == name;
                (is_req ? req : opt).push_back(kv);
            }
            std::string body;
            for (size_t i = 0; i < req.size(); ++i) body += (i ? " \",\" ws " : "") + req[i];
            if (!req.empty()) {
                for (const auto& o : opt) body += " (\",\" ws " + o + ")?";
            } else if (!opt.empty()) {
                // Any subset of the optional properties, in order: the first one present
                // has no comma before it.
                std::string alts;
                for (size_t i = 0; i < opt.size(); ++i) {
                    std::string a = opt[i];
                    for (size_t j = i + 1; j < opt.size(); ++j) a += " (\",\" ws " + opt[j] + ")?";
                    alts += (i ? " | " : "") + a;
                }
                body = "(" + alts + ")?";
            }
            return add_rule("\"{\" ws " + body + " \"}\" ws");
        }
        unsupported(where + "/type", "\"" + type + "\" is not a JSON Schema type");
    }

    // The rule for schema `s` at `where` (a JSON pointer into the schema, for messages).
    std::string schema(const Value& s, const std::string& where) {
        if (s.type == Value::Type::boolean) {
            if (!s.boolean) unsupported(where, "the schema false allows nothing");
            return "value";
        }
        if (s.type != Value::Type::object) unsupported(where, "a schema must be an object or a boolean");
        static const char* kRefused[] = {"$ref", "pattern", "allOf", "not", "if", "then", "else",
                                         "patternProperties", "dependentRequired", "dependentSchemas",
                                         "prefixItems", "contains", "uniqueItems", "propertyNames",
                                         "unevaluatedProperties", "multipleOf", "exclusiveMinimum",
                                         "exclusiveMaximum", "minProperties", "maxProperties"};
        for (const char* k : kRefused) {
            if (s.get(k)) unsupported(where, std::string("\"") + k + "\" is not supported");
        }
        if (const Value* c = s.get("const")) return add_rule(gbnf_literal(dump(*c)) + " ws");
        if (const Value* e = s.get("enum")) {
            if (e->type != Value::Type::array || e->array.empty())
                unsupported(where + "/enum", "must be a non-empty array");
            std::string alts;
            for (size_t i = 0; i < e->array.size(); ++i) alts += (i ? " | " : "") + gbnf_literal(dump(e->array[i]));
            return add_rule("(" + alts + ") ws");
        }
        for (const char* k : {"anyOf", "oneOf"}) {
            if (const Value* a = s.get(k)) {
                if (a->type != Value::Type::array || a->array.empty())
                    unsupported(where + "/" + k, "must be a non-empty array");
                std::string alts;
                for (size_t i = 0; i < a->array.size(); ++i)
                    alts += (i ? " | " : "") + schema(a->array[i], where + "/" + k + "/" + std::to_string(i));
                return add_rule(alts);
            }
        }
        const Value* t = s.get("type");
        if (!t) {
            if (s.get("properties")) return type_rule("object", s, where);
            if (s.get("items")) return type_rule("array", s, where);
            return "value";
        }
        if (t->type == Value::Type::string) return type_rule(t->text, s, where);
        if (t->type == Value::Type::array && !t->array.empty()) {
            std::string alts;
            for (size_t i = 0; i < t->array.size(); ++i) {
                if (t->array[i].type != Value::Type::string) unsupported(where + "/type", "must list type names");
                alts += (i ? " | " : "") + type_rule(t->array[i].text, s, where);
            }
            return add_rule(alts);
        }
        unsupported(where + "/type", "must be a type name or a non-empty list of them");
    }
};

}  // namespace

const Value* Value::get(std::string_view key) const {
    if (type != Type::object) return nullptr;
    for (size_t i = 0; i < keys.size(); ++i) {
        if (keys[i] == key) return &members[i];
    }
    return nullptr;
}

bool Value::is_integer() const {
    return type == Type::number && text.find_first_of(".eE") == std::string::npos;
}

Value parse(std::string_view text) {
    Parser p{text};
    Value v = p.value();
    if (p.pos != text.size()) p.error("unexpected text after the JSON value");
    return v;
}

std::string dump(const Value& v) {
    std::string out;
    dump_to(out, v);
    return out;
}

std::string schema_to_gbnf(std::string_view schema_text) {
    const Value s = parse(schema_text);
    Compiler c;
    const std::string top = c.schema(s, "#");
    return "root ::= " + top + "\n" + c.rules + kPrimitives;
}

}  // namespace vkrt::json
