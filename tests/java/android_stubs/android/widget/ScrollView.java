package android.widget;

import android.view.View;

/** Compile-time stand-in for the SDK's class (FrameLayout in between; tests/java/android_stubs/README.md). */
public class ScrollView extends View {
    public boolean fullScroll(int direction) { throw new UnsupportedOperationException(); }
}
