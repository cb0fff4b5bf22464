// DescribeLogDirs (35): kafka-log-dirs and the admin clients' describeLogDirs. This broker has
// one log directory (the first of log.dirs); each local partition is listed with its size on
// disk and how far its log end is behind the high watermark (a follower catching up), and the
// directory with its volume's total and usable bytes (v4). Version 0 is deprecated in Kafka 4
// and not offered.
#include "broker/handlers.h"
#include "broker/replica_manager.h"
#include "protocol/messages/describe_log_dirs.h"

#include <algorithm>
#include <map>
#include <set>
#include <sys/statvfs.h>

namespace riacho::broker {

asio::awaitable<net::reply> handle_describe_log_dirs(broker_context& ctx, net::request& req) {
    using protocol::msg::describe_log_dirs_request;
    using protocol::msg::describe_log_dirs_response;
    describe_log_dirs_request request;
    if (!decode_request(req, request)) {
        co_return net::reply::close();
    }
    std::optional<std::map<std::string, std::set<int32_t>>> wanted;  // nullopt: every topic
    if (request.topics) {
        wanted.emplace();
        for (const auto& t : *request.topics) {
            (*wanted)[t.topic].insert(t.partitions.begin(), t.partitions.end());
        }
    }
    describe_log_dirs_response::describe_log_dirs_result dir;
    dir.error_code = 0;
    dir.log_dir = std::filesystem::absolute(ctx.logs.data_dir()).lexically_normal().string();
    if (struct statvfs fs{}; ::statvfs(dir.log_dir.c_str(), &fs) == 0) {
        dir.total_bytes = static_cast<int64_t>(fs.f_blocks) * static_cast<int64_t>(fs.f_frsize);
        dir.usable_bytes = static_cast<int64_t>(fs.f_bavail) * static_cast<int64_t>(fs.f_frsize);
    }
    auto partitions = ctx.logs.partitions();
    std::sort(partitions.begin(), partitions.end());
    for (const auto& tp : partitions) {
        if (wanted) {
            auto it = wanted->find(tp.topic);
            if (it == wanted->end() || it->second.count(tp.partition.value()) == 0) {
                continue;
            }
        }
        auto* log = ctx.logs.get(tp);
        if (log == nullptr) {
            continue;
        }
        if (dir.topics.empty() || dir.topics.back().name != tp.topic) {
            describe_log_dirs_response::describe_log_dirs_result::describe_log_dirs_topic t;
            t.name = tp.topic;
            dir.topics.push_back(std::move(t));
        }
        describe_log_dirs_response::describe_log_dirs_result::describe_log_dirs_topic::
            describe_log_dirs_partition p;
        p.partition_index = tp.partition.value();
        p.partition_size = static_cast<int64_t>(log->size_bytes());
        int64_t end = log->log_end_offset().value();
        p.offset_lag = std::max<int64_t>(0, ctx.replicas->known_high_watermark(tp, *log) - end);
        p.is_future_key = false;
        dir.topics.back().partitions.push_back(p);
    }
    describe_log_dirs_response response;
    response.results.push_back(std::move(dir));
    co_return encode_response(req, response);
}

}  // namespace riacho::broker
