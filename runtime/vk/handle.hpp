// Unique<T>: RAII owner of one Vulkan handle with the function that destroys it.
#pragma once
#include <functional>
#include <utility>

namespace vkrt::vk {

template <typename T>
class Unique {
public:
    Unique() = default;
    Unique(T h, std::function<void(T)> destroy) : h_(h), destroy_(std::move(destroy)) {}
    Unique(const Unique&) = delete;
    Unique& operator=(const Unique&) = delete;
    Unique(Unique&& o) noexcept : h_(std::exchange(o.h_, T{})), destroy_(std::move(o.destroy_)) {}
    Unique& operator=(Unique&& o) noexcept {
        if (this != &o) {
            reset();
            h_ = std::exchange(o.h_, T{});
            destroy_ = std::move(o.destroy_);
        }
        return *this;
    }
    ~Unique() { reset(); }
    void reset() {
        if (h_ && destroy_) destroy_(h_);
        h_ = T{};
    }
    T get() const { return h_; }
    operator T() const { return h_; }  // NOLINT: handles pass straight into vk* calls
    explicit operator bool() const { return h_ != T{}; }

private:
    T h_{};
    std::function<void(T)> destroy_;
};

}  // namespace vkrt::vk
