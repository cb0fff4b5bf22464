// Strong integer types: every id and offset gets its own type so mixing them up fails to
// compile. Raw integers appear only at the wire and config edges.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>

namespace riacho {

template <typename T, typename Tag>
class strong_int {
public:
    using value_type = T;
    constexpr strong_int() = default;
    constexpr explicit strong_int(T v) : _value(v) {}
    constexpr T value() const { return _value; }
    constexpr auto operator<=>(const strong_int&) const = default;
    constexpr strong_int operator+(T delta) const { return strong_int(_value + delta); }
    constexpr strong_int operator-(T delta) const { return strong_int(_value - delta); }
    constexpr T operator-(strong_int other) const { return _value - other._value; }
    constexpr strong_int& operator+=(T delta) {
        _value += delta;
        return *this;
    }

private:
    T _value{};
};

using kafka_offset = strong_int<int64_t, struct kafka_offset_tag>;
using partition_id = strong_int<int32_t, struct partition_id_tag>;
using node_id = strong_int<int32_t, struct node_id_tag>;
using leader_epoch = strong_int<int32_t, struct leader_epoch_tag>;
using producer_id = strong_int<int64_t, struct producer_id_tag>;
using producer_epoch = strong_int<int16_t, struct producer_epoch_tag>;

}  // namespace riacho

template <typename T, typename Tag>
struct std::hash<riacho::strong_int<T, Tag>> {
    size_t operator()(riacho::strong_int<T, Tag> v) const noexcept {
        return std::hash<T>{}(v.value());
    }
};
