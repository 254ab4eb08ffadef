package org.vkrt.sample

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.channels.trySendBlocking
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.launch
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
