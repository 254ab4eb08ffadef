package android.widget;

import android.view.View;

/** Compile-time stand-in for the SDK's class (tests/java/android_stubs/README.md). */
public class TextView extends View {
    public final void setText(CharSequence text) { throw new UnsupportedOperationException(); }
    public final void append(CharSequence text) { throw new UnsupportedOperationException(); }
    public CharSequence getText() { throw new UnsupportedOperationException(); }
}
