package org.vkrt;

/** The outcome of {@link Session#chat} / {@link Session#complete}. */
public final class GenerateResult {
    private final String text;
    private final FinishReason finishReason;
    private final int nPrompt, nCached, nGenerated;

    GenerateResult(String text, int[] r) {
        this.text = text;
        this.finishReason = FinishReason.of(r[0]);
        this.nPrompt = r[1];
        this.nCached = r[2];
        this.nGenerated = r[3];
    }

    /** The reply (stop strings excluded). */
    public String text() { return text; }
    public FinishReason finishReason() { return finishReason; }
    /** Prompt tokens of the call, cached ones included. */
    public int promptTokens() { return nPrompt; }
    /** Of those, reused from the session's cache (chat). */
    public int cachedTokens() { return nCached; }
    /** Tokens sampled (a final end-of-generation token included). */
    public int generatedTokens() { return nGenerated; }
}
