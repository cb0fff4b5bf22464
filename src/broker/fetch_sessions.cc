#include "broker/fetch_sessions.h"

#include "base/log.h"

namespace riacho::broker {

namespace {
constexpr int32_t initial_epoch = 0;
constexpr int32_t final_epoch = -1;
}  // namespace

void fetch_sessions::add_partitions(fetch_session& s,
                                    const protocol::msg::fetch_request& request,
                                    bool use_ids) {
    auto image = _controller.image();
    for (const auto& topic : request.topics) {
        std::string name = topic.topic;
        if (use_ids) {
            auto t = image->find_topic(topic.topic_id);
            name = t ? t->name : std::string();
        }
        for (const auto& p : topic.partitions) {
            session_partition* existing = nullptr;
            for (auto& sp : s.partitions) {
                bool same_topic = use_ids ? sp.topic_id == topic.topic_id : sp.topic_name == name;
                if (same_topic && sp.partition == p.partition) {
                    existing = &sp;
                    break;
                }
            }
            if (existing == nullptr) {
                s.partitions.emplace_back();
                existing = &s.partitions.back();
                existing->topic_id = topic.topic_id;
                existing->topic_name = name;
                existing->partition = p.partition;
            }
            existing->fetch_offset = p.fetch_offset;
            existing->partition_max_bytes = p.partition_max_bytes;
        }
    }
}

session_open_result fetch_sessions::open(const protocol::msg::fetch_request& request,
                                         bool use_ids) {
    session_open_result out;
    int32_t id = request.session_id;
    int32_t epoch = request.session_epoch;

    if (id != 0 && (epoch == final_epoch || epoch == initial_epoch)) {
        _sessions.erase(id);  // the client closes this session (and maybe opens a new one)
    }
    if (epoch == final_epoch || epoch == initial_epoch) {
        auto s = std::make_shared<fetch_session>();
        add_partitions(*s, request, use_ids);
        if (epoch == initial_epoch && _sessions.size() < session_slots_max) {
            s->id = _next_id++;
            if (_next_id <= 0) {
                _next_id = 1;
            }
            s->next_epoch = 1;
            _sessions[s->id] = s;
        }
        out.session = s;
        return out;
    }
    auto it = _sessions.find(id);
    if (it == _sessions.end()) {
        out.error = protocol::error_code::fetch_session_id_not_found;
        return out;
    }
    auto& s = it->second;
    if (epoch != s->next_epoch) {
        out.error = protocol::error_code::invalid_fetch_session_epoch;
        return out;
    }
    s->next_epoch = epoch == INT32_MAX ? 1 : epoch + 1;
    s->incremental = true;
    add_partitions(*s, request, use_ids);
    for (const auto& forgotten : request.forgotten_topics_data) {
        std::erase_if(s->partitions, [&](const session_partition& sp) {
            bool same_topic =
                use_ids ? sp.topic_id == forgotten.topic_id : sp.topic_name == forgotten.topic;
            if (!same_topic) {
                return false;
            }
            for (int32_t p : forgotten.partitions) {
                if (p == sp.partition) {
                    return true;
                }
            }
            return false;
        });
    }
    out.session = s;
    return out;
}

bool fetch_sessions::should_include(
    const fetch_session& session,
    session_partition& p,
    const protocol::msg::fetch_response::fetchable_topic_response::partition_data& pd) {
    bool changed = pd.error_code != 0 || (!pd.records.is_null && pd.records.size_bytes() > 0) ||
                   pd.high_watermark != p.sent_high_watermark ||
                   pd.last_stable_offset != p.sent_last_stable_offset ||
                   pd.log_start_offset != p.sent_log_start_offset;
    p.sent_high_watermark = pd.high_watermark;
    p.sent_last_stable_offset = pd.last_stable_offset;
    p.sent_log_start_offset = pd.log_start_offset;
    return !session.incremental || changed;
}

}  // namespace riacho::broker
