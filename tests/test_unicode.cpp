// The committed Unicode tables (runtime/text/unicode_tables.inc) against the
// Unicode Character Database files of Debian's unicode-data package: the class
// and combining class of every code point, and NFC on every line of
// NormalizationTest.txt. A missing package fails (it is in scripts/debian-packages.txt).
#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.hpp"
#include "text/unicode.hpp"

using namespace vkrt;
using text::CharClass;

namespace {

constexpr uint32_t kMaxCp = 0x10FFFF;

std::string ucd(const char* file) { return std::string(VKRT_UCD_DIR) + "/" + file; }

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::string cur;
    std::istringstream ss(s);
    while (std::getline(ss, cur, sep)) out.push_back(cur);
    return out;
}

// Code points with a property in a UCD "lo..hi ; Property" file.
std::vector<bool> property(const char* file, const std::string& name) {
    std::ifstream in(ucd(file));
    REQUIRE_MESSAGE(in.good(), ucd(file), " not found (Debian: apt-get install unicode-data)");
    std::vector<bool> set(kMaxCp + 1, false);
    std::string line;
    while (std::getline(in, line)) {
        line = line.substr(0, line.find('#'));
        const auto f = split(line, ';');
        if (f.size() < 2) continue;
        std::string prop = f[1];
        prop.erase(0, prop.find_first_not_of(' '));
        prop.erase(prop.find_last_not_of(' ') + 1);
        if (prop != name) continue;
        const size_t dots = f[0].find("..");
        const uint32_t lo = std::stoul(f[0].substr(0, dots), nullptr, 16);
        const uint32_t hi = dots == std::string::npos ? lo : std::stoul(f[0].substr(dots + 2), nullptr, 16);
        for (uint32_t c = lo; c <= hi; ++c) set[c] = true;
    }
    return set;
}

struct Ucd {
    std::vector<std::string> gc = std::vector<std::string>(kMaxCp + 1, "Cn");
    std::vector<int> ccc = std::vector<int>(kMaxCp + 1, 0);
    Ucd() {
        std::ifstream in(ucd("UnicodeData.txt"));
        REQUIRE_MESSAGE(in.good(), ucd("UnicodeData.txt"), " not found (Debian: apt-get install unicode-data)");
        std::string line;
        uint32_t first = 0;
        bool range = false;
        while (std::getline(in, line)) {
            const auto f = split(line, ';');
            REQUIRE(f.size() >= 4);
            const uint32_t cp = std::stoul(f[0], nullptr, 16);
            if (f[1].find(", First>") != std::string::npos) {
                first = cp;
                range = true;
                continue;
            }
            const uint32_t lo = range ? first : cp;
            range = false;
            for (uint32_t c = lo; c <= cp; ++c) {
                gc[c] = f[2];
                ccc[c] = std::stoi(f[3]);
            }
        }
    }
};

std::string utf8(const std::string& hex_cps) {
    std::string out;
    std::istringstream ss(hex_cps);
    for (std::string h; ss >> h;) text::append_utf8(out, std::stoul(h, nullptr, 16));
    return out;
}

}  // namespace

TEST_CASE("every code point's class and combining class match the UCD") {
    const Ucd u;
    const std::vector<bool> white = property("PropList.txt", "White_Space");
    size_t mismatches = 0, assigned_letters = 0, assigned_other = 0;
    for (uint32_t cp = 0; cp <= kMaxCp; ++cp) {
        const char major = u.gc[cp][0];
        CharClass want = major == 'L' ? CharClass::letter : major == 'N' ? CharClass::number : CharClass::other;
        if (white[cp]) want = CharClass::whitespace;
        const CharClass got = text::char_class(cp);
        if (got != want || text::combining_class(cp) != u.ccc[cp]) {
            if (++mismatches <= 10) {
                MESSAGE("U+", std::hex, cp, ": ", u.gc[cp], " class ", int(got), " (want ", int(want), "), ccc ",
                        std::dec, int(text::combining_class(cp)), " (want ", u.ccc[cp], ")");
            }
        }
        if (u.gc[cp] != "Cn") (want == CharClass::letter ? assigned_letters : assigned_other)++;
    }
    CHECK(mismatches == 0);
    CHECK(assigned_letters > 130000);  // sanity: the UCD was read
    CHECK(assigned_other > 150000);    // marks, symbols, private use, ...
    CHECK(std::string(text::unicode_version()).find('.') != std::string::npos);
}

TEST_CASE("digits of many scripts are numbers, marks and symbols are not letters") {
    for (uint32_t base : {0x0030u, 0x0660u, 0x0966u, 0x0E50u, 0xA9D0u /* Javanese */, 0xABF0u /* Meetei Mayek */,
                          0x1E950u /* Adlam */, 0x1D7CEu, 0xFF10u}) {
        for (uint32_t d = 0; d < 10; ++d) {
            CAPTURE(base + d);
            CHECK(text::char_class(base + d) == CharClass::number);
        }
    }
    for (uint32_t cp : {0x0301u, 0x0951u, 0x1AB0u, 0x20DDu, 0xFE0Fu, 0xE0100u,  // marks
                        0x2211u, 0x00A9u, 0x20B9u, 0x1F600u, 0x1F3FDu, 0x2B50u,   // symbols
                        0xA9C1u, 0x1E95Eu, 0x0378u /* unassigned */}) {
        CAPTURE(cp);
        CHECK(text::char_class(cp) == CharClass::other);
    }
    CHECK(text::char_class(0x1E900) == CharClass::letter);  // ADLAM CAPITAL LETTER ALIF
    CHECK(text::char_class(0xABC0) == CharClass::letter);   // MEETEI MAYEK LETTER KOK
    CHECK(text::char_class(0x0085) == CharClass::whitespace);
    CHECK(text::char_class(0x110000) == CharClass::other);
}

TEST_CASE("NFC passes every line of NormalizationTest.txt") {
    // c2 == NFC(c1) == NFC(c2) == NFC(c3); c4 == NFC(c4) == NFC(c5)
    FILE* p = popen(("bzcat '" + ucd("NormalizationTest.txt.bz2") + "' 2>&1").c_str(), "r");
    REQUIRE(p != nullptr);
    std::string all;
    char buf[1 << 16];
    for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) all.append(buf, n);
    const int rc = pclose(p);
    REQUIRE_MESSAGE(rc == 0, "bzcat NormalizationTest.txt.bz2 failed: ", all.substr(0, 200));
    std::istringstream in(all);
    std::string line;
    size_t n = 0, bad = 0;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#' || line[0] == '@') continue;
        const auto f = split(line, ';');
        REQUIRE(f.size() >= 5);
        const std::string c1 = utf8(f[0]), c2 = utf8(f[1]), c3 = utf8(f[2]), c4 = utf8(f[3]), c5 = utf8(f[4]);
        const bool ok = text::nfc(c1) == c2 && text::nfc(c2) == c2 && text::nfc(c3) == c2 && text::nfc(c4) == c4 &&
                        text::nfc(c5) == c4;
        if (!ok && ++bad <= 10) MESSAGE("NormalizationTest line fails: ", line);
        ++n;
    }
    CHECK(n > 18000);
    CHECK(bad == 0);
}

TEST_CASE("NFC keeps invalid bytes and composes the common cases") {
    CHECK(text::nfc("cafe\xCC\x81") == "caf\xC3\xA9");
    CHECK(text::nfc("plain ascii") == "plain ascii");
    CHECK(text::nfc("\xE2\x84\xAB") == "\xC3\x85");                      // U+212B ANGSTROM SIGN -> U+00C5
    CHECK(text::nfc("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8") == "\xEA\xB0\x81");  // jamo -> U+AC01
    CHECK(text::nfc("e\xFF\xCC\x81") == "e\xFF\xCC\x81");                // nothing composes across a bad byte
    CHECK(text::nfc("\xCC\x81") == "\xCC\x81");                          // a lone mark stays
}
