// result<T, E>: a small std::expected look-alike (until C++23) for expected failures.
#pragma once

#include "base/invariant.h"

#include <utility>
#include <variant>

namespace riacho {

template <typename E>
struct unexpected {
    E error;
};
template <typename E>
unexpected(E) -> unexpected<E>;

template <typename T, typename E>
class [[nodiscard]] result {
public:
    result(T value) : _v(std::in_place_index<0>, std::move(value)) {}
    template <typename U>
    result(unexpected<U> e) : _v(std::in_place_index<1>, E(std::move(e.error))) {}

    bool has_value() const { return _v.index() == 0; }
    explicit operator bool() const { return has_value(); }
    T& value() & {
        INVARIANT(has_value(), "result holds an error");
        return std::get<0>(_v);
    }
    const T& value() const& {
        INVARIANT(has_value(), "result holds an error");
        return std::get<0>(_v);
    }
    T&& value() && {
        INVARIANT(has_value(), "result holds an error");
        return std::get<0>(std::move(_v));
    }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() { return value(); }
    const E& error() const {
        INVARIANT(!has_value(), "result holds a value");
        return std::get<1>(_v);
    }

private:
    std::variant<T, E> _v;
};

}  // namespace riacho
