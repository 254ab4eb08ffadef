package org.vkrt;

import java.util.Objects;

/** Checks for constrained output, without a model. */
public final class Grammars {
    private Grammars() {}

    /**
     * Throws {@link VkrtException} ({@link Status#INVALID_ARGUMENT}) for a GBNF grammar that does
     * not parse ("line L, column C: ..."), is left-recursive, or accepts no string.
     */
    public static void checkGbnf(String grammar) {
        Native.grammarCheck(Text.utf8(Objects.requireNonNull(grammar, "grammar"), "grammar"), null);
    }

    /** The GBNF grammar a JSON Schema compiles to (unsupported keywords are named in the exception). */
    public static String jsonSchemaToGrammar(String schema) {
        return Text.string(Native.jsonSchemaToGrammar(Text.utf8(Objects.requireNonNull(schema, "schema"), "schema")));
    }
}
