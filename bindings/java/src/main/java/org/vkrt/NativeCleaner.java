package org.vkrt;

import java.lang.ref.PhantomReference;
import java.lang.ref.ReferenceQueue;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Set;

/**
 * Runs an action once an object has become unreachable: java.lang.ref.Cleaner's job, written
 * out because Android has Cleaner only from API 33. One daemon thread ("vkrt-cleaner") waits
 * on the reference queue. Each action runs at most once, whether from {@link Cleanable#clean()}
 * (an explicit close) or from the queue.
 */
final class NativeCleaner {
    private NativeCleaner() {}

    interface Cleanable {
        void clean();
    }

    private static final ReferenceQueue<Object> QUEUE = new ReferenceQueue<>();
    // The references themselves must stay reachable until they are enqueued.
    private static final Set<Ref> PENDING = Collections.synchronizedSet(
            Collections.newSetFromMap(new IdentityHashMap<Ref, Boolean>()));

    private static final class Ref extends PhantomReference<Object> implements Cleanable {
        private final Runnable action;

        Ref(Object owner, Runnable action) {
            super(owner, QUEUE);
            this.action = action;
        }

        @Override
        public void clean() {
            if (PENDING.remove(this)) {
                clear();
                action.run();
            }
        }
    }

    static {
        Thread t = new Thread(NativeCleaner::drain, "vkrt-cleaner");
        t.setDaemon(true);
        t.start();
    }

    /** {@code action} must not refer to {@code owner}. */
    static Cleanable register(Object owner, Runnable action) {
        Ref r = new Ref(owner, action);
        PENDING.add(r);
        return r;
    }

    private static void drain() {
        for (;;) {
            try {
                ((Ref) QUEUE.remove()).clean();
            } catch (InterruptedException e) {
                // a daemon thread: nobody interrupts it on purpose; keep draining
            } catch (Throwable t) {
                // A failing free must not kill the thread that frees everything else.
                Thread.UncaughtExceptionHandler h = Thread.getDefaultUncaughtExceptionHandler();
                if (h != null) h.uncaughtException(Thread.currentThread(), t);
                else t.printStackTrace();
            }
        }
    }
}
