// broker: incremental fetch sessions (KIP-227). A consumer that opens a session sends, after
// the first full fetch, only the partitions whose position changed, and gets back only the
// partitions with news (records, an error, or a moved high watermark / log start offset).
// Sessions are bounded (session_slots_max); when full, new sessions are declined with
// session id 0, which clients handle by sending full fetches.
//
// Threading: one shard's event loop. Not persisted: after a restart clients get
// FETCH_SESSION_ID_NOT_FOUND and open a new session.
#pragma once

#include "cluster/controller.h"
#include "protocol/error_code.h"
#include "protocol/messages/fetch.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace riacho::broker {

struct session_partition {
    protocol::uuid topic_id;
    std::string topic_name;
    int32_t partition = 0;
    int64_t fetch_offset = 0;
    int32_t partition_max_bytes = 0;
    // What the client was last told; an incremental response omits unchanged partitions.
    int64_t sent_high_watermark = -2;
    int64_t sent_last_stable_offset = -2;
    int64_t sent_log_start_offset = -2;
};

struct fetch_session {
    int32_t id = 0;  // 0: no session (a one-off full fetch)
    int32_t next_epoch = 1;
    bool incremental = false;  // this request is incremental: omit unchanged partitions
    std::vector<session_partition> partitions;
};

struct session_open_result {
    protocol::error_code error = protocol::error_code::none;
    std::shared_ptr<fetch_session> session;
};

class fetch_sessions {
public:
    static constexpr size_t session_slots_max = 1000;

    explicit fetch_sessions(cluster::controller& controller) : _controller(controller) {}

    // Applies the request to the session cache and returns the partitions to read.
    session_open_result open(const protocol::msg::fetch_request& request, bool use_ids);

    // Whether `pd` goes into the response; records what the client is told.
    static bool should_include(
        const fetch_session& session,
        session_partition& p,
        const protocol::msg::fetch_response::fetchable_topic_response::partition_data& pd);

private:
    void add_partitions(fetch_session& s,
                        const protocol::msg::fetch_request& request,
                        bool use_ids);

    cluster::controller& _controller;
    std::map<int32_t, std::shared_ptr<fetch_session>> _sessions;
    int32_t _next_id = 1;
};

}  // namespace riacho::broker
