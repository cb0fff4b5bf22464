#include "replication/replication_throttle.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <sstream>

namespace riacho::replication {

namespace {

std::string trim(const std::string& s) {
    size_t begin = 0;
    size_t end = s.size();
    while (begin < end && std::isspace(static_cast<unsigned char>(s[begin])) != 0) {
        ++begin;
    }
    while (end > begin && std::isspace(static_cast<unsigned char>(s[end - 1])) != 0) {
        --end;
    }
    return s.substr(begin, end - begin);
}

bool all_digits(const std::string& s) {
    return !s.empty() && s.size() <= 9 &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

bool lists_replica(const std::string& list, int32_t partition, int32_t broker) {
    auto value = trim(list);
    if (value == "*") {
        return true;
    }
    std::stringstream entries(value);
    std::string entry;
    while (std::getline(entries, entry, ',')) {
        auto colon = entry.find(':');
        if (colon == std::string::npos) {
            continue;
        }
        auto p = trim(entry.substr(0, colon));
        auto b = trim(entry.substr(colon + 1));
        if (all_digits(p) && all_digits(b) && std::stoi(p) == partition && std::stoi(b) == broker) {
            return true;
        }
    }
    return false;
}

std::optional<std::string> validate_throttled_replicas(const std::string& name,
                                                       const std::string& value) {
    auto v = trim(value);
    if (v.empty() || v == "*") {
        return std::nullopt;
    }
    std::stringstream entries(v);
    std::string entry;
    bool any = false;
    while (std::getline(entries, entry, ',')) {
        any = true;
        auto colon = entry.find(':');
        if (colon == std::string::npos || !all_digits(trim(entry.substr(0, colon))) ||
            !all_digits(trim(entry.substr(colon + 1)))) {
            any = false;
            break;
        }
    }
    if (any && v.back() != ',') {
        return std::nullopt;
    }
    return fmt::format(
        "Invalid value {} for configuration {}: {} must be the literal '*' or a list of replicas "
        "in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],...",
        value, name, name);
}

void byte_rate_quota::refill(int64_t rate_bytes_per_s, int64_t now_ms) {
    auto rate = static_cast<double>(rate_bytes_per_s);
    if (_last_ms < 0) {
        _allowance_bytes = rate;  // a full second's worth to start with
    } else if (now_ms > _last_ms) {
        _allowance_bytes += rate * static_cast<double>(now_ms - _last_ms) / 1000.0;
    }
    _allowance_bytes = std::min(_allowance_bytes, rate);  // at most one second of burst
    _last_ms = std::max(_last_ms, now_ms);
}

bool byte_rate_quota::exceeded(int64_t rate_bytes_per_s, int64_t now_ms) {
    if (rate_bytes_per_s == INT64_MAX) {
        return false;
    }
    refill(rate_bytes_per_s, now_ms);
    return _allowance_bytes < 0;
}

void byte_rate_quota::record(int64_t bytes, int64_t rate_bytes_per_s, int64_t now_ms) {
    if (rate_bytes_per_s == INT64_MAX) {
        return;
    }
    refill(rate_bytes_per_s, now_ms);
    _allowance_bytes -= static_cast<double>(bytes);
}

}  // namespace riacho::replication
