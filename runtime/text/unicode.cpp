// Unicode classification, NFC and UTF-8 helpers (see unicode.hpp). The tables
// are generated from the Unicode Character Database (unicode_tables.inc).
#include "text/unicode.hpp"

#include <algorithm>
#include <iterator>
#include <unordered_map>
#include <vector>

namespace vkrt::text {

namespace {

struct DecompEntry {
    uint32_t cp;  // | 0x80000000 when excluded from composition
    uint32_t first, second;  // second = 0: singleton
};

#include "text/unicode_tables.inc"

constexpr uint32_t kExcluded = 0x80000000u;

// Value of the run (start << shift | value) that covers cp.
template <size_t N>
uint32_t run_value(const uint32_t (&table)[N], uint32_t cp, unsigned shift) {
    // first run starting after cp, then step back (table[0] starts at 0)
    auto it = std::upper_bound(std::begin(table), std::end(table), cp,
                               [shift](uint32_t v, uint32_t run) { return v < (run >> shift); });
    return *(it - 1) & ((1u << shift) - 1);
}

constexpr bool runs_sorted(const uint32_t* t, size_t n, unsigned shift) {
    if (n == 0 || (t[0] >> shift) != 0) return false;
    for (size_t i = 1; i < n; ++i) {
        if ((t[i - 1] >> shift) >= (t[i] >> shift)) return false;
    }
    return true;
}
static_assert(runs_sorted(kClassRuns, std::size(kClassRuns), 2), "kClassRuns must start at 0 and be sorted");
static_assert(runs_sorted(kCccRuns, std::size(kCccRuns), 8), "kCccRuns must start at 0 and be sorted");

constexpr bool decomp_sorted() {
    for (size_t i = 1; i < std::size(kDecomp); ++i) {
        if ((kDecomp[i - 1].cp & ~kExcluded) >= (kDecomp[i].cp & ~kExcluded)) return false;
    }
    return true;
}
static_assert(decomp_sorted(), "kDecomp must be sorted by code point");

const DecompEntry* find_decomp(uint32_t cp) {
    auto it = std::lower_bound(std::begin(kDecomp), std::end(kDecomp), cp,
                               [](const DecompEntry& e, uint32_t v) { return (e.cp & ~kExcluded) < v; });
    return it != std::end(kDecomp) && (it->cp & ~kExcluded) == cp ? it : nullptr;
}

// ---- Hangul (Unicode 3.12, conjoining jamo behaviour) ----
constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

void decompose(uint32_t cp, std::vector<uint32_t>& out) {
    if (cp >= kSBase && cp < kSBase + kSCount) {
        const uint32_t s = cp - kSBase;
        out.push_back(kLBase + s / kNCount);
        out.push_back(kVBase + (s % kNCount) / kTCount);
        if (s % kTCount) out.push_back(kTBase + s % kTCount);
        return;
    }
    if (const DecompEntry* d = find_decomp(cp)) {
        decompose(d->first, out);
        if (d->second) decompose(d->second, out);
        return;
    }
    out.push_back(cp);
}

// (starter, combining) -> primary composite, from the decompositions that are
// not excluded from composition.
const std::unordered_map<uint64_t, uint32_t>& composition_map() {
    static const std::unordered_map<uint64_t, uint32_t> map = [] {
        std::unordered_map<uint64_t, uint32_t> m;
        for (const DecompEntry& e : kDecomp) {
            if (e.second == 0 || (e.cp & kExcluded)) continue;
            m.emplace((uint64_t(e.first) << 32) | e.second, e.cp);
        }
        return m;
    }();
    return map;
}

// Composite of a + b, or 0.
uint32_t compose_pair(uint32_t a, uint32_t b) {
    if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount) {
        return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
    }
    if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase && b < kTBase + kTCount) {
        return a + (b - kTBase);
    }
    const auto& m = composition_map();
    auto it = m.find((uint64_t(a) << 32) | b);
    return it == m.end() ? 0 : it->second;
}

// NFC of one run of valid code points, in place.
void nfc_codepoints(std::vector<uint32_t>& cps) {
    std::vector<uint32_t> d;
    d.reserve(cps.size() + 8);
    for (uint32_t cp : cps) decompose(cp, d);
    // canonical ordering: stable sort of each run of non-starters by combining class
    for (size_t i = 0; i < d.size();) {
        if (combining_class(d[i]) == 0) {
            ++i;
            continue;
        }
        size_t j = i;
        while (j < d.size() && combining_class(d[j]) != 0) ++j;
        std::stable_sort(d.begin() + i, d.begin() + j,
                         [](uint32_t a, uint32_t b) { return combining_class(a) < combining_class(b); });
        i = j;
    }
    // canonical composition
    cps.clear();
    size_t starter = SIZE_MAX;  // index in cps of the last starter
    int last_ccc = -1;          // class of the last character kept after the starter
    for (uint32_t c : d) {
        const int ccc = combining_class(c);
        if (starter != SIZE_MAX) {
            // not blocked: nothing between, or everything between has a lower class
            const bool blocked = last_ccc != -1 && (last_ccc == 0 || last_ccc >= ccc);
            if (!blocked) {
                if (uint32_t comp = compose_pair(cps[starter], c)) {
                    cps[starter] = comp;
                    continue;
                }
            }
        }
        if (ccc == 0) {
            starter = cps.size();
            last_ccc = -1;
        } else {
            last_ccc = ccc;
        }
        cps.push_back(c);
    }
}

CharClass ascii_class(uint32_t c) {
    if (c == ' ' || (c >= 0x09 && c <= 0x0D)) return CharClass::whitespace;
    if (c >= '0' && c <= '9') return CharClass::number;
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) return CharClass::letter;
    return CharClass::other;
}

}  // namespace

// ---- classification ---------------------------------------------------------

CharClass char_class(uint32_t cp) {
    if (cp < 0x80) return ascii_class(cp);
    if (cp > 0x10FFFF) return CharClass::other;
    static constexpr CharClass kClasses[4] = {CharClass::other, CharClass::letter, CharClass::number,
                                              CharClass::whitespace};
    return kClasses[run_value(kClassRuns, cp, 2)];
}

uint8_t combining_class(uint32_t cp) {
    if (cp < 0x300 || cp > 0x10FFFF) return 0;
    return static_cast<uint8_t>(run_value(kCccRuns, cp, 8));
}

const char* unicode_version() { return kUcdVersion; }

// ---- NFC --------------------------------------------------------------------

std::string nfc(std::string_view s) {
    size_t pos = 0;
    for (; pos < s.size(); ++pos) {  // fast path: nothing at or above U+0300
        const auto b = static_cast<unsigned char>(s[pos]);
        if (b >= 0xCC) break;  // lead byte of U+0300 and above (or an invalid byte)
    }
    if (pos == s.size()) return std::string(s);
    std::string out;
    out.reserve(s.size());
    std::vector<uint32_t> cps;
    auto flush = [&] {
        nfc_codepoints(cps);
        for (uint32_t cp : cps) append_utf8(out, cp);
        cps.clear();
    };
    for (pos = 0; pos < s.size();) {
        const Utf8Char c = decode_utf8(s, pos);
        if (c.valid) {
            cps.push_back(c.cp);
        } else {  // keep the byte, compose nothing across it
            flush();
            out += s[pos];
        }
        pos += c.len;
    }
    flush();
    return out;
}

// ---- UTF-8 ------------------------------------------------------------------

size_t utf8_len(unsigned char c) {
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) return 2;
    if ((c & 0xF0) == 0xE0) return 3;
    if ((c & 0xF8) == 0xF0) return 4;
    return 1;  // continuation byte or invalid lead byte
}

Utf8Char decode_utf8(std::string_view s, size_t pos) {
    const auto b0 = static_cast<unsigned char>(s[pos]);
    const Utf8Char invalid{0xFFFD, 1, false};
    if (b0 < 0x80) return {b0, 1, true};
    const size_t len = utf8_len(b0);
    if (len == 1 || pos + len > s.size()) return invalid;
    uint32_t cp = b0 & (0xFF >> (len + 1));
    for (size_t i = 1; i < len; ++i) {
        const auto b = static_cast<unsigned char>(s[pos + i]);
        if ((b & 0xC0) != 0x80) return invalid;
        cp = (cp << 6) | (b & 0x3F);
    }
    // reject overlong forms, surrogates and out-of-range values
    static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return invalid;
    return {cp, static_cast<uint32_t>(len), true};
}

void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

TextPosition text_position(std::string_view s, size_t pos) {
    TextPosition p{1, 1};
    for (size_t i = 0; i < pos && i < s.size(); ++i) {
        if (s[i] == '\n') {
            ++p.line;
            p.column = 1;
        } else if ((uint8_t(s[i]) & 0xC0) != 0x80) {  // continuation bytes are not characters
            ++p.column;
        }
    }
    return p;
}

}  // namespace vkrt::text
