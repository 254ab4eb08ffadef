// Chat template detection and rendering (mirrors llama.cpp's llama-chat.cpp for
// the styles vkrt supports; anything else is reported as ChatStyle::unknown).
#include "text/chat_template.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include "gguf/gguf.hpp"
#include "text/tokenizer.hpp"

namespace vkrt {

namespace {

// Trim the characters C isspace() accepts (as llama.cpp's trim()).
std::string trim(std::string_view s) {
    auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; };
    size_t b = 0, e = s.size();
    while (b < e && space(s[b])) ++b;
    while (e > b && space(s[e - 1])) --e;
    return std::string(s.substr(b, e - b));
}

constexpr std::pair<std::string_view, ChatStyle> kNames[] = {
    {"chatml", ChatStyle::chatml},
    {"llama2", ChatStyle::llama2},
    {"llama2-sys", ChatStyle::llama2_sys},
    {"llama2-sys-bos", ChatStyle::llama2_sys_bos},
    {"llama2-sys-strip", ChatStyle::llama2_sys_strip},
    {"llama3", ChatStyle::llama3},
    {"phi3", ChatStyle::phi3},
    {"zephyr", ChatStyle::zephyr},
    {"gemma", ChatStyle::gemma},
};

// ---- renderers ------------------------------------------------------------------------

std::string render_chatml(std::span<const ChatMessage> msgs, bool add_ass) {
    std::string s;
    for (const auto& m : msgs) s += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
    if (add_ass) s += "<|im_start|>assistant\n";
    return s;
}

std::string render_llama2(ChatStyle style, std::span<const ChatMessage> msgs) {
    const bool system_support = style != ChatStyle::llama2;
    const bool bos_inside = style == ChatStyle::llama2_sys_bos;
    const bool strip = style == ChatStyle::llama2_sys_strip;
    std::string s = "[INST] ";
    bool inside_turn = true;  // the caller's BOS opens the first turn
    for (const auto& m : msgs) {
        const std::string content = strip ? trim(m.content) : m.content;
        if (!inside_turn) {
            inside_turn = true;
            s += bos_inside ? "<s>[INST] " : "[INST] ";
        }
        if (m.role == "system") {
            s += system_support ? "<<SYS>>\n" + content + "\n<</SYS>>\n\n" : content + "\n";
        } else if (m.role == "user") {
            s += content + " [/INST]";
        } else {
            s += content + "</s>";
            inside_turn = false;
        }
    }
    return s;
}

std::string render_llama3(std::span<const ChatMessage> msgs, bool add_ass) {
    std::string s;
    for (const auto& m : msgs) {
        s += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + trim(m.content) + "<|eot_id|>";
    }
    if (add_ass) s += "<|start_header_id|>assistant<|end_header_id|>\n\n";
    return s;
}

// <|role|>\n content <end>\n  (phi3: <|end|>, zephyr: <|endoftext|>)
std::string render_role_tags(std::span<const ChatMessage> msgs, bool add_ass, std::string_view end) {
    std::string s;
    for (const auto& m : msgs) {
        s += "<|" + m.role + "|>\n" + m.content;
        s += end;
        s += "\n";
    }
    if (add_ass) s += "<|assistant|>\n";
    return s;
}

std::string render_gemma(std::span<const ChatMessage> msgs, bool add_ass) {
    std::string s, system_prompt;
    for (const auto& m : msgs) {
        if (m.role == "system") {  // no system role: merged into the next user turn
            system_prompt += trim(m.content);
            continue;
        }
        const std::string role = m.role == "assistant" ? "model" : m.role;
        s += "<start_of_turn>" + role + "\n";
        if (!system_prompt.empty() && role != "model") {
            s += system_prompt + "\n\n";
            system_prompt.clear();
        }
        s += trim(m.content) + "<end_of_turn>\n";
    }
    if (add_ass) s += "<start_of_turn>model\n";
    return s;
}

std::string render_plain(std::span<const ChatMessage> msgs) {
    std::string s;
    for (const auto& m : msgs) s += m.content;
    return s;
}

}  // namespace

// ---- public ---------------------------------------------------------------------------

const char* chat_style_name(ChatStyle s) {
    switch (s) {
        case ChatStyle::none: return "none";
        case ChatStyle::unknown: return "unknown";
        case ChatStyle::chatml: return "chatml";
        case ChatStyle::llama2: return "llama2";
        case ChatStyle::llama2_sys: return "llama2-sys";
        case ChatStyle::llama2_sys_bos: return "llama2-sys-bos";
        case ChatStyle::llama2_sys_strip: return "llama2-sys-strip";
        case ChatStyle::llama3: return "llama3";
        case ChatStyle::phi3: return "phi3";
        case ChatStyle::zephyr: return "zephyr";
        case ChatStyle::gemma: return "gemma";
    }
    return "?";
}

// Same marker tests, in the same order, as llama.cpp's llm_chat_detect_template;
// branches for families vkrt does not render return unknown.
ChatStyle detect_chat_style(std::string_view t) {
    if (t.empty()) return ChatStyle::none;
    for (const auto& [name, style] : kNames) {
        if (t == name) return style;
    }
    auto has = [&](std::string_view m) { return t.find(m) != std::string_view::npos; };
    if (has("<|im_start|>")) {
        // <|im_sep|> is Phi-4, <end_of_utterance> is SmolVLM: not ChatML
        return (has("<|im_sep|>") || has("<end_of_utterance>")) ? ChatStyle::unknown : ChatStyle::chatml;
    }
    if (t.rfind("mistral", 0) == 0 || has("[INST]")) {
        if (has("[SYSTEM_PROMPT]") || has("' [INST] ' + system_message") || has("[AVAILABLE_TOOLS]")) {
            return ChatStyle::unknown;  // Mistral v1/v3/v7
        }
        if (has("content.strip()")) return ChatStyle::llama2_sys_strip;
        if (has("bos_token + '[INST]")) return ChatStyle::llama2_sys_bos;
        if (has("<<SYS>>")) return ChatStyle::llama2_sys;
        return ChatStyle::llama2;
    }
    if (has("<|assistant|>") && has("<|end|>")) return ChatStyle::phi3;
    if (has("[gMASK]<sop>")) return ChatStyle::unknown;                      // ChatGLM4
    if (has("<|assistant|>") && has("<|user|>")) return ChatStyle::unknown;  // Falcon3, GLM-Edge
    if (has("<|{{ item['role'] }}|>") && has("<|begin_of_image|>")) return ChatStyle::unknown;
    if (has("<|user|>") && has("<|endoftext|>")) return ChatStyle::zephyr;
    if (has("bos_token + message['role']")) return ChatStyle::unknown;  // Monarch
    if (has("<start_of_turn>")) return ChatStyle::gemma;
    // (llama.cpp tests Orion, OpenChat, Vicuna, DeepSeek and Command-R markers here)
    if (has("'\\n\\nAssistant: ' + eos_token") || has("GPT4 Correct ") || (has("USER: ") && has("ASSISTANT: ")) ||
        (has("### Instruction:") && has("<|EOT|>")) ||
        (has("<|START_OF_TURN_TOKEN|>") && has("<|USER_TOKEN|>"))) {
        return ChatStyle::unknown;
    }
    if (has("<|start_header_id|>") && has("<|end_header_id|>")) return ChatStyle::llama3;
    return ChatStyle::unknown;
}

ChatStyle chat_style_from_gguf(const gguf::File& file) {
    const gguf::Value* v = file.find("tokenizer.chat_template");
    if (!v) return ChatStyle::none;
    return detect_chat_style(v->as_string("tokenizer.chat_template"));
}

std::string apply_chat_template(ChatStyle style, std::span<const ChatMessage> msgs, bool add_ass) {
    switch (style) {
        case ChatStyle::chatml: return render_chatml(msgs, add_ass);
        case ChatStyle::llama2:
        case ChatStyle::llama2_sys:
        case ChatStyle::llama2_sys_bos:
        case ChatStyle::llama2_sys_strip: return render_llama2(style, msgs);
        case ChatStyle::llama3: return render_llama3(msgs, add_ass);
        case ChatStyle::phi3: return render_role_tags(msgs, add_ass, "<|end|>");
        case ChatStyle::zephyr: return render_role_tags(msgs, add_ass, "<|endoftext|>");
        case ChatStyle::gemma: return render_gemma(msgs, add_ass);
        case ChatStyle::none:
        case ChatStyle::unknown: return render_plain(msgs);
    }
    fail(Status::invalid_argument, "unknown chat style ", int(style));
}

std::span<const std::string_view> chat_stop_strings(ChatStyle style) {
    static constexpr std::string_view kChatml[] = {"<|im_end|>"};
    static constexpr std::string_view kLlama2[] = {"</s>", "[INST]"};
    static constexpr std::string_view kLlama3[] = {"<|eot_id|>"};
    static constexpr std::string_view kPhi3[] = {"<|end|>"};
    static constexpr std::string_view kZephyr[] = {"<|endoftext|>"};
    static constexpr std::string_view kGemma[] = {"<end_of_turn>"};
    switch (style) {
        case ChatStyle::chatml: return kChatml;
        case ChatStyle::llama2:
        case ChatStyle::llama2_sys:
        case ChatStyle::llama2_sys_bos:
        case ChatStyle::llama2_sys_strip: return kLlama2;
        case ChatStyle::llama3: return kLlama3;
        case ChatStyle::phi3: return kPhi3;
        case ChatStyle::zephyr: return kZephyr;
        case ChatStyle::gemma: return kGemma;
        case ChatStyle::none:
        case ChatStyle::unknown: break;
    }
    return {};
}

std::vector<int32_t> chat_eog_ids(ChatStyle style, const Tokenizer& tok) {
    std::vector<int32_t> ids;
    for (std::string_view s : chat_stop_strings(style)) {
        if (int32_t id = tok.find_token(s); id >= 0) ids.push_back(id);
    }
    return ids;
}

ChatStops ChatStops::of(ChatStyle style, const Tokenizer& tok) {
    ChatStops s;
    s.ids = chat_eog_ids(style, tok);
    for (std::string_view str : chat_stop_strings(style)) s.strings.push_back(str);
    return s;
}

bool ChatStops::is_stop_token(const Tokenizer& tok, int32_t id) const {
    return tok.is_eog(id) || std::find(ids.begin(), ids.end(), id) != ids.end();
}

size_t ChatStops::reply_length(std::string_view text, bool& found) const {
    size_t keep = text.size();
    found = false;
    for (std::string_view s : strings) {
        if (size_t at = text.find(s); at != std::string_view::npos) {
            keep = std::min(keep, at);
            found = true;
        }
    }
    if (found) return keep;
    for (std::string_view s : strings) {  // longest tail that is a proper prefix of s
        for (size_t n = std::min(s.size() - 1, text.size()); n > 0; --n) {
            if (text.substr(text.size() - n) == s.substr(0, n)) {
                keep = std::min(keep, text.size() - n);
                break;
            }
        }
    }
    return keep;
}

}  // namespace vkrt
