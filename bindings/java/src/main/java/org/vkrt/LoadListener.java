package org.vkrt;

/**
 * Model loading progress, from 0 to 1, on the thread that loads the model, with a say in whether
 * the load goes on: return false to stop it (a Cancel button, an activity that went away). The
 * load then frees what it allocated and {@link Model#load} throws {@link VkrtException} with
 * {@link Status#CANCELLED}. An exception thrown here stops the load the same way and comes back
 * from {@link Model#load} instead.
 */
@FunctionalInterface
public interface LoadListener {
    boolean onProgress(float fraction);
}
