package org.vkrt;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * Owns one native vkrt handle (context, model or session) for its Java object.
 *
 * <ul>
 *   <li>Every native call runs between {@link #acquire()} and {@link #release()}; after
 *       {@link #close()} acquire throws {@link IllegalStateException}, and a call still running
 *       keeps the handle until it releases it, so a close from another thread (or from the
 *       cleaner) never frees a handle under a running call.
 *   <li>A child (a model of a context, a session of a model) holds a use of its parent until the
 *       child is freed: the Java objects can be closed or collected in any order and the native
 *       ones are freed children first. (The C API gives the same guarantee; holding it here
 *       too keeps the binding safe on its own.)
 *   <li>The native free runs exactly once: the pointer is taken under the lock and zeroed.
 * </ul>
 *
 * It is also the cleaner's action, so it must never refer to its owner (that would keep the
 * owner reachable for ever).
 */
final class NativeHandle implements Runnable {
    /** A static free function of {@link Native}. */
    interface Freer {
        void free(long ptr);
    }

    /** Handles created and not yet freed by this class loader (tests compare it to Native.liveObjects). */
    static final AtomicInteger LIVE = new AtomicInteger();

    private final String what;
    private final Freer freer;
    private final NativeHandle parent;
    private long ptr;
    private int users;
    private boolean closed;

    /** Takes ownership of {@code ptr}; the caller holds a use of {@code parent} (if any) while calling. */
    NativeHandle(String what, long ptr, Freer freer, NativeHandle parent) {
        if (ptr == 0) throw new IllegalArgumentException(what + ": null native handle");
        this.what = what;
        this.ptr = ptr;
        this.freer = freer;
        this.parent = parent;
        if (parent != null) parent.retain();
        LIVE.incrementAndGet();
    }

    /** The native pointer, valid until the matching {@link #release()}. */
    synchronized long acquire() {
        if (closed) throw new IllegalStateException(what + " is closed");
        ++users;
        return ptr;
    }

    void release() {
        long p = 0;
        synchronized (this) {
            if (users <= 0) throw new IllegalStateException(what + ": release without acquire");
            if (--users == 0 && closed) {
                p = ptr;
                ptr = 0;
            }
        }
        if (p != 0) destroy(p);
    }

    /** A use by a child; unlike acquire it is already checked by the caller's acquire. */
    private synchronized void retain() {
        ++users;
    }

    synchronized boolean isClosed() {
        return closed;
    }

    /** Closes the Java side now and frees the native handle once the last user releases it. Idempotent. */
    void close() {
        long p = 0;
        synchronized (this) {
            if (closed) return;
            closed = true;
            if (users == 0) {
                p = ptr;
                ptr = 0;
            }
        }
        if (p != 0) destroy(p);
    }

    /** Cleaner action: the owner became unreachable. */
    @Override
    public void run() {
        close();
    }

    private void destroy(long p) {
        try {
            freer.free(p);
        } finally {
            LIVE.decrementAndGet();
            if (parent != null) parent.release();
        }
    }
}
