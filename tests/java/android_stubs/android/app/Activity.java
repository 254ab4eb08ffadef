package android.app;

import android.os.Bundle;
import android.view.View;
import java.io.File;

/** Compile-time stand-in for the SDK's class (tests/java/android_stubs/README.md). */
public class Activity {
    protected void onCreate(Bundle savedInstanceState) { throw new UnsupportedOperationException(); }
    protected void onStart() { throw new UnsupportedOperationException(); }
    protected void onStop() { throw new UnsupportedOperationException(); }
    protected void onDestroy() { throw new UnsupportedOperationException(); }
    public void setContentView(int layoutResID) { throw new UnsupportedOperationException(); }
    public <T extends View> T findViewById(int id) { throw new UnsupportedOperationException(); }
    public final void runOnUiThread(Runnable action) { throw new UnsupportedOperationException(); }
    public File getFilesDir() { throw new UnsupportedOperationException(); }
    public File getCacheDir() { throw new UnsupportedOperationException(); }
    public File getExternalFilesDir(String type) { throw new UnsupportedOperationException(); }
    public final String getString(int resId) { throw new UnsupportedOperationException(); }
}
