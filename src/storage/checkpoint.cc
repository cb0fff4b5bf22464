#include "storage/checkpoint.h"

#include "base/log.h"
#include "storage/file_io.h"

#include <fmt/format.h>

#include <charconv>
#include <string>
#include <string_view>

namespace riacho::storage {

status write_offset_checkpoint(const std::filesystem::path& p, kafka_offset o) {
    std::string text = fmt::format("0\n{}\n", o.value());
    return write_file_atomic(
        p, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

std::optional<kafka_offset> read_offset_checkpoint(const std::filesystem::path& p) {
    auto bytes = read_small_file(p);
    if (!bytes || !*bytes) {
        return std::nullopt;
    }
    std::string_view text(reinterpret_cast<const char*>((*bytes)->data()), (*bytes)->size());
    if (!text.starts_with("0\n") || !text.ends_with("\n")) {
        LOG_WARN("storage", "{}: unreadable checkpoint, ignoring", p.string());
        return std::nullopt;
    }
    text = text.substr(2, text.size() - 3);
    int64_t v = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || ptr != text.data() + text.size() || v < 0) {
        LOG_WARN("storage", "{}: unreadable checkpoint, ignoring", p.string());
        return std::nullopt;
    }
    return kafka_offset(v);
}

}  // namespace riacho::storage
