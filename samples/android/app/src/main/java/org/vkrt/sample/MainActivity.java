package org.vkrt.sample;

import android.app.Activity;
import android.os.Bundle;
import android.widget.Button;
import android.widget.EditText;
import android.widget.ScrollView;
import android.widget.TextView;

import java.io.File;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import org.vkrt.ChatMessage;
import org.vkrt.Context;
import org.vkrt.GenerateResult;
import org.vkrt.SamplerParams;
import org.vkrt.VkrtException;

/**
 * A multi-turn chat with model.gguf from the app's storage through vkrt's chat API
 * ({@link ChatController}: the conversation as messages, the cached prefix reused each turn),
 * the replies streamed into a TextView, with a Stop button. The conversation and its KV cache
 * are saved to the app's private storage when the activity stops and restored when it starts
 * again after Android killed the process, so the chat goes on where it was without evaluating
 * it again. Put a model there first, for example:
 * <pre>adb push stories260K.gguf /sdcard/Android/data/org.vkrt.sample/files/model.gguf</pre>
 *
 * <p>Every vkrt call but cancel runs on one worker thread, in order: the load, the restore, the
 * turns, the save. (org.vkrt.Context is not android.content.Context: this file names only the
 * first.)
 */
public class MainActivity extends Activity {
    private static final String SYSTEM_PROMPT = "You are a friendly storyteller.";

    private final ExecutorService worker = Executors.newSingleThreadExecutor();
    private Context vkrt;                        // worker thread only
    private ChatController chat;                 // worker thread only
    private volatile ChatController running;     // set once loaded: cancel() from the UI thread
    private volatile boolean generating;
    private volatile boolean loadWanted = true;  // onDestroy stops a load that is still going
    private boolean restored;                    // UI thread: restore once per process

    private TextView status;
    private TextView output;
    private ScrollView scroll;
    private EditText prompt;
    private Button button;

    @Override
    protected void onCreate(Bundle savedInstanceState) {
        super.onCreate(savedInstanceState);
        setContentView(R.layout.activity_main);
        status = findViewById(R.id.status);
        output = findViewById(R.id.output);
        scroll = findViewById(R.id.scroll);
        prompt = findViewById(R.id.prompt);
        button = findViewById(R.id.generate);
        button.setOnClickListener(v -> {
            ChatController c = running;
            if (generating && c != null) c.cancel();
            else send();
        });

        final File file = new File(getExternalFilesDir(null), "model.gguf");
        final File cache = getCacheDir();
        status.setText("loading " + file.getPath());
        worker.execute(() -> {
            try {
                // Compiled GPU kernels are kept in the app's cache folder (no ~/.cache on Android).
                Context.Options options = new Context.Options();
                options.setPipelineCacheDir(cache);
                vkrt = new Context(options);
                chat = new ChatController(vkrt, file.getPath(), 2048, SYSTEM_PROMPT, fraction -> {
                    runOnUiThread(() -> status.setText("loading " + (int) (fraction * 100) + "%"));
                    return loadWanted; // false: the activity is going away, stop loading
                });
                running = chat;
                final String device = vkrt.describe().split("\n", 2)[0];
                runOnUiThread(() -> {
                    status.setText(device);
                    button.setEnabled(true);
                });
            } catch (VkrtException e) {
                // e.getStatus() says what kind of failure, the message names the file or device
                runOnUiThread(() -> status.setText("cannot load: [" + e.getStatus() + "] " + e.getMessage()));
            }
        });
    }

    @Override
    protected void onStart() {
        super.onStart();
        if (restored) return; // the process lived on: the session in memory is the latest
        restored = true;
        final File dir = getFilesDir();
        worker.execute(() -> {
            if (chat == null) return;
            try {
                if (!chat.restore(dir)) return;
                final StringBuilder text = new StringBuilder();
                for (ChatMessage m : chat.conversation()) {
                    if (m.role().equals("user")) text.append("> ").append(m.content()).append('\n');
                    else if (m.role().equals("assistant")) text.append(m.content()).append("\n\n");
                }
                final int tokens = chat.cachedTokens();
                runOnUiThread(() -> {
                    output.setText(text);
                    status.setText("restored: " + tokens + " tokens in the cache");
                });
            } catch (Exception e) { // another model, a cut or corrupt file: start afresh
                runOnUiThread(() -> status.setText("not restored: " + e.getMessage()));
            }
        });
    }

    @Override
    protected void onStop() {
        super.onStop();
        // Stop a reply (it is kept as far as it got), then save after it on the worker thread.
        ChatController c = running;
        if (c != null) c.cancel();
        final File dir = getFilesDir();
        worker.execute(() -> {
            if (chat == null) return;
            try {
                chat.save(dir);
            } catch (Exception e) {
                runOnUiThread(() -> status.setText("not saved: " + e.getMessage()));
            }
        });
    }

    private void send() {
        final String text = prompt.getText().toString();
        if (text.isEmpty()) return;
        output.append("> " + text + "\n");
        prompt.setText("");
        button.setText(getString(R.string.stop));
        generating = true;
        final SamplerParams sampler = new SamplerParams();
        sampler.setTemperature(0.8f);
        sampler.setTopK(40);
        sampler.setSeed(System.currentTimeMillis());
        worker.execute(() -> {
            String end;
            try {
                GenerateResult r = chat.turn(text, sampler, 256, info -> {
                    final String piece = info.text();
                    runOnUiThread(() -> {
                        output.append(piece);
                        scroll.post(() -> scroll.fullScroll(ScrollView.FOCUS_DOWN));
                    });
                    return true;
                });
                end = r.finishReason() + ": " + r.generatedTokens() + " tokens, " + r.cachedTokens() + " of "
                        + r.promptTokens() + " prompt tokens from the cache";
            } catch (VkrtException e) {
                end = "[" + e.getStatus() + "] " + e.getMessage();
            }
            generating = false;
            final String line = end;
            runOnUiThread(() -> {
                output.append("\n\n");
                status.setText(line);
                button.setText(getString(R.string.generate));
            });
        });
    }

    @Override
    protected void onDestroy() {
        super.onDestroy();
        // Stop a load or a reply, then free everything on the worker after what it is doing
        // (onStop has queued the save before this).
        loadWanted = false;
        ChatController c = running;
        if (c != null) c.cancel();
        worker.execute(() -> {
            if (chat != null) chat.close();
            if (vkrt != null) vkrt.close();
        });
        worker.shutdown();
    }
}
