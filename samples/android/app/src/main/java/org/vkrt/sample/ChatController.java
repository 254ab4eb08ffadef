package org.vkrt.sample;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.File;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

import org.vkrt.ChatMessage;
import org.vkrt.Context;
import org.vkrt.GenerateParams;
import org.vkrt.GenerateResult;
import org.vkrt.LoadListener;
import org.vkrt.Model;
import org.vkrt.SamplerParams;
import org.vkrt.Session;
import org.vkrt.StreamCallback;
import org.vkrt.VkrtException;

/**
 * The sample's chat, without Android: a model, one session and the conversation as a list of
 * messages. Each {@link #turn} hands the whole conversation to {@link Session#chat}, which
 * evaluates only what follows the tokens already in the KV cache. {@link #save} and
 * {@link #restore} keep the conversation and the session's state (its KV cache) in a folder
 * (the activity uses its private files folder, on stop and start), so that a conversation
 * survives Android killing the app in the background and goes on without evaluating it again.
 *
 * <p>Not thread-safe: the activity calls everything but {@link #cancel} from one worker thread.
 * {@link #cancel} may come from any thread (the UI's Stop button, onStop).
 */
public final class ChatController implements AutoCloseable {
    static final String SESSION_FILE = "session.bin";
    static final String CONVERSATION_FILE = "conversation.bin";
    private static final int CONVERSATION_MAGIC = 0x766b6331; // "vkc1"

    private final Model model;
    private final Session session;
    private final String systemPrompt;
    // A model without a chat template (a base model) is given ChatML's.
    private final String template;
    private final List<ChatMessage> conversation = new ArrayList<>();

    /**
     * Loads {@code modelPath} ({@code listener} may stop the load: {@link VkrtException} with
     * status CANCELLED) with a session of {@code nCtx} tokens that shifts its context when a
     * conversation outgrows it, keeping the system prompt.
     */
    public ChatController(Context vkrt, String modelPath, int nCtx, String systemPrompt, LoadListener listener) {
        this.systemPrompt = systemPrompt;
        Model m = Model.load(vkrt, modelPath, listener);
        try {
            String family = m.chatTemplate();
            template = family.equals("none") || family.equals("unknown") ? "chatml" : null;
            // n_keep: the system prompt's tokens as the template renders it (BOS included).
            List<ChatMessage> system = Collections.singletonList(ChatMessage.system(systemPrompt));
            int nKeep = m.tokenize(m.applyChatTemplate(system, false, template), true, true).length;
            session = new Session(m, nCtx, 0, Session.Overflow.SHIFT, nKeep);
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
        model = m;
        conversation.add(ChatMessage.system(systemPrompt));
    }

    /** The conversation so far (system prompt, then user and assistant turns). */
    public List<ChatMessage> conversation() {
        return Collections.unmodifiableList(new ArrayList<>(conversation));
    }

    /** Tokens in the session's KV cache. Any thread, never waits. */
    public int cachedTokens() {
        return session.pos();
    }

    /**
     * One exchange: the user's text, then the assistant's reply streamed to {@code callback}
     * (return false there, or call {@link #cancel}, to stop it). The reply joins the conversation
     * as far as it got, so that the next turn goes on from what the session holds.
     */
    public GenerateResult turn(String userText, SamplerParams sampler, int maxTokens, StreamCallback callback) {
        conversation.add(ChatMessage.user(userText));
        GenerateParams params = new GenerateParams().setSampler(sampler).setMaxTokens(maxTokens)
                .setChatTemplate(template);
        GenerateResult r;
        try {
            r = session.chat(conversation, params, callback);
        } catch (RuntimeException e) {
            conversation.remove(conversation.size() - 1);
            throw e;
        }
        conversation.add(ChatMessage.assistant(r.text()));
        return r;
    }

    /** Stops a running {@link #turn} after its current token (or prompt batch). Any thread. */
    public void cancel() {
        session.cancel();
    }

    /** Forgets the conversation and empties the KV cache; the saved files stay. */
    public void clear() {
        session.reset();
        conversation.clear();
        conversation.add(ChatMessage.system(systemPrompt));
    }

    /**
     * Writes the session's state ({@link Session#save}: a temporary file renamed over the old
     * one) and the conversation (the same way) into {@code dir}. The two files need not match:
     * the session only caches the conversation's tokens, and a turn after a restore reuses what
     * matches and evaluates the rest.
     */
    public void save(File dir) throws IOException {
        if (!dir.isDirectory() && !dir.mkdirs()) throw new IOException("cannot create " + dir);
        session.save(new File(dir, SESSION_FILE).getPath());
        File tmp = new File(dir, CONVERSATION_FILE + ".tmp");
        try (DataOutputStream out = new DataOutputStream(new FileOutputStream(tmp))) {
            out.writeInt(CONVERSATION_MAGIC);
            out.writeInt(conversation.size());
            for (ChatMessage m : conversation) {
                writeString(out, m.role());
                writeString(out, m.content());
            }
        }
        if (!tmp.renameTo(new File(dir, CONVERSATION_FILE))) throw new IOException("cannot rename " + tmp);
    }

    /**
     * Restores what {@link #save} wrote into {@code dir}. Returns false, with the controller as it
     * was, when nothing was saved there; a state the session refuses (another model, a corrupt or
     * cut file) or an unreadable conversation throws, also leaving the controller as it was.
     */
    public boolean restore(File dir) throws IOException {
        File state = new File(dir, SESSION_FILE), conv = new File(dir, CONVERSATION_FILE);
        if (!state.isFile() || !conv.isFile()) return false;
        List<ChatMessage> messages = new ArrayList<>();
        try (DataInputStream in = new DataInputStream(new FileInputStream(conv))) {
            if (in.readInt() != CONVERSATION_MAGIC) throw new IOException(conv + " is not a saved conversation");
            int n = in.readInt();
            if (n < 1 || n > 1_000_000) throw new IOException(conv + ": " + n + " messages");
            for (int i = 0; i < n; ++i) messages.add(new ChatMessage(readString(in), readString(in)));
        }
        session.load(state.getPath()); // refused: the session is unchanged (VkrtException)
        conversation.clear();
        conversation.addAll(messages);
        return true;
    }

    @Override
    public void close() {
        session.close();
        model.close();
    }

    private static void writeString(DataOutputStream out, String s) throws IOException {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        out.writeInt(b.length);
        out.write(b);
    }

    private static String readString(DataInputStream in) throws IOException {
        int n = in.readInt();
        if (n < 0 || n > (64 << 20)) throw new IOException("a saved message of " + n + " bytes");
        byte[] b = new byte[n];
        in.readFully(b);
        return new String(b, StandardCharsets.UTF_8);
    }
}
