package android.widget;

import android.text.Editable;

/** Compile-time stand-in for the SDK's class (tests/java/android_stubs/README.md). */
public class EditText extends TextView {
    @Override
    public Editable getText() { throw new UnsupportedOperationException(); }
}
