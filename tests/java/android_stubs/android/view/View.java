package android.view;

/** Compile-time stand-in for the SDK's class (tests/java/android_stubs/README.md). */
public class View {
    public static final int FOCUS_DOWN = 130;

    public interface OnClickListener {
        void onClick(View v);
    }

    public void setOnClickListener(OnClickListener l) { throw new UnsupportedOperationException(); }
    public void setEnabled(boolean enabled) { throw new UnsupportedOperationException(); }
    public boolean post(Runnable action) { throw new UnsupportedOperationException(); }
}
