// Chat template tests: detection from Jinja markers and the exact prompt strings
// (expected outputs are those of llama.cpp's tests/test-chat-template.cpp for the
// same conversation).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "text/chat_template.hpp"
#include "text/tokenizer.hpp"

using namespace vkrt;

namespace {

const std::vector<ChatMessage> kChat = {
    {"system", "You are a helpful assistant"},
    {"user", "Hello"},
    {"assistant", "Hi there"},
    {"user", "Who are you"},
    {"assistant", "   I am an assistant   "},
    {"user", "Another question"},
};

std::string render(ChatStyle s, bool add_ass = true) { return apply_chat_template(s, kChat, add_ass); }

}  // namespace

TEST_CASE("detect styles from template markers") {
    CHECK(detect_chat_style("") == ChatStyle::none);
    CHECK(detect_chat_style("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
                            "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}") == ChatStyle::chatml);
    CHECK(detect_chat_style("{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
                            "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% endif %}{% endfor %}") ==
          ChatStyle::llama2);
    CHECK(detect_chat_style("{% if messages[0]['role'] == 'system' %}{{ '[INST] <<SYS>>\\n' + system_message "
                            "+ '\\n<</SYS>>\\n\\n' }}{% endif %}") == ChatStyle::llama2_sys);
    CHECK(detect_chat_style("{{- bos_token + '[INST] ' + messages[idx]['content'] + ' [/INST]' -}}"
                            "{{- '[INST] <<SYS>>\\n' -}}") == ChatStyle::llama2_sys_bos);
    CHECK(detect_chat_style("{{ '[INST] ' + content.strip() + ' [/INST]' }}") == ChatStyle::llama2_sys_strip);
    CHECK(detect_chat_style("{% set content = '<|start_header_id|>' + message['role'] + "
                            "'<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}") ==
          ChatStyle::llama3);
    CHECK(detect_chat_style("{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + "
                            "'<end_of_turn>\\n' }}") == ChatStyle::gemma);
    CHECK(detect_chat_style("{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\\n' "
                            "+ message['content'] + eos_token }}\n{% endif %}{% endfor %}<|endoftext|>") ==
          ChatStyle::zephyr);
    CHECK(detect_chat_style("{{'<|' + message['role'] + '|>' + '\\n' + message['content'] + '<|end|>\\n' }}"
                            "{{ '<|assistant|>\\n' }}") == ChatStyle::phi3);
    // families vkrt does not render
    CHECK(detect_chat_style("{{'<|im_start|>' + message['role'] + '<|im_sep|>'}}") == ChatStyle::unknown);
    CHECK(detect_chat_style("[SYSTEM_PROMPT] [INST]") == ChatStyle::unknown);
    CHECK(detect_chat_style("{{ 'GPT4 Correct ' + message['role'].title() }}") == ChatStyle::unknown);
    CHECK(detect_chat_style("{{ message['content'] }}") == ChatStyle::unknown);
    // llama.cpp's template names
    CHECK(detect_chat_style("chatml") == ChatStyle::chatml);
    CHECK(detect_chat_style("llama3") == ChatStyle::llama3);
    CHECK(detect_chat_style("gemma") == ChatStyle::gemma);
    CHECK(std::string(chat_style_name(ChatStyle::llama2_sys_bos)) == "llama2-sys-bos");
}

TEST_CASE("chatml") {
    CHECK(render(ChatStyle::chatml) ==
          "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n"
          "<|im_start|>assistant\nHi there<|im_end|>\n<|im_start|>user\nWho are you<|im_end|>\n"
          "<|im_start|>assistant\n   I am an assistant   <|im_end|>\n<|im_start|>user\nAnother question<|im_end|>\n"
          "<|im_start|>assistant\n");
    const std::vector<ChatMessage> one = {{"user", "Hi"}};
    CHECK(apply_chat_template(ChatStyle::chatml, one, false) == "<|im_start|>user\nHi<|im_end|>\n");
}

TEST_CASE("llama2 variants") {
    CHECK(render(ChatStyle::llama2) ==
          "[INST] You are a helpful assistant\nHello [/INST]Hi there</s>[INST] Who are you [/INST]   I am an "
          "assistant   </s>[INST] Another question [/INST]");
    CHECK(render(ChatStyle::llama2_sys) ==
          "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]Hi there</s>[INST] Who are you "
          "[/INST]   I am an assistant   </s>[INST] Another question [/INST]");
    CHECK(render(ChatStyle::llama2_sys_bos) ==
          "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]Hi there</s><s>[INST] Who are "
          "you [/INST]   I am an assistant   </s><s>[INST] Another question [/INST]");
    CHECK(render(ChatStyle::llama2_sys_strip) ==
          "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]Hi there</s>[INST] Who are you "
          "[/INST]I am an assistant</s>[INST] Another question [/INST]");
    // no assistant prompt in this family: add_assistant_prompt changes nothing
    CHECK(render(ChatStyle::llama2, false) == render(ChatStyle::llama2, true));
}

TEST_CASE("llama3") {
    CHECK(render(ChatStyle::llama3) ==
          "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant<|eot_id|>"
          "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"
          "<|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|>"
          "<|start_header_id|>user<|end_header_id|>\n\nWho are you<|eot_id|>"
          "<|start_header_id|>assistant<|end_header_id|>\n\nI am an assistant<|eot_id|>"
          "<|start_header_id|>user<|end_header_id|>\n\nAnother question<|eot_id|>"
          "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST_CASE("gemma") {
    CHECK(render(ChatStyle::gemma) ==
          "<start_of_turn>user\nYou are a helpful assistant\n\nHello<end_of_turn>\n<start_of_turn>model\nHi "
          "there<end_of_turn>\n<start_of_turn>user\nWho are you<end_of_turn>\n<start_of_turn>model\nI am an "
          "assistant<end_of_turn>\n<start_of_turn>user\nAnother question<end_of_turn>\n<start_of_turn>model\n");
}

TEST_CASE("zephyr and phi3") {
    CHECK(render(ChatStyle::zephyr) ==
          "<|system|>\nYou are a helpful assistant<|endoftext|>\n<|user|>\nHello<|endoftext|>\n<|assistant|>\nHi "
          "there<|endoftext|>\n<|user|>\nWho are you<|endoftext|>\n<|assistant|>\n   I am an assistant   "
          "<|endoftext|>\n<|user|>\nAnother question<|endoftext|>\n<|assistant|>\n");
    CHECK(render(ChatStyle::phi3) ==
          "<|system|>\nYou are a helpful assistant<|end|>\n<|user|>\nHello<|end|>\n<|assistant|>\nHi there<|end|>\n"
          "<|user|>\nWho are you<|end|>\n<|assistant|>\n   I am an assistant   <|end|>\n<|user|>\nAnother "
          "question<|end|>\n<|assistant|>\n");
}

TEST_CASE("no template: plain completion") {
    const std::vector<ChatMessage> one = {{"user", "Once upon a time"}};
    CHECK(apply_chat_template(ChatStyle::none, one, true) == "Once upon a time");
    CHECK(apply_chat_template(ChatStyle::unknown, one, true) == "Once upon a time");
    CHECK(chat_stop_strings(ChatStyle::none).empty());
    REQUIRE(chat_stop_strings(ChatStyle::chatml).size() == 1);
    CHECK(chat_stop_strings(ChatStyle::chatml)[0] == "<|im_end|>");
}

// ---- end of a reply ---------------------------------------------------------------------

namespace {

// A SentencePiece vocabulary with each family's turn markers as control tokens.
Tokenizer marker_vocab(int32_t eos) {
    TokenizerData d;
    d.tokens = {"<unk>", "<s>", "</s>", "<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>", "a", "b"};
    d.token_types = {2, 3, 3, 3, 3, 3, 3, 1, 1};
    d.bos = 1;
    d.eos = eos;
    return Tokenizer(std::move(d));
}

}  // namespace

TEST_CASE("each family's turn end is a stop token, also when eos names another token") {
    const Tokenizer tok = marker_vocab(2);
    struct Want {
        ChatStyle style;
        const char* marker;
    };
    for (const Want& w : {Want{ChatStyle::chatml, "<|im_end|>"}, Want{ChatStyle::llama3, "<|eot_id|>"},
                          Want{ChatStyle::gemma, "<end_of_turn>"}, Want{ChatStyle::phi3, "<|end|>"}}) {
        CAPTURE(chat_style_name(w.style));
        const int32_t id = tok.find_token(w.marker);
        CHECK(chat_eog_ids(w.style, tok) == std::vector<int32_t>{id});
        const ChatStops stops = ChatStops::of(w.style, tok);
        CHECK(stops.is_stop_token(tok, id));
        CHECK(stops.is_stop_token(tok, tok.eos()));
        CHECK_FALSE(stops.is_stop_token(tok, tok.find_token("a")));
    }
    // a base model (no template) stops at the vocabulary's EOG ids only
    const ChatStops none = ChatStops::of(ChatStyle::none, tok);
    CHECK(none.ids.empty());
    CHECK(none.is_stop_token(tok, 2));
    CHECK_FALSE(none.is_stop_token(tok, tok.find_token("a")));
}

TEST_CASE("stop strings spelled out in text end the reply; a possible start is held back") {
    const Tokenizer tok = marker_vocab(2);
    const ChatStops stops = ChatStops::of(ChatStyle::chatml, tok);
    bool found = true;
    CHECK(stops.reply_length("Hello there", found) == 11);
    CHECK_FALSE(found);
    CHECK(stops.reply_length("Hello <|im", found) == 6);  // "<|im" may become <|im_end|>
    CHECK_FALSE(found);
    CHECK(stops.reply_length("Hello <|im_end|> more", found) == 6);
    CHECK(found);
    CHECK(stops.reply_length("a < b", found) == 5);  // "<" followed by a space cannot start it any more
    CHECK_FALSE(found);
    const ChatStops l2 = ChatStops::of(ChatStyle::llama2, tok);
    CHECK(l2.reply_length("text [INST] next", found) == 5);
    CHECK(found);
}
