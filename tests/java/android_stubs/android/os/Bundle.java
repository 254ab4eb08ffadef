package android.os;

/** Compile-time stand-in for the SDK's class (tests/java/android_stubs/README.md). */
public final class Bundle {
}
