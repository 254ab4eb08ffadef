package org.vkrt;

/**
 * Model loading progress, from 0 to 1, on the thread that loads the model. An exception thrown
 * here stops the load at once (the C API's progress_cancel) and makes it fail with that
 * exception; what was loaded so far is freed. To cancel a load without an exception, use
 * {@link Model#load(Context, String, LoadListener)}, whose listener returns false.
 */
@FunctionalInterface
public interface ProgressListener {
    void onProgress(float fraction);
}
