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
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "cli.hpp"
#include "core/error.hpp"
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
    "                 [--json-schema FILE] [--chat-template NAME]\n"
    "  without -p: interactive chat on stdin (an empty line or EOF ends it)\n"
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

// A line that starts with '/': handled here and true, or false for an ordinary message.
// (Commands that act on the session's state belong here: /undo, /regen, /save, /load.)
bool handle_command(const std::string& line, std::vector<vkrt::Message>& history) {
    if (line == "/reset") {
        history.erase(std::remove_if(history.begin(), history.end(),
                                     [](const vkrt::Message& m) { return m.role != "system"; }),
                      history.end());
        std::fputs("[conversation cleared]\n", stderr);
        return true;
    }
    return false;
}

// Multi-turn chat on stdin: each turn sends the whole conversation to vkrt::chat, which
// evaluates only what follows the cached prefix. A base model (no template, none given)
// continues each line as text instead.
int chat_loop(const ChatConfig& c) {
    vkrt::Context ctx;
    std::fprintf(stderr, "vkrt: %s\n", ctx.describe().substr(0, ctx.describe().find('\n')).c_str());
    const double t0 = cli::now_seconds();
    vkrt::Model model(ctx, c.model_path);
    vkrt_session_params sp = c.session;
    sp.n_ctx = c.n_ctx;
    vkrt::Session session(model, sp);
    const double load_s = cli::now_seconds() - t0;
    std::string style = c.chat_template.empty() ? vkrt::chat_template_name(model) : c.chat_template;
    const bool plain = c.chat_template.empty() && (style == "none" || style == "unknown");
    vkrt::GenerateOptions o;
    o.sampler = c.sampler;
    o.max_tokens = c.n_predict;
    o.json_schema = c.json_schema;
    o.chat_template = c.chat_template;
    std::fprintf(stderr, "vkrt: chat template: %s%s (empty line or EOF to quit; /reset clears the conversation)\n",
                 style.size() > 40 ? "(given)" : style.c_str(), plain ? " (plain completion)" : "");
    std::vector<vkrt::Message> history;
    if (!c.system.empty()) history.push_back({"system", c.system});
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
        if (line[0] == '/' && handle_command(line, history)) continue;
        const double t = cli::now_seconds();
        vkrt::GenerateResult r;
        if (plain) {
            r = vkrt::generate(session, line, o, print);
        } else {
            history.push_back({"user", line});
            r = vkrt::chat(session, history, o, print);
            history.push_back({"assistant", r.text});
        }
        gen_s += cli::now_seconds() - t;
        n_generated += r.n_generated;
        n_prompt += r.n_prompt;
        n_cached += r.n_cached;
        if (r.finish != VKRT_FINISH_EOG && r.finish != VKRT_FINISH_STOP_STRING)
            std::fprintf(stderr, "\n[%s]", r.finish_name());
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
