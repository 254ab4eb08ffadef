package org.vkrt;

/**
 * Receives each generated token while {@link Session#generate} runs, on the thread that called
 * generate. {@code piece} is the token's text; a token that ends inside a multi-byte UTF-8
 * character gives "" and its bytes come with the token that completes the character, so the
 * pieces always concatenate to valid text. Return {@code false} to stop the generation after
 * this token (the same as {@link Session#cancel()}). An exception thrown here stops the
 * generation and is rethrown by generate.
 */
@FunctionalInterface
public interface TokenCallback {
    boolean onToken(int token, String piece);
}
