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
#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "cli.hpp"
#include "core/error.hpp"
#include "model/model.hpp"
#include "text/chat_template.hpp"
#include "text/sampler.hpp"

using namespace vkrt;

namespace {

const char* kUsage =
    "usage: vkrt-chat [-m MODEL.gguf] [-p PROMPT] [-n N] [-c CTX] [--temp T] [--top-k K]\n"
    "                 [--top-p P] [--min-p P] [--seed S] [--repeat-penalty R] [--repeat-last-n N]\n"
    "                 [-s SYSTEM] [--no-display-prompt] [-ctk f16|q8_0|f32] [-ctv f16|q8_0|f32]\n"
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
        std::vector<ChatMessage> history;
        if (!system.empty()) history.push_back({"system", system});
        std::string formatted_so_far;
        bool first = true;
        for (;;) {
            std::fputs("\n> ", stdout);
            std::fflush(stdout);
            std::string line;
            if (!std::getline(std::cin, line) || line.empty()) break;
            std::string text;
            if (plain) {
                text = line;  // base model: plain completion
            } else {
                history.push_back({"user", line});
                std::string all = apply_chat_template(style, history, true);
                text = all.substr(std::min(formatted_so_far.size(), all.size()));
                formatted_so_far = all;
            }
            auto ids = tok.encode(text, first, true);
            first = false;
            std::string reply = generate(session, sampler, ids, n_predict, stops, st);
            if (!plain) {
                // Keep the template's view of the conversation in step with the cache.
                history.push_back({"assistant", reply});
                formatted_so_far = apply_chat_template(style, history, false);
            }
        }
    }
    std::fprintf(stderr, "\nvkrt: load %.2f s | prefill %llu tokens %.1f tok/s | decode %llu tokens %.1f tok/s\n",
                 st.load_s, (unsigned long long)st.prefill_tokens,
                 st.prefill_s > 0 ? st.prefill_tokens / st.prefill_s : 0.0, (unsigned long long)st.decode_tokens,
                 st.decode_s > 0 ? st.decode_tokens / st.decode_s : 0.0);
    return 0;
}

}  // namespace

int main(int argc, char** argv) { return vkrt::cli::guarded_main("vkrt-chat", run, argc, argv); }
