#include "storage/log_manager.h"

#include "base/log.h"
#include "protocol/wire.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <system_error>
#include <thread>

namespace riacho::storage {

namespace {

constexpr std::string_view delete_suffix = "-delete";
constexpr std::string_view metadata_topic_prefix = "__cluster_metadata-";

}  // namespace

std::optional<topic_partition> parse_partition_dir(std::string_view name) {
    auto dash = name.rfind('-');
    if (dash == std::string_view::npos || dash == 0 || dash + 1 == name.size()) {
        return std::nullopt;
    }
    auto digits = name.substr(dash + 1);
    int32_t p = 0;
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), p);
    if (ec != std::errc() || ptr != digits.data() + digits.size() || p < 0 ||
        (digits.size() > 1 && digits[0] == '0')) {  // must round-trip to the same name
        return std::nullopt;
    }
    return topic_partition{std::string(name.substr(0, dash)), partition_id(p)};
}

std::string partition_dir_name(const topic_partition& tp) {
    return fmt::format("{}-{}", tp.topic, tp.partition.value());
}

log_manager::~log_manager() = default;  // logs not closed are recovered at the next open

result<std::unique_ptr<log_manager>, storage_errc> log_manager::open(std::filesystem::path data_dir,
                                                                     config_for cfg,
                                                                     unsigned open_threads) {
    std::error_code ec;
    std::filesystem::create_directories(data_dir, ec);
    if (ec) {
        LOG_ERROR("storage", "create {} failed: {}", data_dir.string(), ec.message());
        return unexpected{storage_errc::io_error};
    }
    std::unique_ptr<log_manager> mgr(new log_manager(data_dir));
    std::vector<topic_partition> found;
    for (const auto& de : std::filesystem::directory_iterator(data_dir, ec)) {
        if (!de.is_directory()) {
            continue;
        }
        auto name = de.path().filename().string();
        if (name.ends_with(delete_suffix)) {
            LOG_INFO("storage", "finishing delete of {}", name);
            std::filesystem::remove_all(de.path(), ec);
            continue;
        }
        if (name.starts_with(metadata_topic_prefix)) {
            continue;  // the metadata quorum's log: raft::node owns it
        }
        auto tp = parse_partition_dir(name);
        if (!tp) {
            LOG_WARN("storage", "{}: not a partition directory, ignoring", de.path().string());
            continue;
        }
        found.push_back(std::move(*tp));
    }
    if (ec) {
        return unexpected{storage_errc::io_error};
    }
    std::sort(found.begin(), found.end());

    // Each worker opens whole logs; results land in per-log slots, so no shared mutable state
    // beyond the atomic cursor.
    using slot = std::optional<result<std::unique_ptr<partition_log>, storage_errc>>;
    std::vector<slot> opened(found.size());
    std::atomic<size_t> next{0};
    auto worker = [&] {
        for (size_t i = next++; i < found.size(); i = next++) {
            opened[i].emplace(
                partition_log::open(data_dir / partition_dir_name(found[i]), cfg(found[i])));
        }
    };
    unsigned n =
        std::max(1u, std::min<unsigned>(open_threads, static_cast<unsigned>(found.size())));
    std::vector<std::thread> threads;
    for (unsigned t = 1; t < n; ++t) {
        threads.emplace_back(worker);
    }
    worker();
    for (auto& t : threads) {
        t.join();
    }
    std::optional<storage_errc> failure;
    for (size_t i = 0; i < found.size(); ++i) {
        if (!*opened[i]) {
            LOG_ERROR("storage", "opening {} failed: {}", partition_dir_name(found[i]),
                      to_string(opened[i]->error()));
            failure = opened[i]->error();
            continue;
        }
        mgr->_logs.emplace(found[i], std::move(*opened[i]).value());
    }
    if (failure) {
        return unexpected{*failure};
    }
    return mgr;
}

result<partition_log*, storage_errc> log_manager::create(const topic_partition& tp,
                                                         const log_config& cfg) {
    if (_logs.contains(tp)) {
        return unexpected{storage_errc::already_exists};
    }
    auto log = partition_log::open(_data_dir / partition_dir_name(tp), cfg);
    if (!log) {
        return unexpected{log.error()};
    }
    partition_log* p = log->get();
    _logs.emplace(tp, std::move(log).value());
    return p;
}

partition_log* log_manager::get(const topic_partition& tp) const {
    auto it = _logs.find(tp);
    return it == _logs.end() ? nullptr : it->second.get();
}

status log_manager::remove(const topic_partition& tp) {
    auto it = _logs.find(tp);
    if (it == _logs.end()) {
        return unexpected{storage_errc::not_found};
    }
    auto from = _data_dir / partition_dir_name(tp);
    auto id = protocol::uuid::random();
    std::string hex;
    for (uint8_t b : id.bytes) {
        hex += fmt::format("{:02x}", b);
    }
    auto to = _data_dir / fmt::format("{}.{}{}", partition_dir_name(tp), hex, delete_suffix);
    std::error_code ec;
    std::filesystem::rename(from, to, ec);
    if (ec) {
        LOG_ERROR("storage", "rename {} failed: {}", from.string(), ec.message());
        return unexpected{storage_errc::io_error};
    }
    std::unique_ptr<partition_log> log = std::move(it->second);
    _logs.erase(it);
    log.reset();  // closes descriptors; readers holding a file_ref keep theirs
    std::filesystem::remove_all(to, ec);
    if (ec) {
        LOG_WARN("storage", "deleting {} failed ({}); retried at next start", to.string(),
                 ec.message());
    }
    return ok_status();
}

status log_manager::close_all() {
    std::optional<storage_errc> first;
    for (auto& [tp, log] : _logs) {
        auto st = log->close();
        if (!st && !first) {
            first = st.error();
        }
    }
    _logs.clear();
    if (first) {
        return unexpected{*first};
    }
    return ok_status();
}

std::vector<topic_partition> log_manager::partitions() const {
    std::vector<topic_partition> out;
    for (const auto& [tp, log] : _logs) {
        out.push_back(tp);
    }
    return out;
}

}  // namespace riacho::storage
