package org.vkrt;

/**
 * One step of a streamed generation: the token (-1 for the last step that only releases text
 * held back at the end) and the text it released. Text that could still become a stop string
 * is held back until resolved, so the texts add up to the reply and never contain a stop
 * string. Logprobs (when asked for) are the model's: log-softmax of the raw logits.
 */
public final class TokenInfo {
    private final int token;
    private final String text;
    private final float logprob;
    private final int[] topTokens;
    private final float[] topLogprobs;

    TokenInfo(int token, String text, float logprob, int[] topTokens, float[] topLogprobs) {
        this.token = token;
        this.text = text;
        this.logprob = logprob;
        this.topTokens = topTokens;
        this.topLogprobs = topLogprobs;
    }

    public int token() { return token; }
    public String text() { return text; }
    public float logprob() { return logprob; }
    /** The most likely tokens, most likely first (empty unless topLogprobs was set). */
    public int[] topTokens() { return topTokens.clone(); }
    public float[] topLogprobs() { return topLogprobs.clone(); }
}
