plugins {
    id("com.android.application")
}

// vkrt's own tree, two levels up: the NDK builds its top-level CMakeLists.txt (the library
// and libvkrt_jni) and the app compiles the Java binding's sources.
val vkrtRoot = file("../../..")

android {
    namespace = "org.vkrt.sample"
    compileSdk = 34
    ndkVersion = "26.3.11579264" // r26: C++20 (<span>, <bit>), glslc in shader-tools/

    defaultConfig {
        applicationId = "org.vkrt.sample"
        minSdk = 28 // vkrt calls Vulkan 1.1 entry points, which libvulkan.so exports from API 28
        targetSdk = 34
        versionCode = 1
        versionName = "0.1.0"
        ndk {
            abiFilters += listOf("arm64-v8a", "x86_64") // phones; the emulator
        }
        externalNativeBuild {
            cmake {
                arguments += listOf("-DVKRT_BUILD_TESTS=OFF", "-DVKRT_BUILD_SAMPLES=OFF", "-DVKRT_BUILD_JAVA=ON")
                targets += "vkrt_jni" // libvkrt_jni.so, with vkrt linked in
            }
        }
    }

    externalNativeBuild {
        cmake {
            path = file("$vkrtRoot/CMakeLists.txt")
            version = "3.22.1"
        }
    }

    sourceSets {
        getByName("main") {
            java.srcDirs("src/main/java", "$vkrtRoot/bindings/java/src/main/java")
        }
    }

    buildTypes {
        release {
            isMinifyEnabled = false
        }
    }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_1_8
        targetCompatibility = JavaVersion.VERSION_1_8
    }
}
// No dependencies: the app is plain Java on android.app.Activity (what tests/java.cmake's
// android_sample_compiles checks against the binding without the SDK).
