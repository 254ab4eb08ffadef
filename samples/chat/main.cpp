// vkrt-chat: chat with (or complete text from) a GGUF model on the GPU.
//
//   vkrt-chat                              chat with the default model (stories260K)
//   vkrt-chat -m model.gguf -p "Once upon a time" -n 128     one-shot completion
//
// Flags follow llama.cpp: -m -p -n -c --temp --top-k --top-p --min-p --seed
// --repeat-penalty --repeat-last-n -ctk -ctv. The chat template comes from the model's
// tokenizer.chat_template (ChatML for Qwen, Llama-2, Llama-3, Gemma, Phi-3, Zephyr);
// a base model without one gets plain completion of each line. A reply ends at an
// end-of-generation token of the vocabulary (eos, <|eot_id|>, <|im_end|>,
// <end_of_turn>, <|end|>, ...), at the template's own stop token, or when the
// text spells out one of the template's stop strings.
//
// The interactive chat runs on the public chat API (include/vkrt/vkrt.hpp: vkrt::chat over the
// message list, reusing the cached prefix each turn), as an app would; --json-schema FILE
// constrains every reply (and a -p completion) to that JSON Schema, --chat-template NAME
// overrides the model's template (chatml, llama3, gemma, ... or Jinja text).
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <pthread.h>
#include <signal.h>

#include "cli.hpp"
#include "core/error.hpp"
#include "io/safe_write.hpp"
#include "model/model.hpp"
#include "text/chat_template.hpp"
#include "text/sampler.hpp"
#include "vkrt/vkrt.hpp"

using namespace vkrt;

namespace {

const char* kUsage =
    "usage: vkrt-chat [-m MODEL.gguf] [-p PROMPT] [-n N] [-c CTX] [--temp T] [--top-k K]\n"
    "                 [--top-p P] [--min-p P] [--seed S] [--repeat-penalty R] [--repeat-last-n N]\n"
    "                 [-s SYSTEM] [--no-display-prompt] [-ctk f16|q8_0|f32] [-ctv f16|q8_0|f32]\n"
    "                 [--json-schema FILE] [--chat-template NAME] [--keep N] [--no-context-shift]\n"
    "  without -p: interactive chat on stdin (an empty line or EOF ends it); commands:\n"
    "    /undo  drop the last exchange      /regen  answer the last message again\n"
    "    /save FILE  save the conversation   /load FILE  continue a saved one\n"
    "    /reset  clear the conversation (the system prompt stays)\n"
    "  Ctrl-C stops the reply (and quits while no reply runs); a conversation longer than -c\n"
    "  shifts the context as llama.cpp does (keeps the system prompt, drops half of the rest;\n"
    "  --keep N tokens instead, --no-context-shift ends it)\n"
    "  environment: VKRT_DEVICE=index|name, VKRT_DISABLE=dot,fp16,subgroup\n";

struct Stats {
    double load_s = 0, prefill_s = 0, decode_s = 0;
    uint64_t prefill_tokens = 0, decode_tokens = 0;
};

// Prefill `ids`, then sample up to n_predict tokens, streaming their text.
// Returns the reply without its stop token or stop string.
std::string generate(model::Session& session, Sampler& sampler, const std::vector<int32_t>& ids, int n_predict,
                     const ChatStops& stops, Stats& st) {
    const Tokenizer& tok = session.model().tokenizer();
    VKRT_CHECK(session.pos() + ids.size() < session.n_ctx(), Status::limit_exceeded, "the prompt (", ids.size(),
               " tokens) does not fit in the context (", session.n_ctx() - session.pos(), " tokens left; raise -c)");
    double t0 = cli::now_seconds();
    if (!ids.empty()) session.eval(ids);
    st.prefill_s += cli::now_seconds() - t0;
    st.prefill_tokens += ids.size();
    for (int32_t t : ids) sampler.accept(t);

    t0 = cli::now_seconds();
    std::string text;
    size_t printed = 0;
    bool stop_string = false;
    auto print_up_to = [&](size_t end) {
        if (end > printed) std::fwrite(text.data() + printed, 1, end - printed, stdout);
        printed = std::max(printed, end);
        std::fflush(stdout);
    };
    for (int i = 0; n_predict < 0 || i < n_predict; ++i) {
        int32_t t = sampler.sample(session.logits());
        sampler.accept(t);
        if (stops.is_stop_token(tok, t)) break;
        text += tok.token_to_piece(t);
        print_up_to(stops.reply_length(text, stop_string));
        if (stop_string) break;
        if (session.pos() >= session.n_ctx()) {
            std::fprintf(stderr, "\n[context full: %u tokens]\n", session.n_ctx());
            break;
        }
        session.eval(std::span<const int32_t>(&t, 1));
        ++st.decode_tokens;
    }
    if (stop_string) {
        text.resize(stops.reply_length(text, stop_string));
    } else {
        print_up_to(text.size());
    }
    st.decode_s += cli::now_seconds() - t0;
    return text;
}

// ---- the chat through the public API (vkrt.hpp) ----------------------------------------

struct ChatConfig {
    std::string model_path, system, json_schema, chat_template, prompt;
    int n_predict = 256, n_ctx = 0;
    bool context_shift = true;  // past n_ctx: shift (keep n_keep tokens), else end the reply
    int n_keep = -1;            // -1: BOS and the system prompt
    vkrt_session_params session = vkrt_session_default_params();
    vkrt_sampler_params sampler = vkrt_sampler_default_params();
};

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    VKRT_CHECK(f.good(), Status::io_error, "cannot read ", path);
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// ---------------------------------------------------------------- sessions
// Ctrl-C, /undo, /regen, /save, /load and the context shift of the interactive chat, on the
// session calls of vkrt.hpp (truncate / eval_prompt, cancel, state) as an app uses them.

// The session whose reply a Ctrl-C cancels; none: Ctrl-C ends the program.
std::atomic<vkrt_session*> g_replying{nullptr};

// SIGINT is blocked in every thread and taken by one watcher thread (sigwait), which may
// call into the library; a signal handler may not (vkrt_session_cancel takes a lock).
void watch_ctrl_c() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);  // before any other thread starts: all inherit it
    std::thread([set] {
        for (;;) {
            int sig = 0;
            if (sigwait(&set, &sig) != 0) continue;
            if (vkrt_session* s = g_replying.load()) {
                vkrt_session_cancel(s);
            } else {
                std::fputs("\n", stdout);
                std::fflush(stdout);
                std::_Exit(130);  // as the default action would, with the status a shell expects
            }
        }
    }).detach();
}

// While alive, Ctrl-C cancels the reply of `s` instead of ending the program.
struct ReplyScope {
    explicit ReplyScope(vkrt::Session& s) { g_replying.store(s.get()); }
    ~ReplyScope() { g_replying.store(nullptr); }
};

// The conversation beside the session's cache: the messages, and per exchange the tokens
// the session held before it and after its prompt (what /undo and /regen go back to; the
// session's eval_prompt reuses the cached prefix, so going back costs at most one token).
struct Conversation {
    std::vector<vkrt::Message> history;
    struct Exchange {
        std::vector<int32_t> before, prompt;  // session tokens before it, after its prompt
        size_t messages_before = 0;           // history size before its user message
        std::string line;                     // the user's text (a base model's prompt)
    };
    std::vector<Exchange> exchanges;  // since the last context shift (positions moved then)
};

// Makes the session hold exactly `ids`, the last one evaluated (its logits are the next
// reply's start).
void rewind_to(vkrt::Session& session, const std::vector<int32_t>& ids) {
    if (ids.empty())
        session.reset();
    else
        session.eval_prompt(ids);
}

// A saved chat: "vkrt-chat 2", the messages, then the session's state (KV rows, tokens,
// sampler), which vkrt_session_state_set checks (model, cache types, n_ctx, checksum).
void put_string(std::string& out, const std::string& s) {
    const uint64_t n = s.size();
    out.append(reinterpret_cast<const char*>(&n), 8);
    out += s;
}
std::string get_string(std::string_view& in, const char* what) {
    uint64_t n = 0;
    VKRT_CHECK(in.size() >= 8, Status::bad_format, "saved chat: truncated ", what);
    std::memcpy(&n, in.data(), 8);
    VKRT_CHECK(in.size() - 8 >= n, Status::bad_format, "saved chat: truncated ", what);
    std::string s(in.substr(8, n));
    in.remove_prefix(8 + n);
    return s;
}
constexpr std::string_view kChatMagic = "vkrt-chat 2";

void save_chat(const vkrt::Session& session, const Conversation& c, const std::string& path) {
    std::string out(kChatMagic);
    put_string(out, std::to_string(c.history.size()));
    for (const vkrt::Message& m : c.history) {
        put_string(out, m.role);
        put_string(out, m.content);
    }
    const std::vector<uint8_t> state = session.state();
    out.append(reinterpret_cast<const char*>(state.data()), state.size());
    io::write_file(path, out);
}

void load_chat(vkrt::Session& session, Conversation& c, const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    VKRT_CHECK(f.good(), Status::io_error, "cannot open '", path, "'");
    std::ostringstream ss;
    ss << f.rdbuf();
    const std::string file = ss.str();
    std::string_view in(file);
    VKRT_CHECK(in.substr(0, kChatMagic.size()) == kChatMagic, Status::bad_format, "'", path,
               "' is not a vkrt-chat conversation");
    in.remove_prefix(kChatMagic.size());
    Conversation loaded;
    const std::string count = get_string(in, "message count");
    const size_t n = std::strtoull(count.c_str(), nullptr, 10);
    VKRT_CHECK(n <= in.size(), Status::bad_format, "saved chat: bad message count");
    for (size_t i = 0; i < n; ++i) {
        std::string role = get_string(in, "role");
        loaded.history.push_back({role, get_string(in, "message")});
    }
    // Everything of the file is read and the state checked before the session changes.
    session.set_state(std::vector<uint8_t>(in.begin(), in.end()));
    c = std::move(loaded);
}

// The tokens a context shift keeps (llama.cpp's n_keep): --keep N, else BOS and the system
// prompt's template text when every rendering starts with it.
int32_t keep_tokens(const vkrt::Model& model, const std::string& style, bool plain, const std::string& system,
                    int n_keep) {
    if (n_keep >= 0) return n_keep;
    if (plain || system.empty()) return 1;
    const std::vector<vkrt::Message> sys_only{{"system", system}}, sys_user{{"system", system}, {"user", "x"}};
    const std::string sys = vkrt::apply_chat_template(model, sys_only, false, style);
    const std::string with_user = vkrt::apply_chat_template(model, sys_user, true, style);
    return with_user.rfind(sys, 0) == 0 ? int32_t(model.tokenize(sys, true, true).size()) : 1;
}

// A line that starts with '/': handled here and true, or false for an ordinary message.
// `regen` is set when the last user message is to be answered again.
bool handle_command(const std::string& line, vkrt::Session& session, Conversation& c, bool& regen) {
    regen = false;
    auto arg = [&](const char* cmd) {
        std::string a = line.substr(std::strlen(cmd));
        a.erase(0, a.find_first_not_of(' '));
        VKRT_CHECK(!a.empty(), Status::invalid_argument, cmd, " needs a file name");
        return a;
    };
    try {
        if (line == "/reset") {
            c.history.erase(std::remove_if(c.history.begin(), c.history.end(),
                                           [](const vkrt::Message& m) { return m.role != "system"; }),
                            c.history.end());
            c.exchanges.clear();
            session.reset();
            std::fputs("[conversation cleared]\n", stderr);
        } else if (line == "/undo" || line == "/regen") {
            if (c.exchanges.empty()) {
                std::fprintf(stderr, "[nothing to %s%s]\n", line.c_str() + 1,
                             c.history.size() > 1 ? " since the last context shift" : "");
                return true;
            }
            const Conversation::Exchange e = c.exchanges.back();
            if (line == "/undo") {
                c.exchanges.pop_back();
                c.history.resize(std::min(c.history.size(), e.messages_before));
                rewind_to(session, e.before);
            } else {
                c.history.resize(std::min(c.history.size(), e.messages_before + 1));  // the user's message stays
                rewind_to(session, e.prompt);
                regen = true;
            }
            std::fprintf(stderr, "[%s: %d tokens in the context]\n", line.c_str() + 1, session.pos());
        } else if (line.rfind("/save", 0) == 0) {
            const std::string path = arg("/save");
            save_chat(session, c, path);
            std::fprintf(stderr, "[saved %d tokens to %s]\n", session.pos(), path.c_str());
        } else if (line.rfind("/load", 0) == 0) {
            const std::string path = arg("/load");
            load_chat(session, c, path);
            std::fprintf(stderr, "[loaded %d tokens from %s]\n", session.pos(), path.c_str());
        } else {
            return false;
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "[%s: %s]\n", line.c_str(), e.what());
    }
    return true;
}

// Multi-turn chat on stdin: each turn sends the whole conversation to vkrt::chat, which
// evaluates only what follows the cached prefix and shifts a full context. A base model (no
// template, none given) continues each line as text instead.
int chat_loop(const ChatConfig& c) {
    watch_ctrl_c();
    vkrt::Context ctx;
    std::fprintf(stderr, "vkrt: %s\n", ctx.describe().substr(0, ctx.describe().find('\n')).c_str());
    const double t0 = cli::now_seconds();
    vkrt::Model model(ctx, c.model_path);
    std::string style = c.chat_template.empty() ? vkrt::chat_template_name(model) : c.chat_template;
    const bool plain = c.chat_template.empty() && (style == "none" || style == "unknown");
    vkrt_session_params sp = c.session;
    sp.n_ctx = c.n_ctx;
    if (c.context_shift) {
        const int32_t n_ctx = c.n_ctx ? c.n_ctx : std::min(vkrt_model_n_ctx_train(model.get()), 4096);
        sp.overflow = VKRT_OVERFLOW_SHIFT;
        sp.n_keep = std::min(keep_tokens(model, plain ? "" : style, plain, c.system, c.n_keep), n_ctx / 2);
    }
    vkrt::Session session(model, sp);
    const double load_s = cli::now_seconds() - t0;
    vkrt::GenerateOptions o;
    o.sampler = c.sampler;
    o.max_tokens = c.n_predict;
    o.json_schema = c.json_schema;
    o.chat_template = c.chat_template;
    std::fprintf(stderr, "vkrt: chat template: %s%s (empty line or EOF to quit; /undo /regen /reset /save /load)\n",
                 style.size() > 40 ? "(given)" : style.c_str(), plain ? " (plain completion)" : "");
    Conversation conv;
    if (!c.system.empty()) conv.history.push_back({"system", c.system});
    auto print = [](const vkrt_token_info& info) {
        std::fwrite(info.text, 1, info.text_length, stdout);
        std::fflush(stdout);
        return true;
    };
    double gen_s = 0;
    long long n_generated = 0, n_prompt = 0, n_cached = 0;
    for (;;) {
        std::fputs("\n> ", stdout);
        std::fflush(stdout);
        std::string line;
        if (!std::getline(std::cin, line) || line.empty()) break;
        bool regen = false;
        if (line[0] == '/' && handle_command(line, session, conv, regen) && !regen) continue;
        if (!regen) {
            conv.exchanges.push_back({session.tokens(), {}, conv.history.size(), line});
            if (!plain) conv.history.push_back({"user", line});
        }
        Conversation::Exchange& ex = conv.exchanges.back();
        const double t = cli::now_seconds();
        vkrt::GenerateResult r;
        {
            ReplyScope scope(session);
            // A base model's regen continues from the rewound prompt (its logits are there).
            r = plain ? vkrt::generate(session, regen ? "" : line, o, print) : vkrt::chat(session, conv.history, o, print);
        }
        gen_s += cli::now_seconds() - t;
        n_generated += r.n_generated;
        n_prompt += r.n_prompt;
        n_cached += r.n_cached;
        if (!plain) conv.history.push_back({"assistant", r.text});
        const uint32_t events = session.events();
        if (events & VKRT_SESSION_EVENT_SHIFTED) {
            // Positions moved: the exchanges' token lists no longer describe the cache.
            std::fprintf(stderr, "\n[context shifted: kept the first %d tokens, dropped the oldest of the rest]",
                         sp.n_keep);
            conv.exchanges.clear();
        } else if (!regen) {
            // The prompt's tokens: from position 0 for a chat turn (the whole conversation), after
            // what the session held for a base model's line; fewer when Ctrl-C stopped the prompt.
            const std::vector<int32_t> now = session.tokens();
            const size_t n = std::min(now.size(), plain ? ex.before.size() + size_t(r.n_prompt) : size_t(r.n_prompt));
            ex.prompt.assign(now.begin(), now.begin() + ptrdiff_t(n));
        }
        if (r.finish != VKRT_FINISH_EOG && r.finish != VKRT_FINISH_STOP_STRING)
            std::fprintf(stderr, "\n[%s: %d tokens in the context]", r.finish_name(), session.pos());
    }
    std::fprintf(stderr, "\nvkrt: load %.2f s | %lld prompt tokens (%lld from the cache) | decode %lld tokens | "
                 "%.1f tok/s overall\n", load_s, n_prompt, n_cached, n_generated,
                 gen_s > 0 ? double(n_generated) / gen_s : 0.0);
    return 0;
}

// One completion of -p under a JSON Schema through the public API.
int constrained_completion(const ChatConfig& c, bool display_prompt) {
    vkrt::Context ctx;
    vkrt::Model model(ctx, c.model_path);
    vkrt_session_params sp = c.session;
    sp.n_ctx = c.n_ctx;
    vkrt::Session session(model, sp);
    vkrt::GenerateOptions o;
    o.sampler = c.sampler;
    o.max_tokens = c.n_predict;
    o.json_schema = c.json_schema;
    if (display_prompt) std::fwrite(c.prompt.data(), 1, c.prompt.size(), stdout);
    const vkrt::GenerateResult r = vkrt::generate(session, c.prompt, o, [](const vkrt_token_info& info) {
        std::fwrite(info.text, 1, info.text_length, stdout);
        std::fflush(stdout);
        return true;
    });
    std::fprintf(stderr, "\nvkrt: %d tokens, finish: %s\n", r.n_generated, r.finish_name());
    return 0;
}

int run(int argc, char** argv) {
    cli::Args args(argc, argv);
    if (args.flag("-h") || args.flag("--help")) {
        std::fputs(kUsage, stdout);
        return 0;
    }
    const std::string model_path = args.str("-m", "--model", cli::default_model_path());
    const std::string prompt = args.str("-p", "--prompt", "\x01");
    const int n_predict = int(args.integer("-n", "--n-predict", 256, 0, INT32_MAX));
    const int n_ctx = int(args.integer("-c", "--ctx-size", 0, 0, INT32_MAX));
    const KvCacheTypes kv_types = cli::kv_cache_types(args);
    const std::string system = args.str("-s", "--system", "");
    const bool display_prompt = !args.flag("--no-display-prompt");
    const bool context_shift = !args.flag("--no-context-shift");
    const int n_keep = int(args.integer("--keep", "", -1, -1, INT32_MAX));
    SamplerParams sp;
    sp.temperature = float(args.number("--temp", "", sp.temperature));
    sp.top_k = int(args.integer("--top-k", "", sp.top_k));
    sp.top_p = float(args.number("--top-p", "", sp.top_p));
    sp.min_p = float(args.number("--min-p", "", sp.min_p));
    sp.repeat_penalty = float(args.number("--repeat-penalty", "", sp.repeat_penalty));
    sp.repeat_last_n = int(args.integer("--repeat-last-n", "", sp.repeat_last_n, -1, INT32_MAX));
    sp.seed = uint64_t(args.integer("--seed", "-s-seed", int64_t(sp.seed), INT64_MIN, INT64_MAX));
    const std::string schema_file = args.str("--json-schema", "", "");
    const std::string chat_template = args.str("--chat-template", "", "");
    args.finish();
    VKRT_CHECK(n_ctx >= 0, Status::invalid_argument, "-c must be >= 0");
    if (prompt == "\x01" || !schema_file.empty()) {
        ChatConfig c;
        c.model_path = model_path;
        c.system = system;
        c.prompt = prompt;
        c.chat_template = chat_template;
        c.n_predict = n_predict;
        c.n_ctx = n_ctx;
        c.context_shift = context_shift;
        c.n_keep = n_keep;
        if (!schema_file.empty()) {
            c.json_schema = read_file(schema_file);
            VKRT_CHECK(vkrt_grammar_check(nullptr, c.json_schema.c_str()) == VKRT_OK, Status::invalid_argument,
                       schema_file, ": ", vkrt_last_error());
        }
        c.session.type_k = kv_types.k == ops::KvType::f32 ? VKRT_CACHE_F32
                           : kv_types.k == ops::KvType::q8_0 ? VKRT_CACHE_Q8_0 : VKRT_CACHE_F16;
        c.session.type_v = kv_types.v == ops::KvType::f32 ? VKRT_CACHE_F32
                           : kv_types.v == ops::KvType::q8_0 ? VKRT_CACHE_Q8_0 : VKRT_CACHE_F16;
        c.sampler.temperature = sp.temperature;
        c.sampler.top_k = sp.top_k;
        c.sampler.top_p = sp.top_p;
        c.sampler.min_p = sp.min_p;
        c.sampler.repeat_penalty = sp.repeat_penalty;
        c.sampler.repeat_last_n = sp.repeat_last_n;
        c.sampler.seed = sp.seed;
        return prompt == "\x01" ? chat_loop(c) : constrained_completion(c, display_prompt);
    }

    Stats st;
    double t0 = cli::now_seconds();
    Device dev;
    std::fprintf(stderr, "vkrt: device %s\n", dev.caps().name.c_str());
    model::Model model(dev, model_path, [](float f) {
        std::fprintf(stderr, "\rvkrt: loading model %3d%%", int(f * 100.0f + 0.5f));
        std::fflush(stderr);
    });
    std::fprintf(stderr, "\nvkrt: %s\n", model.describe().c_str());
    model::Session session(model, uint32_t(n_ctx), 512, kv_types);
    std::fprintf(stderr, "vkrt: memory: %s\n", cli::memory_report(model, session).c_str());
    st.load_s = cli::now_seconds() - t0;
    Sampler sampler(sp);
    const Tokenizer& tok = model.tokenizer();
    const ChatStops stops = ChatStops::of(detect_chat_style(model.chat_template()), tok);

    // One-shot completion (the interactive chat is chat_loop above).
    auto ids = tok.encode(prompt, true, true);
    if (display_prompt) std::fwrite(prompt.data(), 1, prompt.size(), stdout);
    generate(session, sampler, ids, n_predict, stops, st);
    std::fputc('\n', stdout);
    std::fprintf(stderr, "\nvkrt: load %.2f s | prefill %llu tokens %.1f tok/s | decode %llu tokens %.1f tok/s\n",
                 st.load_s, (unsigned long long)st.prefill_tokens,
                 st.prefill_s > 0 ? st.prefill_tokens / st.prefill_s : 0.0, (unsigned long long)st.decode_tokens,
                 st.decode_s > 0 ? st.decode_tokens / st.decode_s : 0.0);
    return 0;
}

}  // namespace

int main(int argc, char** argv) { return vkrt::cli::guarded_main("vkrt-chat", run, argc, argv); }
