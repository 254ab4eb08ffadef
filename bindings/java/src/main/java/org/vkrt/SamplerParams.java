package org.vkrt;

/**
 * How {@link Session#generate} and {@link Session#sample} pick tokens, in llama.cpp's order:
 * repetition penalty, top-k, top-p, min-p, temperature. The defaults are the C API's
 * ({@code vkrt_sampler_default_params}). Values are checked when used: a bad one throws
 * {@link VkrtException} with {@link Status#INVALID_ARGUMENT}.
 */
public final class SamplerParams {
    /** The seed that asks for a random one. */
    public static final long RANDOM_SEED = -1L;

    private float temperature;
    private int topK;
    private float topP;
    private float minP;
    private float repeatPenalty;
    private int repeatLastN;
    private long seed;

    public SamplerParams() {
        float[] d = Native.samplerDefaults();
        temperature = d[0];
        topK = (int) d[1];
        topP = d[2];
        minP = d[3];
        repeatPenalty = d[4];
        repeatLastN = (int) d[5];
        seed = Native.samplerDefaultSeed();
    }

    /** Always the most likely token (temperature 0): reproducible output. */
    public static SamplerParams greedy() {
        SamplerParams p = new SamplerParams();
        p.setTemperature(0f);
        return p;
    }

    /** &lt;= 0: greedy. */
    public void setTemperature(float v) { temperature = v; }
    public float getTemperature() { return temperature; }
    /** &lt;= 0: off. */
    public void setTopK(int v) { topK = v; }
    public int getTopK() { return topK; }
    /** &gt;= 1: off. */
    public void setTopP(float v) { topP = v; }
    public float getTopP() { return topP; }
    /** &lt;= 0: off. */
    public void setMinP(float v) { minP = v; }
    public float getMinP() { return minP; }
    /** 1: off. */
    public void setRepeatPenalty(float v) { repeatPenalty = v; }
    public float getRepeatPenalty() { return repeatPenalty; }
    /** Tokens the penalty looks back over; 0: off, -1: all. */
    public void setRepeatLastN(int v) { repeatLastN = v; }
    public int getRepeatLastN() { return repeatLastN; }
    /** The same seed and prompt give the same text; {@link #RANDOM_SEED} draws one. */
    public void setSeed(long v) { seed = v; }
    public long getSeed() { return seed; }
}
