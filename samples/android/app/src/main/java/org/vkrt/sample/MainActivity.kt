package org.vkrt.sample

import android.os.Bundle
import android.widget.Button
import android.widget.EditText
import android.widget.ScrollView
import android.widget.TextView
import androidx.activity.ComponentActivity
import androidx.lifecycle.lifecycleScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import org.vkrt.ChatMessage
import org.vkrt.GenerateParams
import org.vkrt.Model
import org.vkrt.SamplerParams
import org.vkrt.Session
import org.vkrt.VkrtException
import java.io.File
import org.vkrt.Context as VkrtContext // android.content.Context is a different thing

/**
 * Loads model.gguf from the app's storage and keeps a multi-turn chat with it through vkrt's
 * chat API (the conversation as a list of messages; each turn reuses the cached prefix), the
 * replies streamed into a TextView. A base model without a chat template continues the text.
 * Put a model there first, for example:
 *   adb push stories260K.gguf /sdcard/Android/data/org.vkrt.sample/files/model.gguf
 */
class MainActivity : ComponentActivity() {
    private var vkrt: VkrtContext? = null
    private var model: Model? = null
    private var session: Session? = null
    private var generation: Job? = null
    // The conversation so far: system prompt, then user and assistant turns.
    private val conversation = mutableListOf(ChatMessage.system("You are a friendly storyteller."))
    private var plain = false  // the model has no chat template: plain completion

    private lateinit var status: TextView
    private lateinit var output: TextView
    private lateinit var scroll: ScrollView
    private lateinit var prompt: EditText
    private lateinit var button: Button

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        status = findViewById(R.id.status)
        output = findViewById(R.id.output)
        scroll = findViewById(R.id.scroll)
        prompt = findViewById(R.id.prompt)
        button = findViewById(R.id.generate)
        button.setOnClickListener { if (generation?.isActive == true) generation?.cancel() else generate() }

        val file = File(getExternalFilesDir(null), "model.gguf")
        status.text = "loading ${file.path}"
        lifecycleScope.launch {
            try {
                withContext(Dispatchers.IO) {
                    // Compiled GPU kernels are kept in the app's cache folder (no ~/.cache on Android).
                    val options = VkrtContext.Options().apply { setPipelineCacheDir(cacheDir) }
                    val ctx = VkrtContext(options)
                    vkrt = ctx
                    val m = Model(ctx, file.path) { fraction ->
                        runOnUiThread { status.text = "loading ${(fraction * 100).toInt()}%" }
                    }
                    model = m
                    plain = m.chatTemplate() == "none" || m.chatTemplate() == "unknown"
                    session = Session(m, 2048)
                }
                status.text = vkrt?.describe()?.lineSequence()?.firstOrNull() ?: ""
                button.isEnabled = true
            } catch (e: VkrtException) {
                // e.status says what kind of failure, e.message names the file or device at fault
                status.text = "cannot load: [${e.status}] ${e.message}"
            }
        }
    }

    private fun generate() {
        val s = session ?: return
        val sampler = SamplerParams().apply {
            temperature = 0.8f
            topK = 40
            seed = System.currentTimeMillis()
        }
        val params = GenerateParams().setSampler(sampler).setMaxTokens(256)
        val text = prompt.text.toString()
        conversation.add(ChatMessage.user(text))
        output.append(if (plain) text else "> $text\n")
        prompt.text.clear()
        button.text = getString(R.string.stop)
        val reply = StringBuilder()
        generation = lifecycleScope.launch {
            try {
                s.chatFlow(conversation.toList(), params, plain) { r ->
                    runOnUiThread {
                        status.text = "${r.finishReason()}: ${r.generatedTokens()} tokens, " +
                            "${r.cachedTokens()} of ${r.promptTokens()} prompt tokens from the cache"
                    }
                }.collect { piece ->
                    reply.append(piece)
                    output.append(piece)
                    scroll.post { scroll.fullScroll(ScrollView.FOCUS_DOWN) }
                }
            } catch (e: VkrtException) {
                status.text = "[${e.status}] ${e.message}"
            } finally {
                // A stopped reply stays in the conversation as far as it got (the session holds it).
                conversation.add(ChatMessage.assistant(reply.toString()))
                output.append("\n\n")
                button.text = getString(R.string.generate)
            }
        }
    }

    override fun onDestroy() {
        super.onDestroy()
        // Any order is safe; a generation still running stops after its current token and
        // the native session is freed when it returns.
        session?.close()
        model?.close()
        vkrt?.close()
    }
}
