package org.vkrt;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The Java binding on a real JVM, one CTest test per case:
 *   java -ea -Xcheck:jni -Djava.library.path=build/java -cp build/java/vkrt.jar:build/java/vkrt_tests.jar \
 *        org.vkrt.JavaTests CASE MODELS_DIR
 * In package org.vkrt to reach the package-private counters (NativeHandle.LIVE, Native.liveObjects).
 * Every case ends by checking that no native handle is left and that the validation layer
 * (VKRT_VALIDATION=1 under CTest) said nothing.
 */
public final class JavaTests {
    private static int passed, failed;
    private static String models;

    private static void check(boolean cond, String what) {
        if (cond) {
            ++passed;
        } else {
            ++failed;
            System.err.println("FAILED: " + what);
        }
    }

    private static void checkEq(Object want, Object got, String what) {
        check(want == null ? got == null : want.equals(got), what + ": want <" + want + ">, got <" + got + ">");
    }

    interface Body {
        void run() throws Exception;
    }

    /** body must throw T; returns it (null, counted as a failure, if it did not). */
    private static <T extends Throwable> T expect(Class<T> type, String what, Body body) {
        try {
            body.run();
        } catch (Throwable t) {
            if (type.isInstance(t)) {
                ++passed;
                return type.cast(t);
            }
            ++failed;
            System.err.println("FAILED: " + what + ": threw " + t + ", want " + type.getSimpleName());
            return null;
        }
        ++failed;
        System.err.println("FAILED: " + what + ": did not throw " + type.getSimpleName());
        return null;
    }

    private static VkrtException expectVkrt(Status status, String messagePart, String what, Body body) {
        VkrtException e = expect(VkrtException.class, what, body);
        if (e != null) {
            checkEq(status, e.getStatus(), what + ": status");
            check(e.getMessage().contains(messagePart),
                    what + ": message '" + e.getMessage() + "' should contain '" + messagePart + "'");
        }
        return e;
    }

    private static String model() {
        return models + "/stories260K.gguf";
    }

    /** stories260K's greedy continuation of BOS (the file's 256 ids). */
    private static int[] greedyIds() throws IOException {
        List<Integer> ids = new ArrayList<>();
        for (String line : Files.readAllLines(new File(models, "stories260K.greedy256.ids.txt").toPath())) {
            if (line.isEmpty() || line.startsWith("#")) continue;
            for (String w : line.trim().split("\\s+")) ids.add(Integer.parseInt(w));
        }
        int[] out = new int[ids.size()];
        for (int i = 0; i < out.length; ++i) out[i] = ids.get(i);
        return out;
    }

    private static int[] prefix(int[] a, int n) {
        return Arrays.copyOf(a, n);
    }

    /** Runs generate and returns the ids the callback saw; the pieces must add up to the result. */
    private static int[] generateIds(Session s, String prompt, int n) {
        final List<Integer> ids = new ArrayList<>();
        final StringBuilder pieces = new StringBuilder();
        String text = s.generate(prompt, SamplerParams.greedy(), n, (token, piece) -> {
            ids.add(token);
            pieces.append(piece);
            return true;
        });
        checkEq(text, pieces.toString(), "generate: the streamed pieces add up to the returned text");
        int[] out = new int[ids.size()];
        for (int i = 0; i < out.length; ++i) out[i] = ids.get(i);
        return out;
    }

    // ---------------------------------------------------------------- cases

    /** Greedy from BOS reproduces the reference ids and text; progress reaches 1. */
    static void greedy() throws Exception {
        int[] want = greedyIds();
        checkEq(256, want.length, "reference ids");
        try (Context ctx = new Context()) {
            final List<Float> progress = new ArrayList<>();
            try (Model model = new Model(ctx, model(), progress::add);
                 Session s = new Session(model)) {
                check(!progress.isEmpty(), "progress was reported");
                boolean increasing = true;
                for (int i = 1; i < progress.size(); ++i) increasing &= progress.get(i) >= progress.get(i - 1);
                check(increasing, "progress never goes back: " + progress);
                checkEq(1.0f, progress.get(progress.size() - 1), "progress ends at 1");
                checkEq(512, model.nVocab(), "n_vocab");
                checkEq(1, model.bos(), "bos");
                checkEq(2, model.eos(), "eos");
                check(model.isEog(2) && !model.isEog(want[0]), "isEog");

                final List<Integer> ids = new ArrayList<>();
                final StringBuilder streamed = new StringBuilder();
                String text = s.generate("", SamplerParams.greedy(), 256, (token, piece) -> {
                    ids.add(token);
                    streamed.append(piece);
                    return true;
                });
                int[] got = new int[ids.size()];
                for (int i = 0; i < got.length; ++i) got[i] = ids.get(i);
                int same = 0;
                while (same < Math.min(got.length, want.length) && got[same] == want[same]) ++same;
                checkEq(256, got.length, "generated 256 tokens");
                checkEq(256, same, "ids equal the reference up to index");
                checkEq(257, s.pos(), "BOS + 256 generated tokens in the cache");
                checkEq(text, streamed.toString(), "returned text = streamed pieces");
                // The stream carries each piece as is (the first keeps SentencePiece's space);
                // detokenize drops the leading space as llama.cpp does.
                String detok = model.detokenize(want);
                checkEq(" " + detok, text, "streamed text = ' ' + detokenize(reference ids)");
                check(detok.startsWith("Once upon a time, there was a little girl named Lily."),
                        "text starts as llama2.c's sample: " + detok.substring(0, Math.min(80, detok.length())));
                System.out.println("text: " + detok.substring(0, Math.min(120, detok.length())) + "...");

                // The same through eval + sample.
                s.reset();
                checkEq(0, s.pos(), "reset empties the cache");
                int t = model.bos();
                for (int i = 0; i < 32; ++i) {
                    s.eval(new int[] {t});
                    t = s.sample(SamplerParams.greedy());
                    if (t != want[i]) break;
                    if (i == 31) ++passed;
                }
                checkEq(want[31], t, "eval + sample greedy: token 32");
                float[] l = s.logits();
                checkEq(512, l.length, "logits length");
            }
            checkEq(0L, ctx.validationMessages(), "validation messages");
        }
    }

    /** Stopping from the callback, cancel() and close() from another thread, a throwing callback. */
    /**
     * A greedy generation on its own thread that waits inside its callback at token {@code at}
     * until {@link #release()}: the state another thread sees while a generation runs.
     */
    private static final class HeldGeneration {
        final CountDownLatch reached = new CountDownLatch(1), proceed = new CountDownLatch(1);
        final AtomicReference<Throwable> error = new AtomicReference<>();
        final List<Integer> ids = java.util.Collections.synchronizedList(new ArrayList<>());
        final Thread thread;

        HeldGeneration(Session s, int at) {
            thread = new Thread(() -> {
                try {
                    s.generate("", SamplerParams.greedy(), 1000, (token, piece) -> {
                        ids.add(token);
                        if (ids.size() == at) {
                            reached.countDown();
                            try {
                                proceed.await();
                            } catch (InterruptedException e) {
                                throw new RuntimeException(e);
                            }
                        }
                        return true;
                    });
                } catch (Throwable t) {
                    error.set(t);
                }
            });
            thread.start();
        }

        boolean awaitReached() throws InterruptedException {
            return reached.await(120, TimeUnit.SECONDS);
        }

        /** Lets the callback return and waits for the generation to end. */
        void release() throws InterruptedException {
            proceed.countDown();
            thread.join(120_000);
        }
    }

    static void cancel() throws Exception {
        int[] want = greedyIds();
        try (Context ctx = new Context(); Model model = new Model(ctx, model()); Session s = new Session(model)) {
            // 1. the callback returns false at the 5th token
            final int[] count = {0};
            String text = s.generate("", SamplerParams.greedy(), 100, (token, piece) -> ++count[0] < 5);
            checkEq(5, count[0], "callback false: tokens seen");
            checkEq(1 + 5, s.pos(), "callback false: BOS + the 5 tokens seen are in the cache");
            checkEq(model.detokenize(prefix(want, 5)), text.substring(1), "callback false: text of 5 tokens");

            // 2. cancel() from another thread while the generating thread is inside its 3rd callback
            s.reset();
            HeldGeneration gen = new HeldGeneration(s, 3);
            check(gen.awaitReached(), "cancel: generation reached token 3");
            s.cancel();
            gen.release();
            check(!gen.thread.isAlive(), "cancel: generate returned");
            checkEq(null, gen.error.get(), "cancel: generate threw nothing");
            checkEq(3, gen.ids.size(), "cancel: stopped right after the token it was in");
            // the session holds what the callback saw and goes on after it
            checkEq(1 + 3, s.pos(), "cancel: BOS + 3 tokens in the cache");
            int[] more = generateIds(s, "", 3);
            checkEq(Arrays.toString(Arrays.copyOfRange(want, 3, 6)), Arrays.toString(more),
                    "after cancel the session continues the same text");

            // 3. a callback that throws: generate rethrows it, the session stays usable
            s.reset();
            RuntimeException boom = new RuntimeException("boom from the callback");
            RuntimeException got = expect(RuntimeException.class, "throwing callback", () ->
                    s.generate("", SamplerParams.greedy(), 50, (token, piece) -> {
                        throw boom;
                    }));
            check(got == boom, "throwing callback: the same exception comes back");
            s.reset();
            checkEq(Arrays.toString(prefix(want, 4)), Arrays.toString(generateIds(s, "", 4)),
                    "after a throwing callback the session still works");
            checkEq(0L, ctx.validationMessages(), "validation messages");
        }

        // 4. close() from another thread during a generation: it stops after the current token,
        //    the native session is freed when generate returns.
        long before = Native.liveObjects();
        try (Context ctx = new Context(); Model model = new Model(ctx, model())) {
            Session s = new Session(model);
            checkEq(before + 3, Native.liveObjects(), "three native handles");
            HeldGeneration gen = new HeldGeneration(s, 2);
            check(gen.awaitReached(), "close: generation reached token 2");
            s.close();
            check(s.isClosed(), "close: isClosed right away");
            checkEq(before + 3, Native.liveObjects(), "close: the native session lives while generate runs");
            gen.release();
            checkEq(null, gen.error.get(), "close: generate threw nothing");
            checkEq(2, gen.ids.size(), "close: stopped after the current token");
            checkEq(before + 2, Native.liveObjects(), "close: session freed once generate returned");
            expect(IllegalStateException.class, "close: a call afterwards", () -> s.pos());
            checkEq(0L, ctx.validationMessages(), "validation messages");
        }
        checkEq(before, Native.liveObjects(), "all freed");
    }

    /**
     * Session state: pos()/nCtx()/events() from another thread while a generation waits in its
     * callback, truncate and evalPrompt against a fresh session, saveState/restoreState and
     * save/load (bad input refused, the session unchanged), a context shift.
     */
    static void sessionState() throws Exception {
        int[] want = greedyIds();
        try (Context ctx = new Context(); Model model = new Model(ctx, model()); Session s = new Session(model, 128)) {
            HeldGeneration gen = new HeldGeneration(s, 3);
            check(gen.awaitReached(), "generation reached token 3");
            // These return while the generating thread holds the session.
            checkEq(1 + 2, s.pos(), "pos() during a generation: BOS + 2 tokens evaluated");
            checkEq(128, s.nCtx(), "nCtx() during a generation");
            checkEq(0, s.events(), "events() during a generation");
            s.cancel();
            gen.release();
            checkEq(null, gen.error.get(), "generate threw nothing");
            checkEq(Session.EVENT_CANCELLED, s.events(), "events after cancel");
            checkEq(1 + 3, s.pos(), "the token being passed on is evaluated");

            // truncate + continue = a fresh session fed the same tokens
            int[] bosAnd = new int[9];
            bosAnd[0] = model.bos();
            System.arraycopy(want, 0, bosAnd, 1, 8);
            s.reset();
            s.eval(bosAnd);
            s.eval(Arrays.copyOfRange(want, 20, 25));
            expectVkrt(Status.INVALID_ARGUMENT, "outside [0, pos = 14]", "truncate past pos", () -> s.truncate(15));
            expectVkrt(Status.INVALID_ARGUMENT, "outside", "truncate to -1", () -> s.truncate(-1));
            s.truncate(9);
            checkEq(Arrays.toString(bosAnd), Arrays.toString(s.tokens()), "tokens after truncate");
            s.eval(new int[] {want[8]});
            try (Session fresh = new Session(model, 128)) {
                fresh.eval(bosAnd);
                fresh.eval(new int[] {want[8]});
                check(Arrays.equals(fresh.logits(), s.logits()), "truncate and continue: the fresh session's logits");
                // prefix reuse: the cached 10 tokens + 2 more, only those evaluated
                int[] turn = Arrays.copyOf(bosAnd, 11);
                turn[9] = want[8];
                turn[10] = want[9];
                checkEq(10, s.evalPrompt(turn), "evalPrompt reused the cached tokens");
                fresh.eval(new int[] {want[9]});
                check(Arrays.equals(fresh.logits(), s.logits()), "evalPrompt: the fresh session's logits");
            }

            // saved state: memory and file; bad data refused, the session unchanged
            byte[] state = s.saveState();
            int[] next = generateIds(s, "", 4);
            File file = File.createTempFile("vkrt-session", ".bin");
            file.deleteOnExit();
            try (Session r = new Session(model, 128)) {
                r.restoreState(state);
                checkEq(Arrays.toString(next), Arrays.toString(generateIds(r, "", 4)), "restored: same ids");
                int pos = r.pos();
                expectVkrt(Status.BAD_FORMAT, "truncated", "a cut state",
                        () -> r.restoreState(Arrays.copyOf(state, state.length - 100)));
                byte[] flipped = state.clone();
                flipped[state.length / 2] ^= 4;
                expectVkrt(Status.BAD_FORMAT, "checksum", "a flipped bit", () -> r.restoreState(flipped));
                checkEq(pos, r.pos(), "refused restores leave the session as it was");
                r.save(file.getPath());
            }
            try (Session small = new Session(model, 64)) {
                expectVkrt(Status.INVALID_ARGUMENT, "is smaller", "a smaller n_ctx", () -> small.restoreState(state));
                small.truncate(0);
            }
            try (Session r = new Session(model, 128)) {
                r.load(file.getPath());
                checkEq(11 + 4, r.pos(), "loaded from a file: the prompt of 11 and 4 generated tokens");
            }

            // a context shift: the generation goes on past n_ctx
            try (Session shift = new Session(model, 32, 0, Session.Overflow.SHIFT, 1)) {
                final int[] count = {0};
                shift.generate("", SamplerParams.greedy(), 80, (token, piece) -> ++count[0] > 0);
                check(count[0] > 40, "shift: the generation went past n_ctx (" + count[0] + " tokens)");
                check((shift.events() & Session.EVENT_SHIFTED) != 0, "shift: reported");
                check(shift.pos() <= 32, "shift: within n_ctx");
            }
            checkEq(0L, ctx.validationMessages(), "validation messages");
        }
    }

    /** Two sessions on one model on two threads give the single-thread ids. */
    static void threads() throws Exception {
        final int[] want = prefix(greedyIds(), 64);
        try (Context ctx = new Context(); Model model = new Model(ctx, model())) {
            final int nThreads = 2;
            final CyclicBarrier start = new CyclicBarrier(nThreads);
            final int[][] got = new int[nThreads][];
            final AtomicReference<Throwable> error = new AtomicReference<>();
            Thread[] ts = new Thread[nThreads];
            for (int i = 0; i < nThreads; ++i) {
                final int k = i;
                ts[i] = new Thread(() -> {
                    try (Session s = new Session(model, 128)) {
                        start.await();
                        // two rounds: a reset between them exercises the replayed decode again
                        got[k] = generateIds(s, "", 64);
                        s.reset();
                        int[] again = generateIds(s, "", 64);
                        if (!Arrays.equals(got[k], again)) throw new AssertionError("thread " + k + ": second round differs");
                    } catch (Throwable t) {
                        error.compareAndSet(null, t);
                    }
                }, "session-" + i);
                ts[i].start();
            }
            for (Thread t : ts) t.join();
            checkEq(null, error.get(), "no thread failed");
            for (int i = 0; i < nThreads; ++i)
                checkEq(Arrays.toString(want), Arrays.toString(got[i]), "thread " + i + " ids");
            checkEq(0L, ctx.validationMessages(), "validation messages (threading errors included)");
        }
    }

    /** Close context, model and session in each of the 6 orders; what is open keeps working. */
    static void closeOrders() throws Exception {
        final int[] want = greedyIds();
        final long before = Native.liveObjects();
        final String[] names = {"context", "model", "session"};
        int[][] orders = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
        for (int[] order : orders) {
            StringBuilder on = new StringBuilder();
            for (int i : order) on.append(names[i]).append(' ');
            String o = "order " + on.toString().trim();
            Context ctx = new Context();
            Model model = new Model(ctx, model());
            Session s = new Session(model, 64);
            checkEq(before + 3, Native.liveObjects(), o + ": three native handles");
            AutoCloseable[] objs = {ctx, model, s};
            boolean[] closed = new boolean[3];
            int generated = 0;
            for (int i : order) {
                objs[i].close();
                objs[i].close();  // idempotent
                closed[i] = true;
                // what is closed refuses calls, with the object's name
                if (closed[0]) {
                    IllegalStateException e = expect(IllegalStateException.class, o + ": context call",
                            () -> ctx.describe());
                    if (e != null) checkEq("Context is closed", e.getMessage(), o + ": message");
                    expect(IllegalStateException.class, o + ": model from a closed context",
                            () -> new Model(ctx, model()));
                }
                if (closed[1]) {
                    expect(IllegalStateException.class, o + ": model call", () -> model.tokenize("a"));
                    expect(IllegalStateException.class, o + ": session from a closed model",
                            () -> new Session(model));
                }
                if (closed[2]) expect(IllegalStateException.class, o + ": session call", () -> s.generate("", SamplerParams.greedy(), 1));
                // what is open works, also when what it was made from is closed
                if (!closed[1])
                    checkEq(Arrays.toString(prefix(want, 3)), Arrays.toString(
                            model.tokenize(model.detokenize(prefix(want, 3)), false, false)), o + ": model works");
                if (!closed[2]) {
                    int[] ids = generateIds(s, "", 3);
                    checkEq(Arrays.toString(Arrays.copyOfRange(want, generated, generated + 3)), Arrays.toString(ids),
                            o + ": session continues the greedy text");
                    generated += 3;
                }
            }
            checkEq(before, Native.liveObjects(), o + ": every native handle freed");
        }
        checkEq(0, NativeHandle.LIVE.get(), "no Java handle left");
    }

    private static void makeGarbage() {
        Context ctx = new Context();
        Model model = new Model(ctx, model());
        Session s = new Session(model, 32);
        s.generate("Once", SamplerParams.greedy(), 2);
        new Session(model, 32);  // never used
        model.close();           // closed, but its session holds it
    }

    /** Objects dropped without close are freed by the cleaner, each exactly once. */
    static void gc() throws Exception {
        final long before = Native.liveObjects();
        makeGarbage();
        makeGarbage();
        checkEq(before + 8, Native.liveObjects(), "2 x (context + model + 2 sessions) alive");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (Native.liveObjects() > before && System.nanoTime() < deadline) {
            System.gc();
            Thread.sleep(50);
        }
        checkEq(before, Native.liveObjects(), "the cleaner freed them all");
        // nothing is freed twice: more collections change nothing
        for (int i = 0; i < 5; ++i) {
            System.gc();
            Thread.sleep(50);
        }
        checkEq(before, Native.liveObjects(), "and nothing more");
        checkEq(0, NativeHandle.LIVE.get(), "Java handles");
    }

    /** Bad input gives VkrtException with a status and vkrt's message. */
    static void errors() throws Exception {
        final String missing = models + "/no-such-model.gguf";
        final long before = Native.liveObjects();
        try (Context ctx = new Context()) {
            expectVkrt(Status.IO_ERROR, missing, "missing model file", () -> new Model(ctx, missing));
            final String notGguf = models + "/stories260K.greedy256.ids.txt";
            expectVkrt(Status.BAD_FORMAT, "stories260K.greedy256.ids.txt", "a text file as model",
                    () -> new Model(ctx, notGguf));
            expectVkrt(Status.INVALID_ARGUMENT, "NUL", "NUL in a path", () -> new Model(ctx, "a\0b"));
            expect(NullPointerException.class, "null path", () -> new Model(ctx, null));

            RuntimeException boom = new RuntimeException("listener failed");
            RuntimeException got = expect(RuntimeException.class, "throwing progress listener",
                    () -> new Model(ctx, model(), f -> {
                        if (f > 0.5f) throw boom;
                    }));
            check(got == boom, "the listener's exception comes back");
            checkEq(before + 1, Native.liveObjects(), "the model of the failed load is freed");

            // A load listener that returns false cancels the load: CANCELLED, nothing kept, and
            // the listener is not asked again once it said no.
            final List<Float> asked = new ArrayList<>();
            expectVkrt(Status.CANCELLED, "cancelled", "load listener returning false",
                    () -> Model.load(ctx, model(), f -> {
                        asked.add(f);
                        return f < 0.5f;
                    }));
            check(asked.size() >= 2, "the listener was asked before it said no: " + asked);
            check(asked.get(asked.size() - 1) >= 0.5f, "asked no more after it returned false: " + asked);
            for (int i = 0; i + 1 < asked.size(); ++i) check(asked.get(i) < 0.5f, "said yes before: " + asked);
            checkEq(before + 1, Native.liveObjects(), "the model of the cancelled load is freed");
            final List<Float> all = new ArrayList<>();
            try (Model loaded = Model.load(ctx, model(), f -> {
                all.add(f);
                return true;
            })) {
                checkEq(512, loaded.nVocab(), "a listener that returns true loads the model");
                checkEq(1.0f, all.get(all.size() - 1), "and is asked up to 1");
            }
            try (Model loaded = Model.load(ctx, model(), null)) {
                checkEq(512, loaded.nVocab(), "no listener");
            }

            try (Model model = new Model(ctx, model()); Session s = new Session(model, 16)) {
                expectVkrt(Status.INVALID_ARGUMENT, "nothing evaluated", "logits before eval", () -> s.logits());
                expectVkrt(Status.INVALID_ARGUMENT, "100000", "token outside the vocabulary",
                        () -> s.eval(new int[] {100000}));
                expectVkrt(Status.INVALID_ARGUMENT, "-1", "detokenize -1", () -> model.detokenize(new int[] {-1}));
                expectVkrt(Status.INVALID_ARGUMENT, "NUL", "NUL in a prompt",
                        () -> s.generate("a\0b", SamplerParams.greedy(), 1));
                int[] many = new int[20];
                Arrays.fill(many, 5);
                expectVkrt(Status.LIMIT_EXCEEDED, "context", "20 tokens in a context of 16", () -> s.eval(many));
                s.reset();
                SamplerParams bad = new SamplerParams();
                bad.setRepeatPenalty(-1f);
                expectVkrt(Status.INVALID_ARGUMENT, "repeat_penalty", "negative repeat penalty",
                        () -> s.generate("Once", bad, 1));
                expect(IllegalArgumentException.class, "maxTokens < 0", () -> s.generate("", SamplerParams.greedy(), -1));
                expectVkrt(Status.INVALID_ARGUMENT, "n_ctx", "negative n_ctx", () -> new Session(model, -5));
            }
            checkEq(0L, ctx.validationMessages(), "validation messages");
        }
        Context.Options o = new Context.Options();
        o.setDevice("no-such-gpu-name");
        expectVkrt(Status.INVALID_ARGUMENT, "no-such-gpu-name", "unknown device", () -> new Context(o));
        checkEq(before, Native.liveObjects(), "nothing leaked");

        VkrtException e = new VkrtException(Status.IO_ERROR, "x");
        checkEq("org.vkrt.VkrtException [io_error]: x", e.toString(), "toString names the status");
        checkEq(Status.INTERNAL, Status.fromCode(99), "unknown status code");
    }

    /** Tokenize / detokenize (non-ASCII included), UTF-8 streaming, sampler defaults, the cache folder. */
    static void text() throws Exception {
        File cacheDir = Files.createTempDirectory("vkrt-java-cache").toFile();
        Context.Options o = new Context.Options();
        o.setPipelineCacheDir(new File(cacheDir, "sub"));
        try (Context ctx = new Context(o); Model model = new Model(ctx, model())) {
            check(ctx.describe().contains("device:"), "describe");
            int[] ids = model.tokenize("Once upon a time");
            checkEq(1, ids[0], "BOS first");
            checkEq("Once upon a time", model.detokenize(Arrays.copyOfRange(ids, 1, ids.length)), "round trip");
            checkEq(ids.length - 1, model.tokenize("Once upon a time", false, false).length, "without BOS");
            // Characters outside the 512-token vocabulary go through byte tokens; 4-byte UTF-8
            // (outside the BMP) survives, as JNI's modified UTF-8 would not.
            String s = "naïve café — 東京 😀 done";
            int[] u = model.tokenize(s, false, false);
            checkEq(s, model.detokenize(u), "non-ASCII round trip");
            checkEq(0, model.tokenize("", false, false).length, "empty text");

            // Generated pieces arrive as bytes; a byte token may carry part of a character.
            Utf8Stream raw = new Utf8Stream();
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            StringBuilder out = new StringBuilder();
            int holds = 0;
            for (byte x : b) {
                String piece = raw.push(new byte[] {x});
                if (piece.isEmpty()) ++holds;
                out.append(piece);
            }
            checkEq(s, out.toString(), "byte-by-byte stream");
            checkEq(b.length - s.codePointCount(0, s.length()), holds, "bytes held back inside characters");
            checkEq(s, raw.finish(), "finish()");
            Utf8Stream cut = new Utf8Stream();
            checkEq("a", cut.push(new byte[] {'a', (byte) 0xe6, (byte) 0x9d}), "unfinished tail held");
            checkEq("a\uFFFD", cut.finish(), "an unfinished tail at the end becomes U+FFFD");
            Utf8Stream bad = new Utf8Stream();
            checkEq("\uFFFDx", bad.push(new byte[] {(byte) 0xff, 'x'}), "invalid byte decoded at once");

            SamplerParams d = new SamplerParams();
            checkEq(0.8f, d.getTemperature(), "default temperature");
            checkEq(40, d.getTopK(), "default top_k");
            checkEq(0.95f, d.getTopP(), "default top_p");
            checkEq(0.05f, d.getMinP(), "default min_p");
            checkEq(1.0f, d.getRepeatPenalty(), "default repeat_penalty");
            checkEq(64, d.getRepeatLastN(), "default repeat_last_n");
            checkEq(SamplerParams.RANDOM_SEED, d.getSeed(), "default seed");

            // Seeded sampling is reproducible.
            SamplerParams p = new SamplerParams();
            p.setSeed(42);
            String a, c;
            try (Session s1 = new Session(model, 64)) {
                a = s1.generate("Once upon", p, 20);
            }
            try (Session s2 = new Session(model, 64)) {
                c = s2.generate("Once upon", p, 20);
            }
            checkEq(a, c, "same seed, same text");
            checkEq(0L, ctx.validationMessages(), "validation messages");
        }
        File[] files = new File(cacheDir, "sub").listFiles();
        check(files != null && files.length == 1 && files[0].getName().startsWith("pipelines-")
                        && files[0].length() > 0,
                "the pipeline cache is written to the folder passed in: " + Arrays.toString(files));
        if (files != null) for (File f : files) f.delete();
        new File(cacheDir, "sub").delete();
        cacheDir.delete();
    }

    /** A callback from a native thread: attached for the call, detached after, exceptions carried over. */
    static void nativeThread() throws Exception {
        final Thread caller = Thread.currentThread();
        final AtomicReference<Thread> seen = new AtomicReference<>();
        final AtomicReference<String> piece = new AtomicReference<>();
        boolean r = Native.callSinkFromNativeThread((token, bytes) -> {
            seen.set(Thread.currentThread());
            piece.set(new String(bytes, StandardCharsets.UTF_8) + token);
            return true;
        }, 7, "é".getBytes(StandardCharsets.UTF_8));
        check(r, "the sink's answer comes back");
        check(seen.get() != null && seen.get() != caller, "called on another thread");
        checkEq("vkrt-native", seen.get() == null ? null : seen.get().getName(), "attached under its name");
        checkEq("é7", piece.get(), "arguments");
        check(!seen.get().isAlive(), "the attached thread is detached afterwards");
        check(!Native.callSinkFromNativeThread((t, b) -> false, 0, new byte[0]), "false comes back");
        IllegalStateException boom = new IllegalStateException("from a native thread");
        IllegalStateException got = expect(IllegalStateException.class, "exception crosses threads",
                () -> Native.callSinkFromNativeThread((t, b) -> {
                    throw boom;
                }, 0, new byte[0]));
        check(got == boom, "the same exception");
    }

    // ---- chat (vkrt.h "chat" section)

    /**
     * The chat API from Java: metadata, templates, a multi-turn conversation with prefix reuse,
     * stop strings (never in the text), max tokens and finish reasons, logprobs, penalties,
     * logit bias, a JSON Schema, cancel, and the bad input of each.
     */
    static void chat() throws Exception {
        try (Context ctx = new Context(); Model model = new Model(ctx, model()); Session s = new Session(model, 512)) {
            // metadata
            checkEq("llama", model.metaString("general.architecture"), "metaString");
            checkEq(512L, model.metaArrayLength("tokenizer.ggml.tokens"), "metaArrayLength");
            checkEq((long) model.nCtxTrain(), model.metaLong("llama.context_length"), "metaLong");
            check(model.metaDouble("llama.attention.layer_norm_rms_epsilon") > 0, "metaDouble");
            check(model.hasMeta("general.architecture") && !model.hasMeta("nope"), "hasMeta");
            expectVkrt(Status.INVALID_ARGUMENT, "nope", "missing key", () -> model.metaLong("nope"));
            expectVkrt(Status.INVALID_ARGUMENT, "STRING", "wrong type", () -> model.metaLong("general.architecture"));

            // templates
            checkEq("none", model.chatTemplate(), "chatTemplate");
            List<ChatMessage> conv = new ArrayList<>();
            conv.add(ChatMessage.system("You tell stories."));
            conv.add(ChatMessage.user("A cat, caf\u00e9 \uD83D\uDE42"));
            checkEq("<|im_start|>system\nYou tell stories.<|im_end|>\n<|im_start|>user\nA cat, caf\u00e9 \uD83D\uDE42"
                    + "<|im_end|>\n<|im_start|>assistant\n", model.applyChatTemplate(conv, true, "chatml"),
                    "applyChatTemplate chatml");
            expectVkrt(Status.UNSUPPORTED, "tokenizer.chat_template", "no template in the model",
                    () -> model.applyChatTemplate(conv, true));
            expectVkrt(Status.UNSUPPORTED, "{% weird %}", "unknown template",
                    () -> model.applyChatTemplate(conv, true, "{% weird %}"));
            expectVkrt(Status.INVALID_ARGUMENT, "robot", "unknown role",
                    () -> model.applyChatTemplate(Arrays.asList(new ChatMessage("robot", "x")), true, "chatml"));
            expectVkrt(Status.INVALID_ARGUMENT, "NUL", "NUL in a message",
                    () -> model.applyChatTemplate(Arrays.asList(ChatMessage.user("a\0b")), true, "chatml"));

            // a multi-turn chat: turn 2 reuses turn 1's cached prompt
            GenerateParams p = new GenerateParams().setSampler(SamplerParams.greedy()).setChatTemplate("chatml")
                    .setMaxTokens(0);
            GenerateResult r1 = s.chat(conv, p);
            checkEq(FinishReason.LENGTH, r1.finishReason(), "max tokens 0");
            checkEq(r1.promptTokens(), s.pos(), "the prompt is cached");
            conv.add(ChatMessage.assistant("Once upon a time there was a cat."));
            conv.add(ChatMessage.user("More!"));
            StringBuilder streamed = new StringBuilder();
            p.setMaxTokens(16).setLogprobs(true, 3);
            final float[] firstTop = new float[3];
            GenerateResult r2 = s.chat(conv, p, info -> {
                if (info.token() >= 0 && streamed.length() == 0 && info.topLogprobs().length == 3)
                    System.arraycopy(info.topLogprobs(), 0, firstTop, 0, 3);
                streamed.append(info.text());
                check(info.token() < 0 || info.logprob() <= 0f, "logprob <= 0");
                return true;
            });
            check(r2.cachedTokens() > r1.promptTokens() / 2, "turn 2 reuses the cache: " + r2.cachedTokens());
            checkEq(r2.text(), streamed.toString(), "streamed text = result text");
            check(firstTop[0] >= firstTop[1] && firstTop[1] >= firstTop[2] && firstTop[0] < 0f, "top logprobs sorted");
            conv.add(ChatMessage.assistant(r2.text()));

            // stop strings never reach the text
            s.reset();
            GenerateParams g = new GenerateParams().setSampler(SamplerParams.greedy()).setMaxTokens(40);
            String full = s.complete("Once upon a time", g, null).text();
            checkEq(40, s.pos() - model.tokenize("Once upon a time").length, "40 tokens generated");
            String stop = full.substring(10, 14);
            s.reset();
            GenerateResult cut = s.complete("Once upon a time", g.addStop(stop), null);
            checkEq(FinishReason.STOP_STRING, cut.finishReason(), "stop string");
            checkEq(full.substring(0, full.indexOf(stop)), cut.text(), "text before the stop string");
            expectVkrt(Status.INVALID_ARGUMENT, "0 bytes", "empty stop string",
                    () -> s.complete("x", new GenerateParams().addStop(""), null));
            StringBuilder big = new StringBuilder();
            for (int i = 0; i < 65536; ++i) big.append('a');
            expectVkrt(Status.INVALID_ARGUMENT, "65536 bytes", "64 KiB stop string",
                    () -> s.complete("x", new GenerateParams().addStop(big.toString()), null));

            // penalties, bias, cancel
            s.reset();
            GenerateResult pen = s.complete("Once upon a time",
                    new GenerateParams().setSampler(SamplerParams.greedy()).setMaxTokens(30).setPresencePenalty(100f),
                    null);
            checkEq(30, pen.generatedTokens(), "30 tokens with a presence penalty");
            s.reset();
            GenerateResult eog = s.complete("Once", new GenerateParams().setSampler(SamplerParams.greedy())
                    .setMaxTokens(5).setLogitBias(model.eos(), 1000f), null);
            checkEq(FinishReason.EOG, eog.finishReason(), "logit bias on EOS ends at once");
            expectVkrt(Status.INVALID_ARGUMENT, "512", "bias outside the vocabulary",
                    () -> s.complete("", new GenerateParams().setLogitBias(512, 1f), null));
            s.reset();
            final int[] calls = {0};
            GenerateResult cancelled = s.complete("Once", new GenerateParams().setMaxTokens(50),
                    info -> ++calls[0] < 4);
            checkEq(FinishReason.CANCELLED, cancelled.finishReason(), "callback returning false cancels");
            checkEq(4, cancelled.generatedTokens(), "after 4 tokens");
            // Session.cancel() from another thread ends a running chat with CANCELLED
            s.reset();
            final CountDownLatch started = new CountDownLatch(1);
            final AtomicReference<GenerateResult> fromThread = new AtomicReference<>();
            Thread worker = new Thread(() -> fromThread.set(s.chat(Arrays.asList(ChatMessage.user("Go")),
                    new GenerateParams().setSampler(SamplerParams.greedy()).setChatTemplate("chatml")
                            .setMaxTokens(400).setLogitBias(model.eos(), Float.NEGATIVE_INFINITY), info -> {
                        started.countDown();
                        return true;
                    })));
            worker.start();
            check(started.await(60, TimeUnit.SECONDS), "the chat started");
            s.cancel();
            worker.join();
            checkEq(FinishReason.CANCELLED, fromThread.get() == null ? null : fromThread.get().finishReason(),
                    "cancel() from another thread");

            // constrained output
            s.reset();
            GenerateParams js = new GenerateParams().setMaxTokens(300)
                    .setJsonSchema("{\"type\": \"object\", \"properties\": {\"n\": {\"type\": \"integer\"}},"
                            + " \"required\": [\"n\"]}");
            js.getSampler().setSeed(3);
            GenerateResult json = s.complete("Once", js, null);
            checkEq(FinishReason.EOG, json.finishReason(), "the grammar's end");
            check(json.text().matches("\\{\\s*\"n\"\\s*:\\s*-?\\d+\\s*\\}\\s*"), "schema output: " + json.text());
            expectVkrt(Status.INVALID_ARGUMENT, "line 1, column 14", "grammar error position",
                    () -> Grammars.checkGbnf("root ::= \"a\" foo\n"));
            expectVkrt(Status.INVALID_ARGUMENT, "left-recursive", "left recursion",
                    () -> Grammars.checkGbnf("root ::= root \"a\" | \"a\"\n"));
            expectVkrt(Status.INVALID_ARGUMENT, "empty", "empty language", () -> Grammars.checkGbnf("root ::= []\n"));
            check(Grammars.jsonSchemaToGrammar("{\"type\": \"boolean\"}").startsWith("root ::= boolean"),
                    "jsonSchemaToGrammar");
            expectVkrt(Status.INVALID_ARGUMENT, "pattern", "unsupported schema keyword",
                    () -> Grammars.jsonSchemaToGrammar("{\"type\": \"string\", \"pattern\": \"a\"}"));

            // a GBNF enumeration through setGrammar, sampled: always one of its words
            for (int seed = 0; seed < 4; ++seed) {
                s.reset();
                GenerateParams gp = new GenerateParams().setGrammar("root ::= (\"yes\" | \"no\" | \"maybe\") \".\"\n")
                        .setMaxTokens(20);
                gp.getSampler().setSeed(seed);
                String word = s.complete("Once", gp, null).text();
                check(word.equals("yes.") || word.equals("no.") || word.equals("maybe."), "GBNF output: " + word);
            }
            expectVkrt(Status.INVALID_ARGUMENT, "line 2, column 1: expected ')'", "a grammar that does not parse",
                    () -> s.complete("x", new GenerateParams().setGrammar("root ::= (\"a\"\n"), null));
            // every sampler setter reaches the sampler: the same seed and settings, the same text;
            // another seed, another text
            SamplerParams sp = new SamplerParams();
            sp.setTemperature(1.5f);
            sp.setTopK(100);
            sp.setTopP(0.99f);
            sp.setMinP(0.001f);
            sp.setRepeatPenalty(1.1f);
            sp.setRepeatLastN(16);
            sp.setSeed(11);
            GenerateParams sampled = new GenerateParams().setSampler(sp).setMaxTokens(24).setFrequencyPenalty(0.5f);
            s.reset();
            String t1 = s.complete("Once", sampled, null).text();
            s.reset();
            String t2 = s.complete("Once", sampled, null).text();
            checkEq(t1, t2, "seeded sampling with penalties repeats");
            sp.setSeed(12);
            boolean differs = false;
            for (int seed = 12; seed < 16 && !differs; ++seed) {
                sp.setSeed(seed);
                s.reset();
                differs = !s.complete("Once", sampled, null).text().equals(t1);
            }
            check(differs, "another seed gives another text");
            // greedy: the chosen token is the most likely of the top ones
            s.reset();
            final int[] chosenAndTop = {-1, -2};
            s.complete("Once", new GenerateParams().setSampler(SamplerParams.greedy()).setMaxTokens(1)
                    .setLogprobs(true, 2), info -> {
                        if (info.token() >= 0) {
                            chosenAndTop[0] = info.token();
                            chosenAndTop[1] = info.topTokens()[0];
                        }
                        return true;
                    });
            checkEq(chosenAndTop[0], chosenAndTop[1], "greedy picks topTokens()[0]");
            // an unpaired surrogate is refused as the C API refuses invalid UTF-8
            expectVkrt(Status.INVALID_ARGUMENT, "unpaired surrogate U+D83D at index 2", "unpaired surrogate",
                    () -> s.chat(Arrays.asList(ChatMessage.user("ab\uD83D")), p));
            expectVkrt(Status.INVALID_ARGUMENT, "unpaired surrogate", "unpaired surrogate in a stop string",
                    () -> s.complete("x", new GenerateParams().addStop("\uDE42x"), null));
            checkEq(0L, ctx.validationMessages(), "validation messages");
        }
    }

    // ---- the Android sample's chat (samples/android: ChatController, the activity's every vkrt call)

    /**
     * The sample's controller on the JVM: a multi-turn chat reusing its cached prefix, saved to a
     * folder (as on the activity's stop) and restored into a new context, model and session (as
     * on a start after Android killed the process): the next turn reuses the restored cache and
     * replies as the uninterrupted controller does. A corrupt or missing save starts afresh; a
     * conversation longer than n_ctx goes on (context shift).
     */
    static void androidChat() throws Exception {
        File dir = Files.createTempDirectory("vkrt-android-chat").toFile();
        final SamplerParams greedy = SamplerParams.greedy();
        try (Context ctx = new Context();
             org.vkrt.sample.ChatController a = new org.vkrt.sample.ChatController(ctx, model(), 256,
                     "You tell stories.", f -> true)) {
            GenerateResult r1 = a.turn("Once upon a time", greedy, 12, null);
            checkEq(FinishReason.LENGTH, r1.finishReason(), "turn 1 finish");
            GenerateResult r2 = a.turn("The dog", greedy, 12, null);
            check(r2.cachedTokens() > 0 && r2.cachedTokens() < r2.promptTokens(),
                    "turn 2 reuses the cached prefix: " + r2.cachedTokens() + " of " + r2.promptTokens());
            checkEq(5, a.conversation().size(), "system, 2 x (user, assistant)");
            a.save(dir);

            try (Context ctx2 = new Context();
                 org.vkrt.sample.ChatController b = new org.vkrt.sample.ChatController(ctx2, model(), 256,
                         "You tell stories.", f -> true)) {
                check(b.restore(dir), "restored");
                checkEq(a.conversation().toString(), b.conversation().toString(), "the conversation comes back");
                checkEq(a.cachedTokens(), b.cachedTokens(), "and the cache's tokens");
                GenerateResult ra = a.turn("A cat", greedy, 12, null);
                GenerateResult rb = b.turn("A cat", greedy, 12, null);
                checkEq(ra.text(), rb.text(), "the restored chat replies as the uninterrupted one");
                checkEq(ra.cachedTokens(), rb.cachedTokens(), "reusing the restored cache as much");
                check(rb.cachedTokens() >= r2.promptTokens(),
                        "the whole previous conversation came from the restored cache: " + rb.cachedTokens());
            }

            // A corrupt session file is refused; the controller stays as it was and goes on.
            File state = new File(dir, "session.bin");
            byte[] bytes = Files.readAllBytes(state.toPath());
            bytes[bytes.length / 2] ^= 0x10;
            Files.write(state.toPath(), bytes);
            try (org.vkrt.sample.ChatController c = new org.vkrt.sample.ChatController(ctx, model(), 256,
                    "You tell stories.", f -> true)) {
                expect(VkrtException.class, "restoring a corrupt session file", () -> c.restore(dir));
                checkEq(1, c.conversation().size(), "the conversation is unchanged (the system prompt)");
                checkEq(0, c.cachedTokens(), "the session is unchanged (empty)");
                checkEq(FinishReason.LENGTH, c.turn("Once upon a time", greedy, 4, null).finishReason(),
                        "and chats on");
                check(!c.restore(new File(dir, "missing")), "nothing saved: nothing restored");
            }
            Files.write(new File(dir, "conversation.bin").toPath(), new byte[] {1, 2, 3});
            try (org.vkrt.sample.ChatController c = new org.vkrt.sample.ChatController(ctx, model(), 256,
                    "You tell stories.", f -> true)) {
                expect(IOException.class, "a cut conversation file", () -> c.restore(dir));
                checkEq(0, c.cachedTokens(), "the session is unchanged");
            }

            // A conversation 3x the context: every turn ends by its length, never a full context.
            try (org.vkrt.sample.ChatController small = new org.vkrt.sample.ChatController(ctx, model(), 64,
                    "You tell stories.", f -> true)) {
                for (int t = 0; t < 8; ++t) {
                    GenerateResult r = small.turn("Then the cat ran", greedy, 16, null);
                    checkEq(FinishReason.LENGTH, r.finishReason(), "long conversation, turn " + t);
                    check(small.cachedTokens() <= 64, "within n_ctx");
                }
            }
            expectVkrt(Status.CANCELLED, "cancelled", "a load the listener stops",
                    () -> new org.vkrt.sample.ChatController(ctx, model(), 64, "x", f -> false));
            checkEq(0L, ctx.validationMessages(), "validation messages");
        } finally {
            for (File f : dir.listFiles()) f.delete();
            dir.delete();
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: JavaTests CASE MODELS_DIR");
            System.exit(2);
        }
        models = args[1];
        String name = args[0];
        long t0 = System.nanoTime();
        try {
            switch (name) {
                case "greedy": greedy(); break;
                case "cancel": cancel(); break;
                case "threads": threads(); break;
                case "close_orders": closeOrders(); break;
                case "gc": gc(); break;
                case "errors": errors(); break;
                case "text": text(); break;
                case "native_thread": nativeThread(); break;
                case "chat": chat(); break;
                case "session_state": sessionState(); break;
                case "android_chat": androidChat(); break;
                default:
                    System.err.println("unknown case " + name);
                    System.exit(2);
            }
        } catch (Throwable t) {
            ++failed;
            System.err.println("FAILED: " + name + " threw:");
            t.printStackTrace();
        }
        // Whatever the case left open must be freed by now (every case closes what it makes).
        if (!name.equals("gc")) checkEq(0, NativeHandle.LIVE.get(), "Java handles left open");
        System.out.printf("java %s: %.1f s%n", name, (System.nanoTime() - t0) / 1e9);
        System.out.println(passed + " passed, " + failed + " failed");
        System.exit(failed == 0 ? 0 : 1);
    }
}
