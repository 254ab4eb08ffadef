package org.vkrt;

import java.util.Objects;

/** One message of a conversation: role "system", "user" or "assistant", and its text. */
public final class ChatMessage {
    private final String role;
    private final String content;

    public ChatMessage(String role, String content) {
        this.role = Objects.requireNonNull(role, "role");
        this.content = Objects.requireNonNull(content, "content");
    }

    public static ChatMessage system(String content) { return new ChatMessage("system", content); }
    public static ChatMessage user(String content) { return new ChatMessage("user", content); }
    public static ChatMessage assistant(String content) { return new ChatMessage("assistant", content); }

    public String role() { return role; }
    public String content() { return content; }

    @Override
    public String toString() { return role + ": " + content; }

    static byte[][] roles(java.util.List<ChatMessage> messages) {
        byte[][] r = new byte[messages.size()][];
        for (int i = 0; i < r.length; ++i) r[i] = Text.utf8(messages.get(i).role, "message " + i + " role");
        return r;
    }

    static byte[][] contents(java.util.List<ChatMessage> messages) {
        byte[][] c = new byte[messages.size()][];
        for (int i = 0; i < c.length; ++i) c[i] = Text.utf8(messages.get(i).content, "message " + i + " content");
        return c;
    }
}
