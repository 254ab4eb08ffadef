// JSON (RFC 8259) values and JSON Schema -> GBNF, for constrained output (text/grammar.hpp).
//
// The schema subset: type (a name or a list of names: object, array, string, number,
// integer, boolean, null), properties + required (required properties first, then the
// optional ones, each in declaration order; no other keys), items, minItems/maxItems,
// minLength/maxLength, enum, const, anyOf/oneOf, and {} / true for any JSON value.
// Annotations (title, description, default, examples, $schema, $id, format, minimum,
// maximum, additionalProperties) are ignored; keywords that would change the language and
// are not supported ($ref, pattern, allOf, not, if/then/else, patternProperties, ...) are
// refused by name rather than silently not enforced. Unbounded parts are bounded as in
// llama.cpp's json-schema-to-grammar (at most 16 integer digits, whitespace runs of 20) so
// a small model cannot loop forever inside a number.
#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vkrt::json {

struct Value {
    enum class Type { null, boolean, number, string, array, object };
    Type type = Type::null;
    bool boolean = false;
    double number = 0.0;
    std::string text;  // string: its decoded value; number: its literal as written
    std::vector<Value> array;
    // Object members in document order: keys[i] -> members[i] (two vectors: a pair with the
    // incomplete Value would not compile with every standard library).
    std::vector<std::string> keys;
    std::vector<Value> members;

    const Value* get(std::string_view key) const;  // object member or nullptr
    bool is_integer() const;                        // a number with no fraction or exponent
};

// Parses one JSON document (surrounding whitespace allowed). Throws invalid_argument with
// "json: line L, column C: ..." for anything else, nesting deeper than 512 included.
Value parse(std::string_view text);
// Compact serialisation (strings escaped as JSON requires; numbers as written).
std::string dump(const Value& v);

// The GBNF grammar (start rule "root") accepting exactly the JSON texts the schema allows
// (within the subset above). Throws invalid_argument naming the unsupported keyword or the
// schema position ("#/properties/name/type").
std::string schema_to_gbnf(std::string_view schema);

}  // namespace vkrt::json
