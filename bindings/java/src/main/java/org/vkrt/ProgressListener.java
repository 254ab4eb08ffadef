package org.vkrt;

/**
 * Model loading progress, from 0 to 1, on the thread that loads the model. An exception thrown
 * here makes the load fail with that exception once the weights are read (the C API cannot
 * stop a load halfway); the partly built model is freed.
 */
@FunctionalInterface
public interface ProgressListener {
    void onProgress(float fraction);
}
