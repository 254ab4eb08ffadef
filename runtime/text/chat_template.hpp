// Chat prompt formatting for the common template families, detected from the
// Jinja text in tokenizer.chat_template by the same markers as llama.cpp's
// llm_chat_detect_template, and rendered to the exact strings of llama.cpp's
// llm_chat_apply_template. This is not a Jinja engine.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace vkrt {

namespace gguf {
class File;
}
class Tokenizer;

enum class ChatStyle {
    none,              // no template (base model): plain completion, contents concatenated
    unknown,           // a template vkrt does not recognise: rendered like none
    chatml,            // <|im_start|>role\n...<|im_end|>\n (Qwen2, many fine-tunes)
    llama2,            // [INST] ... [/INST] (system folded into the first turn)
    llama2_sys,        // + <<SYS>>\n...\n<</SYS>>\n\n
    llama2_sys_bos,    // + <s>[INST] for later turns
    llama2_sys_strip,  // + contents trimmed
    llama3,            // <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|>
    phi3,              // <|role|>\n...<|end|>\n
    zephyr,            // <|role|>\n...<|endoftext|>\n
    gemma,             // <start_of_turn>user|model\n...<end_of_turn>\n
};

const char* chat_style_name(ChatStyle s);

struct ChatMessage {
    std::string role;  // "system", "user", "assistant"
    std::string content;
};

// Style from a template's Jinja text ("" -> none). Also accepts llama.cpp's
// names ("chatml", "llama2", "llama3", "gemma", "zephyr", ...).
ChatStyle detect_chat_style(std::string_view jinja);
// From the GGUF key tokenizer.chat_template (none if absent).
ChatStyle chat_style_from_gguf(const gguf::File& file);

// Renders the conversation; add_assistant_prompt appends the opening of an
// assistant turn (styles without one ignore it). none/unknown concatenate the contents.
std::string apply_chat_template(ChatStyle style, std::span<const ChatMessage> msgs, bool add_assistant_prompt);

// Stop strings a style uses to end an assistant turn (besides the tokenizer's EOG ids).
std::span<const std::string_view> chat_stop_strings(ChatStyle style);

// The stop strings of the style that are single tokens of the vocabulary
// (<|eot_id|> for Llama 3, <|im_end|> for ChatML, <end_of_turn> for Gemma, <|end|>
// for Phi-3, ...): generation ends at these as at the tokenizer's EOG ids, even
// when the GGUF's eos_token_id names another token.
std::vector<int32_t> chat_eog_ids(ChatStyle style, const Tokenizer& tok);

// Where an assistant reply ends: the tokenizer's end-of-generation ids, the
// style's stop tokens (chat_eog_ids) and its stop strings, for vocabularies in
// which those are not single tokens (the model then spells them out).
struct ChatStops {
    std::vector<int32_t> ids;               // stop tokens besides Tokenizer::is_eog
    std::vector<std::string_view> strings;  // chat_stop_strings(style)

    static ChatStops of(ChatStyle style, const Tokenizer& tok);
    bool is_stop_token(const Tokenizer& tok, int32_t id) const;
    // Length of the start of `text` that is reply: everything before the first
    // stop string (found = true), or else all of it but a tail that could still
    // grow into a stop string (found = false; print only this much so far).
    size_t reply_length(std::string_view text, bool& found) const;
};

}  // namespace vkrt
