package org.vkrt;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * What {@link Session#chat} and {@link Session#complete} do besides sampling
 * (vkrt_generate_params): max tokens, stop strings, OpenAI's presence and frequency
 * penalties, logit bias, logprobs, and constrained output (a GBNF grammar or a JSON Schema).
 * Values are checked by the call: a bad one throws {@link VkrtException} with
 * {@link Status#INVALID_ARGUMENT} naming it.
 */
public final class GenerateParams {
    private SamplerParams sampler = new SamplerParams();
    private int maxTokens = -1;
    private final List<String> stop = new ArrayList<>();
    private float presencePenalty, frequencyPenalty;
    private final Map<Integer, Float> logitBias = new LinkedHashMap<>();
    private boolean logprobs;
    private int topLogprobs;
    private String grammar, jsonSchema, chatTemplate;

    public GenerateParams setSampler(SamplerParams v) { sampler = Objects.requireNonNull(v, "sampler"); return this; }
    public SamplerParams getSampler() { return sampler; }
    /** Tokens to generate at most; -1 (the default): no limit. */
    public GenerateParams setMaxTokens(int v) { maxTokens = v; return this; }
    public int getMaxTokens() { return maxTokens; }
    /** Adds a stop string (1 to 65535 UTF-8 bytes; at most 16). */
    public GenerateParams addStop(String s) { stop.add(Objects.requireNonNull(s, "stop")); return this; }
    public List<String> getStop() { return Collections.unmodifiableList(stop); }
    public GenerateParams setPresencePenalty(float v) { presencePenalty = v; return this; }
    public float getPresencePenalty() { return presencePenalty; }
    public GenerateParams setFrequencyPenalty(float v) { frequencyPenalty = v; return this; }
    public float getFrequencyPenalty() { return frequencyPenalty; }
    /** Added to the token's logit; Float.NEGATIVE_INFINITY bans it. */
    public GenerateParams setLogitBias(int token, float bias) { logitBias.put(token, bias); return this; }
    public Map<Integer, Float> getLogitBias() { return Collections.unmodifiableMap(logitBias); }
    /** Report each chosen token's log-probability and the {@code top} most likely (0..20). */
    public GenerateParams setLogprobs(boolean on, int top) { logprobs = on; topLogprobs = top; return this; }
    public boolean getLogprobs() { return logprobs; }
    public int getTopLogprobs() { return topLogprobs; }
    /** A GBNF grammar (start rule "root") the output must follow; null: none. */
    public GenerateParams setGrammar(String v) { grammar = v; return this; }
    public String getGrammar() { return grammar; }
    /** A JSON Schema the output must follow; null: none. */
    public GenerateParams setJsonSchema(String v) { jsonSchema = v; return this; }
    public String getJsonSchema() { return jsonSchema; }
    /** chat(): a template name ("chatml", "llama3", ...) or Jinja text; null: the model's. */
    public GenerateParams setChatTemplate(String v) { chatTemplate = v; return this; }
    public String getChatTemplate() { return chatTemplate; }

    /** Runs Native.chatGenerate with these parameters (roles null: a text prompt). */
    int[] run(long session, byte[] prompt, byte[][] roles, byte[][] contents, Native.ChatSink sink) {
        int[] ip = {maxTokens, sampler.getTopK(), sampler.getRepeatLastN(), logprobs ? 1 : 0, topLogprobs};
        float[] fp = {sampler.getTemperature(), sampler.getTopP(), sampler.getMinP(), sampler.getRepeatPenalty(),
                presencePenalty, frequencyPenalty};
        byte[][] stops = new byte[stop.size()][];
        for (int i = 0; i < stops.length; ++i) stops[i] = Text.utf8(stop.get(i), "stop string " + i);
        int[] bt = new int[logitBias.size()];
        float[] bv = new float[logitBias.size()];
        int i = 0;
        for (Map.Entry<Integer, Float> e : logitBias.entrySet()) {
            bt[i] = e.getKey();
            bv[i++] = e.getValue();
        }
        return Native.chatGenerate(session, prompt, roles, contents, ip, fp, sampler.getSeed(), stops, bt, bv,
                grammar == null ? null : Text.utf8(grammar, "grammar"),
                jsonSchema == null ? null : Text.utf8(jsonSchema, "jsonSchema"),
                chatTemplate == null ? null : Text.utf8(chatTemplate, "chatTemplate"), sink);
    }
}
