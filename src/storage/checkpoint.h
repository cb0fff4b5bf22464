// Tiny per-partition checkpoint files holding one offset, written atomically (tmp file, fsync,
// rename, directory fsync) so a crash leaves the old or the new value. Text like Kafka's
// checkpoint files: a version line "0" then the offset, e.g. "0\n1234\n".
// Files (docs/formats/log-segment.md): `log-start-offset`, `recovery-point`, `clean-shutdown`.
// Stateless; any thread.
#pragma once

#include "base/strong_int.h"
#include "storage/storage_errc.h"

#include <filesystem>
#include <optional>

namespace riacho::storage {

inline constexpr const char* log_start_offset_file = "log-start-offset";
inline constexpr const char* recovery_point_file = "recovery-point";
inline constexpr const char* clean_shutdown_file = "clean-shutdown";

status write_offset_checkpoint(const std::filesystem::path& p, kafka_offset o);
// nullopt when missing or unreadable (logged); callers fall back to the safe default.
std::optional<kafka_offset> read_offset_checkpoint(const std::filesystem::path& p);

}  // namespace riacho::storage
