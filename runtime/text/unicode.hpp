// Small UTF-8 / Unicode helpers for the tokenizers.
//
// Character classes follow the regex classes used by GPT-2 style
// pre-tokenizers (\p{L}, \p{N}, \s, everything else). The tables are a
// compact approximation of the Unicode general categories, not the full UCD:
//   * ASCII is exact.
//   * Whitespace (\s) is exact (the Unicode White_Space set).
//   * Numbers (\p{N}) cover the decimal digit blocks of the common scripts,
//     super/subscripts, vulgar fractions, Roman numerals, circled numbers,
//     fullwidth digits and CJK numerals.
//   * "Other" (punctuation, symbols, marks, controls, format, private use,
//     surrogates) covers Latin-1, combining marks, general punctuation,
//     currency, letterlike/arrows/math/box/shapes/dingbats, CJK symbols and
//     punctuation, fullwidth forms, emoji and pictographs, variation
//     selectors and the common Indic/Thai/Arabic/Hebrew vowel signs.
//   * Every other codepoint (assigned or not) counts as a letter. This is
//     right for Latin, Greek, Cyrillic, Armenian, Hebrew, Arabic, CJK, Kana,
//     Hangul and the letters of most scripts; rarer symbols or marks outside
//     the tables are treated as letters.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace vkrt::text {

enum class CharClass : uint8_t { whitespace, letter, number, other };

// Classifies one codepoint (see the approximation notes above).
CharClass char_class(uint32_t cp);
inline bool is_letter(uint32_t cp) { return char_class(cp) == CharClass::letter; }
inline bool is_number(uint32_t cp) { return char_class(cp) == CharClass::number; }
inline bool is_whitespace(uint32_t cp) { return char_class(cp) == CharClass::whitespace; }

// One decoded UTF-8 unit: the codepoint and its length in bytes. Invalid or
// truncated sequences decode as a 1-byte unit with cp = 0xFFFD (and valid = false),
// so the byte is never lost: callers keep working on byte offsets.
struct Utf8Char {
    uint32_t cp;
    uint32_t len;
    bool valid;
};
Utf8Char decode_utf8(std::string_view s, size_t pos);

// Length of the UTF-8 sequence started by lead byte `c` (1 for invalid lead bytes).
size_t utf8_len(unsigned char c);

// Appends the UTF-8 encoding of `cp` (cp <= 0x10FFFF) to `out`.
void append_utf8(std::string& out, uint32_t cp);

// ASCII-only lower-casing (enough for the (?i:'s|'t|...) contractions).
inline uint32_t ascii_lower(uint32_t cp) { return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp; }

}  // namespace vkrt::text
