// vkrt-bench --grammar: the cost of constrained sampling on the CPU over a large vocabulary
// (bench.hpp). A synthetic byte-level vocabulary of n tokens (default 151936, Qwen2.5's size:
// every byte, ASCII words with and without a leading space, numbers, punctuation runs, JSON
// fragments, 1-3 CJK characters) stands in for a real one; a JSON Schema object is generated
// token by token (longest-match tokens of a fixed document), and each step times the mask
// (first visit of a grammar state: a walk of the vocabulary trie; later visits: the cached
// bitmask applied to the logits) and the accept.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "bench.hpp"
#include "core/error.hpp"
#include "text/grammar.hpp"
#include "text/json_schema.hpp"

namespace vkrt::bench {

namespace {

double now_ms() {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The calling thread's CPU time: what the mask costs on a machine shared with other jobs
// (wall time there counts the time slices the scheduler gave away).
double cpu_ms() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) * 1e-6;
}

std::vector<std::string> synthetic_vocab(int32_t n) {
    std::mt19937 rng(42);
    std::set<std::string> seen;
    std::vector<std::string> v;
    auto add = [&](std::string s) {
        if (!s.empty() && seen.insert(s).second) v.push_back(std::move(s));
    };
    for (int b = 0; b < 256; ++b) add(std::string(1, char(b)));
    for (const char* f : {"{\"", "\":", "\": ", "\",", "\", \"", "},", "}", "[\"", "\"]", "null", "true", "false",
                          "\n  ", "\n    ", "  ", "    ", "\n", ", ", ": "})
        add(f);
    const std::string letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const std::string punct = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
    std::uniform_int_distribution<int> kind(0, 9), len(1, 9);
    while (int32_t(v.size()) < n) {
        std::string s;
        const int k = kind(rng);
        if (k <= 5) {  // a word, half with a leading space
            if (k % 2) s += ' ';
            const int l = len(rng);
            for (int i = 0; i < l; ++i) s += letters[rng() % (i == 0 ? letters.size() : 26)];
            // One word in 16 ends in a quote, a newline or an escape, as code and JSON tokens
            // do (`name":`, `");\n`): inside a string the walk must follow each of them.
            static const char* const tails[] = {"\"", "\",", "\":", "\n", ".\n", "\\n", "\");", "\\"};
            if (rng() % 16 == 0) s += tails[rng() % 8];
        } else if (k == 6) {  // digits
            const int l = len(rng) % 4 + 1;
            for (int i = 0; i < l; ++i) s += char('0' + rng() % 10);
        } else if (k == 7) {  // punctuation
            const int l = len(rng) % 3 + 1;
            for (int i = 0; i < l; ++i) s += punct[rng() % punct.size()];
        } else {  // CJK (3-byte UTF-8), sometimes after a space
            if (k == 9) s += ' ';
            const int l = len(rng) % 3 + 1;
            for (int i = 0; i < l; ++i) {
                const uint32_t cp = 0x4E00 + rng() % 0x5000;
                s += char(0xE0 | (cp >> 12));
                s += char(0x80 | ((cp >> 6) & 0x3F));
                s += char(0x80 | (cp & 0x3F));
            }
        }
        add(std::move(s));
    }
    v.resize(size_t(n));
    return v;
}

}  // namespace

int run_grammar(int32_t n_vocab, int reps) {
    VKRT_CHECK(n_vocab >= 512, Status::invalid_argument, "--vocab must be >= 512");
    std::vector<std::string> vocab = synthetic_vocab(n_vocab - 1);
    vocab.emplace_back("");  // the end-of-generation token (a control token: no text)
    const std::vector<int32_t> ends = {n_vocab - 1};

    double t0 = now_ms();
    auto trie = std::make_shared<const grammar::VocabTrie>(vocab, ends);
    const double trie_ms = now_ms() - t0;

    const std::string schema = R"({"type": "object", "properties": {
        "name": {"type": "string"}, "age": {"type": "integer"}, "city": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "ok": {"type": "boolean"}}, "required": ["name", "age"]})";
    const std::string doc = "{\"name\": \"Zhang Wei \xE4\xB8\xAD\xE6\x96\x87 writes code\", \"age\": 42, "
                            "\"city\": \"Shanghai\", \"tags\": [\"a\", \"bb\", \"json\", \"llm\"], \"ok\": true}";
    t0 = now_ms();
    auto g = std::make_shared<const grammar::Grammar>(grammar::Grammar::parse(json::schema_to_gbnf(schema)));
    const double compile_ms = now_ms() - t0;

    // The document as the longest tokens of the vocabulary at each point (a tokenizer stand-in).
    std::vector<int32_t> ids;
    for (size_t at = 0; at < doc.size();) {
        int32_t best = -1;
        size_t best_len = 0;
        for (int32_t t = 0; t < n_vocab; ++t) {
            const std::string& s = vocab[size_t(t)];
            if (s.size() > best_len && doc.compare(at, s.size(), s) == 0) {
                best = t;
                best_len = s.size();
            }
        }
        ids.push_back(best);
        at += best_len;
    }
    ids.push_back(n_vocab - 1);

    std::printf("vocabulary: %d tokens (synthetic), trie of %zu nodes (%zu distinct subtree summaries) built in %.1f ms; "
                "schema compiled in %.2f ms\n",
                n_vocab, trie->n_nodes(), trie->below().size(), trie_ms, compile_ms);
    std::printf("document: %zu bytes, %zu tokens\n\n", doc.size(), ids.size());
    // Per step: the check of the drawn token alone (what a step costs while the model follows
    // the grammar: the generation loop masks only when a draw is refused), then the full mask
    // (what a refused draw adds): a first visit of a grammar state walks the trie, a later one
    // applies the cached bitmask. Each rep runs the matcher as the runtime does ("shortcut":
    // subtrees a state loops over are taken whole) and with the plain walk of every allowed
    // node ("full walk"), so the two compare on the same machine at the same time. Times are
    // the thread's CPU time.
    std::printf("| rep | walk | steps | check (us) | first-visit masks | mean first-visit (ms) | max (ms) | nodes "
                "walked (max) | subtrees whole (max) | scans | mean cached mask (ms) | accept (us) |\n"
                "|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    std::vector<float> logits(static_cast<size_t>(n_vocab));
    for (int rep = 0; rep < reps; ++rep) {
        for (const bool shortcut : {true, false}) {
            grammar::Matcher m(g, trie);
            m.set_subtree_shortcut(shortcut);
            double check = 0, first = 0, first_max = 0, cached = 0, accept = 0;
            size_t max_walked = 0, max_whole = 0;
            int n_first = 0, n_cached = 0;
            for (int32_t t : ids) {
                double a = cpu_ms();
                const bool ok = m.allows_one(t);
                check += cpu_ms() - a;
                VKRT_CHECK(ok, Status::internal, "grammar bench: token ", t, " refused");
                std::fill(logits.begin(), logits.end(), 0.0f);
                const size_t before = m.cached_masks(), walked = m.walked_nodes(), whole = m.whole_subtrees();
                a = cpu_ms();
                m.mask(logits);
                const double dt = cpu_ms() - a;
                if (m.cached_masks() != before) {
                    first += dt;
                    if (dt > first_max) {
                        first_max = dt;
                        max_walked = m.walked_nodes() - walked;
                        max_whole = m.whole_subtrees() - whole;
                    }
                    ++n_first;
                } else {
                    cached += dt;
                    ++n_cached;
                }
                VKRT_CHECK(logits[size_t(t)] == 0.0f, Status::internal, "grammar bench: token ", t, " masked");
                a = cpu_ms();
                m.accept(t);
                accept += cpu_ms() - a;
            }
            const double n = double(ids.size());
            std::printf("| %d | %s | %zu | %.2f | %d | %.3f | %.3f | %zu | %zu | %zu | %.3f | %.2f |\n", rep,
                        shortcut ? "shortcuts" : "full walk", ids.size(), 1000 * check / n, n_first,
                        n_first ? first / n_first : 0.0, first_max, max_walked, max_whole, m.scans(),
                        n_cached ? cached / n_cached : 0.0, 1000 * accept / n);
        }
    }
    return 0;
}

}  // namespace vkrt::bench
