// vkrt Android sample: one app module that builds vkrt's CMake project with the NDK and
// compiles the Java binding (bindings/java) with the app. See README.md.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}
dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}
rootProject.name = "vkrt-sample"
include(":app")
