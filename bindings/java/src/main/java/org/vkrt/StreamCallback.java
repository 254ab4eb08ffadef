package org.vkrt;

/** Receives each step of {@link Session#chat} / {@link Session#complete}; return false to stop. */
@FunctionalInterface
public interface StreamCallback {
    boolean onToken(TokenInfo info);
}
