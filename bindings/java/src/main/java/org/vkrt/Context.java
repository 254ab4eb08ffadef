package org.vkrt;

import java.io.File;
import java.util.Objects;

/**
 * A Vulkan device: the first object to make. Safe to share between threads. Closing it while
 * models made from it are open is allowed: they keep the device until they are closed.
 *
 * <pre>{@code
 * Context.Options o = new Context.Options();
 * o.setPipelineCacheDir(androidContext.getCacheDir());   // Android: where compiled kernels are kept
 * try (Context ctx = new Context(o)) { ... }
 * }</pre>
 */
public final class Context implements AutoCloseable {
    /** What {@link Context#Context(Options)} takes; the defaults pick the best device. */
    public static final class Options {
        private String device;
        private boolean validation;
        private String pipelineCacheDir;

        /** Device index ("1") or a case-insensitive name substring; null = VKRT_DEVICE or the best device. */
        public void setDevice(String device) {
            this.device = device;
        }

        public String getDevice() {
            return device;
        }

        /** Enables the Khronos validation layer (when installed) and counts its messages. */
        public void setValidation(boolean validation) {
            this.validation = validation;
        }

        public boolean getValidation() {
            return validation;
        }

        /**
         * Folder for the pipeline cache (compiled kernels, reused by the next start); created if
         * missing. Null = $XDG_CACHE_HOME/vkrt or ~/.cache/vkrt. An Android app passes
         * {@code getCacheDir()}: it has no home directory.
         */
        public void setPipelineCacheDir(String dir) {
            this.pipelineCacheDir = dir;
        }

        public void setPipelineCacheDir(File dir) {
            this.pipelineCacheDir = dir == null ? null : dir.getPath();
        }

        public String getPipelineCacheDir() {
            return pipelineCacheDir;
        }
    }

    final NativeHandle handle;
    private final NativeCleaner.Cleanable cleanable;

    /** The best device (or VKRT_DEVICE), no validation, the default pipeline cache. */
    public Context() {
        this(new Options());
    }

    public Context(Options options) {
        Objects.requireNonNull(options, "options");
        long p = Native.contextCreate(options.device == null ? null : Text.utf8(options.device, "device"),
                options.validation,
                options.pipelineCacheDir == null ? null : Text.utf8(options.pipelineCacheDir, "pipelineCacheDir"));
        handle = new NativeHandle("Context", p, Native::contextFree, null);
        cleanable = NativeCleaner.register(this, handle);
    }

    /** Device name, driver and capabilities, one per line (what {@code vkrt-bench --devices} prints). */
    public String describe() {
        long p = handle.acquire();
        try {
            return Text.string(Native.contextDescribe(p));
        } finally {
            handle.release();
        }
    }

    /** Messages the validation layer has reported so far (0 unless validation is on). */
    public long validationMessages() {
        long p = handle.acquire();
        try {
            return Native.contextValidationMessages(p);
        } finally {
            handle.release();
        }
    }

    public boolean isClosed() {
        return handle.isClosed();
    }

    /** Idempotent. Further calls on this object throw IllegalStateException. */
    @Override
    public void close() {
        cleanable.clean();
    }
}
