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
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "cli.hpp"
#include "core/error.hpp"
#include "io/safe_write.hpp"
#include "model/model.hpp"
#include "model/session_state.hpp"
#include "text/chat_template.hpp"
#include "text/sampler.hpp"

using namespace vkrt;

namespace {

const char* kUsage =
    "usage: vkrt-chat [-m MODEL.gguf] [-p PROMPT] [-n N] [-c CTX] [--temp T] [--top-k K]\n"
    "                 [--top-p P] [--min-p P] [--seed S] [--repeat-penalty R] [--repeat-last-n N]\n"
    "                 [-s SYSTEM] [--no-display-prompt] [-ctk f16|q8_0|f32] [-ctv f16|q8_0|f32]\n"
    "                 [--keep N] [--no-context-shift]\n"
    "  without -p: interactive chat on stdin (an empty line or EOF ends it); commands:\n"
    "    /undo  drop the last exchange      /regen  answer the last message again\n"
    "    /save FILE  save the conversation   /load FILE  continue a saved one\n"
    "  Ctrl-C stops the reply (and quits while no reply runs); a conversation longer than -c\n"
    "  shifts the context as llama.cpp does (keeps the system prompt, drops half of the rest;\n"
    "  --keep N tokens instead, --no-context-shift ends it)\n"
    "  environment: VKRT_DEVICE=index|name, VKRT_DISABLE=dot,fp16,subgroup\n";

struct Stats {
    double load_s = 0, prefill_s = 0, decode_s = 0;
    uint64_t prefill_tokens = 0, decode_tokens = 0;
};

// ---------------------------------------------------------------- sessions
// Ctrl-C, /undo, /regen, /save, /load and the context shift of the interactive chat.

// The session a Ctrl-C cancels while a reply runs (the handler only stores to atomics);
// with none, Ctrl-C ends the program as before.
std::atomic<model::Session*> g_replying{nullptr};

extern "C" void on_sigint(int sig) {
    if (model::Session* s = g_replying.load()) {
        s->cancel();
        return;
    }
    std::signal(sig, SIG_DFL);
    std::raise(sig);
}

// While alive, Ctrl-C cancels the reply of `session` instead of ending the program.
struct ReplyScope {
    explicit ReplyScope(model::Session& s) {
        s.clear_cancel();
        g_replying.store(&s);
    }
    ~ReplyScope() { g_replying.store(nullptr); }
};

// The conversation beside the session's cache: the template's messages, and per exchange
// the tokens the session held before it and after its prompt (what /undo and /regen go
// back to; eval_prompt reuses the cached prefix, so going back costs at most one token).
struct Conversation {
    std::vector<ChatMessage> history;
    std::string formatted_so_far;  // the template text the cache holds (chat models)
    bool first = true;             // the next text starts the context (BOS)
    struct Exchange {
        std::vector<int32_t> before, prompt;      // session tokens before it, after its prompt
        size_t messages_before = 0;               // history size before its user message
        std::string formatted_before, formatted_prompt;
    };
    std::vector<Exchange> exchanges;
};

// Makes the session hold exactly `ids` (at least one token evaluated when not empty).
void rewind_to(model::Session& session, Sampler& sampler, const std::vector<int32_t>& ids) {
    if (ids.empty())
        session.reset();
    else
        session.eval_prompt(ids);
    sampler.set_history(session.tokens());
}

// A saved chat: the session state with the sampler and the messages as its extra section.
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

void save_chat(const model::Session& session, const Sampler& sampler, const Conversation& c, const std::string& path) {
    std::string extra = "vkrt-chat 1";
    put_string(extra, sampler.save_state());
    put_string(extra, std::to_string(c.history.size()));
    for (const ChatMessage& m : c.history) {
        put_string(extra, m.role);
        put_string(extra, m.content);
    }
    put_string(extra, c.formatted_so_far);
    const std::vector<uint8_t> blob = session.save_state(
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(extra.data()), extra.size()));
    io::write_file(path, std::string_view(reinterpret_cast<const char*>(blob.data()), blob.size()));
}

void load_chat(model::Session& session, Sampler& sampler, Conversation& c, const std::string& path) {
    const std::string file = [&] {
        std::FILE* f = std::fopen(path.c_str(), "rb");
        VKRT_CHECK(f, Status::io_error, "cannot open '", path, "'");
        std::string data;
        char buf[1 << 16];
        for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) data.append(buf, n);
        std::fclose(f);
        return data;
    }();
    const auto blob = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(file.data()), file.size());
    // Everything is parsed before the session changes.
    const model::StateView view = model::parse_state(blob);
    std::string_view in(reinterpret_cast<const char*>(view.extra.data()), view.extra.size());
    VKRT_CHECK(in.substr(0, 11) == "vkrt-chat 1", Status::bad_format, "'", path, "' is not a vkrt-chat conversation");
    in.remove_prefix(11);
    Sampler restored(sampler.params());
    restored.load_state(get_string(in, "sampler"));
    Conversation loaded;
    const std::string count = get_string(in, "message count");
    const size_t n = std::strtoull(count.c_str(), nullptr, 10);
    VKRT_CHECK(n <= in.size(), Status::bad_format, "saved chat: bad message count");
    for (size_t i = 0; i < n; ++i) {
        std::string role = get_string(in, "role");
        loaded.history.push_back({role, get_string(in, "message")});
    }
    loaded.formatted_so_far = get_string(in, "template text");
    session.load_state(blob);
    sampler = std::move(restored);
    loaded.first = session.pos() == 0;
    c = std::move(loaded);
}

// Evaluates a prompt; false when Ctrl-C cancelled it (the cache keeps the batches run).
bool prefill_or_cancel(model::Session& session, std::span<const int32_t> ids) {
    try {
        session.eval(ids);
        return true;
    } catch (const Error& e) {
        if (e.status() != Status::cancelled) throw;
        std::fprintf(stderr, "\n[cancelled: %u tokens in the context]", session.pos());
        return false;
    }
}

// The context shift of the interactive chat (llama.cpp's): keep `n_keep` tokens, by default
// BOS and the system prompt (its template text when it starts every rendering).
void set_context_shift(model::Session& session, const Tokenizer& tok, ChatStyle style, bool plain,
                       const std::string& system, bool enabled, int n_keep) {
    if (!enabled) return;
    uint32_t keep = n_keep >= 0 ? uint32_t(n_keep) : 1;
    if (n_keep < 0 && !plain && !system.empty()) {
        const std::vector<ChatMessage> sys_only{{"system", system}}, sys_user{{"system", system}, {"user", "x"}};
        const std::string sys = apply_chat_template(style, sys_only, false);
        const std::string with_user = apply_chat_template(style, sys_user, true);
        if (with_user.rfind(sys, 0) == 0) keep = uint32_t(tok.encode(sys, true, true).size());
    }
    session.set_overflow(model::Session::Overflow::shift, std::min(keep, session.n_ctx() / 2));
}

// A /command of the interactive chat; returns false for a line that is not one.
// `regen` is set when the last message is to be answered again.
bool chat_command(const std::string& line, model::Session& session, Sampler& sampler, Conversation& c, bool& regen) {
    regen = false;
    auto arg = [&](const char* cmd) {
        std::string a = line.substr(std::strlen(cmd));
        a.erase(0, a.find_first_not_of(' '));
        VKRT_CHECK(!a.empty(), Status::invalid_argument, cmd, " needs a file name");
        return a;
    };
    try {
        if (line == "/undo" || line == "/regen") {
            if (c.exchanges.empty()) {
                std::fprintf(stderr, "[nothing to %s]\n", line.c_str() + 1);
                return true;
            }
            const Conversation::Exchange e = c.exchanges.back();
            if (line == "/undo") {
                c.exchanges.pop_back();
                c.history.resize(std::min(c.history.size(), e.messages_before));
                c.formatted_so_far = e.formatted_before;
                rewind_to(session, sampler, e.before);
            } else {
                c.history.resize(std::min(c.history.size(), e.messages_before + 1));  // the user's message stays
                c.formatted_so_far = e.formatted_prompt;
                rewind_to(session, sampler, e.prompt);
                regen = true;
            }
            c.first = session.pos() == 0;
            std::fprintf(stderr, "[%s: %u tokens in the context]\n", line.c_str() + 1, session.pos());
        } else if (line.rfind("/save", 0) == 0) {
            const std::string path = arg("/save");
            save_chat(session, sampler, c, path);
            std::fprintf(stderr, "[saved %u tokens to %s]\n", session.pos(), path.c_str());
        } else if (line.rfind("/load", 0) == 0) {
            const std::string path = arg("/load");
            load_chat(session, sampler, c, path);
            std::fprintf(stderr, "[loaded %u tokens from %s]\n", session.pos(), path.c_str());
        } else {
            return false;
        }
    } catch (const Error& e) {
        std::fprintf(stderr, "[%s: %s]\n", line.c_str(), e.what());
    }
    return true;
}

// Prefill `ids`, then sample up to n_predict tokens, streaming their text.
// Returns the reply without its stop token or stop string.
// `after_prompt` (optional) gets the session's tokens once the prompt is evaluated.
std::string generate(model::Session& session, Sampler& sampler, const std::vector<int32_t>& ids, int n_predict,
                     const ChatStops& stops, Stats& st, std::vector<int32_t>* after_prompt = nullptr) {
    const Tokenizer& tok = session.model().tokenizer();
    const bool shift = session.overflow() == model::Session::Overflow::shift;
    VKRT_CHECK(shift ? ids.size() + session.n_keep() < session.n_ctx() : session.pos() + ids.size() < session.n_ctx(),
               Status::limit_exceeded, "the prompt (", ids.size(), " tokens) does not fit in the context (",
               shift ? session.n_ctx() - session.n_keep() : session.n_ctx() - session.pos(), " tokens left; raise -c)");
    const uint32_t shifts = session.shifts();
    double t0 = cli::now_seconds();
    if (!ids.empty() && !prefill_or_cancel(session, ids)) return {};
    st.prefill_s += cli::now_seconds() - t0;
    st.prefill_tokens += ids.size();
    for (int32_t t : ids) sampler.accept(t);
    if (after_prompt) *after_prompt = session.tokens();

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
        if (session.cancel_requested()) {
            std::fprintf(stderr, "\n[cancelled]");
            break;
        }
        int32_t t = sampler.sample(session.logits());
        sampler.accept(t);
        if (stops.is_stop_token(tok, t)) break;
        text += tok.token_to_piece(t);
        print_up_to(stops.reply_length(text, stop_string));
        if (stop_string) break;
        if (session.pos() >= session.n_ctx() && !shift) {
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
    if (session.shifts() != shifts)
        std::fprintf(stderr, "\n[context shifted %u time(s): kept the first %u tokens, dropped the oldest of the rest]",
                     session.shifts() - shifts, session.n_keep());
    return text;
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
    args.finish();
    VKRT_CHECK(n_ctx >= 0, Status::invalid_argument, "-c must be >= 0");

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
    const ChatStyle style = detect_chat_style(model.chat_template());
    const bool plain = style == ChatStyle::none || style == ChatStyle::unknown;
    const ChatStops stops = ChatStops::of(style, tok);

    if (prompt != "\x01") {
        // One-shot completion.
        auto ids = tok.encode(prompt, true, true);
        if (display_prompt) std::fwrite(prompt.data(), 1, prompt.size(), stdout);
        generate(session, sampler, ids, n_predict, stops, st);
        std::fputc('\n', stdout);
    } else {
        std::string eog;
        for (int32_t id : tok.eog_ids()) eog += " " + tok.token_text(id);
        for (int32_t id : stops.ids) {
            if (!tok.is_eog(id)) eog += " " + tok.token_text(id);
        }
        std::fprintf(stderr, "vkrt: chat template: %s, reply ends at:%s (empty line or EOF to quit)\n",
                     chat_style_name(style), eog.c_str());
        Conversation conv;
        std::vector<ChatMessage>& history = conv.history;
        std::string& formatted_so_far = conv.formatted_so_far;
        if (!system.empty()) history.push_back({"system", system});
        set_context_shift(session, tok, style, plain, system, context_shift, n_keep);
        std::signal(SIGINT, on_sigint);
        for (;;) {
            std::fputs("\n> ", stdout);
            std::fflush(stdout);
            std::string line;
            if (!std::getline(std::cin, line) || line.empty()) break;
            bool regen = false;
            if (line[0] == '/' && chat_command(line, session, sampler, conv, regen) && !regen) continue;
            std::vector<int32_t> ids;
            if (!regen) {
                conv.exchanges.push_back({session.tokens(), {}, history.size(), formatted_so_far, {}});
                std::string text;
                if (plain) {
                    text = line;  // base model: plain completion
                } else {
                    history.push_back({"user", line});
                    std::string all = apply_chat_template(style, history, true);
                    text = all.substr(std::min(formatted_so_far.size(), all.size()));
                    formatted_so_far = all;
                }
                ids = tok.encode(text, conv.first, true);
                conv.first = false;
            }
            std::string reply;
            {
                ReplyScope scope(session);
                conv.exchanges.back().formatted_prompt = formatted_so_far;
                reply = generate(session, sampler, ids, n_predict, stops, st, &conv.exchanges.back().prompt);
            }
            // A prompt cancelled by Ctrl-C: /regen answers what of it was evaluated.
            if (conv.exchanges.back().prompt.empty()) conv.exchanges.back().prompt = session.tokens();
            if (!plain) {
                // Keep the template's view of the conversation in step with the cache.
                history.push_back({"assistant", reply});
                formatted_so_far = apply_chat_template(style, history, false);
            }
        }
        std::signal(SIGINT, SIG_DFL);
    }
    std::fprintf(stderr, "\nvkrt: load %.2f s | prefill %llu tokens %.1f tok/s | decode %llu tokens %.1f tok/s\n",
                 st.load_s, (unsigned long long)st.prefill_tokens,
                 st.prefill_s > 0 ? st.prefill_tokens / st.prefill_s : 0.0, (unsigned long long)st.decode_tokens,
                 st.decode_s > 0 ? st.decode_tokens / st.decode_s : 0.0);
    return 0;
}

}  // namespace

int main(int argc, char** argv) { return vkrt::cli::guarded_main("vkrt-chat", run, argc, argv); }
