package org.vkrt.sample

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.channels.trySendBlocking
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.launch
import org.vkrt.ChatMessage
import org.vkrt.GenerateParams
import org.vkrt.SamplerParams
import org.vkrt.Session

/**
 * [Session.generate] as a Flow of text pieces. The generation runs on a background thread;
 * cancelling the collector (leaving the screen, a Stop button cancelling its Job) cancels
 * the generation after the current token.
 */
fun Session.generateFlow(prompt: String, params: SamplerParams, maxTokens: Int): Flow<String> = callbackFlow {
    val session = this@generateFlow
    launch(Dispatchers.Default) {
        try {
            session.generate(prompt, params, maxTokens) { _, piece ->
                // false (stop) once the collector has gone away
                piece.isEmpty() || trySendBlocking(piece).isSuccess
            }
            channel.close()
        } catch (e: Throwable) {
            channel.close(e)
        }
    }
    awaitClose { session.cancel() }
}

/**
 * One assistant turn of [Session.chat] as a Flow of text pieces (stop strings never appear in
 * them); the finish reason and token counts go to [onResult] when the turn ends. [messages] is
 * the whole conversation: the session evaluates only what follows its cached prefix. A model
 * without a chat template (plain = true) continues the last message as text instead.
 */
fun Session.chatFlow(
    messages: List<ChatMessage>,
    params: GenerateParams,
    plain: Boolean = false,
    onResult: (org.vkrt.GenerateResult) -> Unit = {},
): Flow<String> = callbackFlow {
    val session = this@chatFlow
    launch(Dispatchers.Default) {
        try {
            val send = { text: String -> text.isEmpty() || trySendBlocking(text).isSuccess }
            val result = if (plain) {
                session.complete(messages.last().content(), params) { info -> send(info.text()) }
            } else {
                session.chat(messages, params) { info -> send(info.text()) }
            }
            onResult(result)
            channel.close()
        } catch (e: Throwable) {
            channel.close(e)
        }
    }
    awaitClose { session.cancel() }
}
