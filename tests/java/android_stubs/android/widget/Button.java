package android.widget;

/** Compile-time stand-in for the SDK's class (tests/java/android_stubs/README.md). */
public class Button extends TextView {
}
