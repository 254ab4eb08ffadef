package android.text;

/** Compile-time stand-in for the SDK's interface (tests/java/android_stubs/README.md). */
public interface Editable extends CharSequence {
}
