// Shared plumbing for every cli command: the common options (-b, --output, --timeout, -X),
// the one-line error type, and `client`, an owned librdkafka handle that fails fast and
// clearly when no broker answers. Internal to src/cli.
#pragma once

#include "cli/cli.h"
#include "cli/output.h"

#include <CLI/CLI.hpp>
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace riacho::cli {

// A failure to report as one line "riacho: <message>" with the given exit code. Thrown inside
// the cli module only and caught by run_selected().
class cli_error : public std::runtime_error {
public:
    cli_error(int exit_code, const std::string& message)
        : std::runtime_error(message), _exit_code(exit_code) {}
    int exit_code() const { return _exit_code; }

private:
    int _exit_code;
};

struct common_options {
    std::string bootstrap = "localhost:9092";
    std::string output = "table";
    int timeout_ms = 10000;
    std::vector<std::string> properties;  // -X key=value, passed to librdkafka as is
    bool verbose = false;

    output_format format() const {
        return output == "json" ? output_format::json : output_format::table;
    }
};

// Adds -b/--bootstrap-server (default $RIACHO_BROKERS, then localhost:9092), --output,
// --timeout-ms, -X and -v to a leaf command.
void add_common_options(CLI::App* cmd, common_options& o);

// Splits "key=value"; throws cli_error(exit_usage) naming `flag` when there is no '='.
std::pair<std::string, std::string> split_key_value(const std::string& kv, std::string_view flag);

// Maps a librdkafka error to a one-line cli_error: unreachable brokers -> exit_unreachable,
// unsupported APIs -> exit_unsupported, anything else -> exit_failure. `doing` says what was
// attempted ("create topic 'x'"), `detail` is the broker's or librdkafka's message.
[[noreturn]] void fail_kafka(rd_kafka_resp_err_t err,
                             std::string_view doing,
                             std::string_view detail = {});

template <auto Fn>
struct c_deleter {
    template <typename T>
    void operator()(T* p) const {
        if (p != nullptr) {
            Fn(p);
        }
    }
};
using event_ptr = std::unique_ptr<rd_kafka_event_t, c_deleter<rd_kafka_event_destroy>>;
using queue_ptr = std::unique_ptr<rd_kafka_queue_t, c_deleter<rd_kafka_queue_destroy>>;
using tpl_ptr = std::unique_ptr<rd_kafka_topic_partition_list_t,
                                c_deleter<rd_kafka_topic_partition_list_destroy>>;
using metadata_ptr =
    std::unique_ptr<const rd_kafka_metadata_t, c_deleter<rd_kafka_metadata_destroy>>;

struct partition_info {
    int32_t id = 0;
    int32_t leader = -1;
    std::vector<int32_t> replicas;
    std::vector<int32_t> isr;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
};
struct topic_info {
    std::string name;
    std::vector<partition_info> partitions;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
};
struct broker_info {
    int32_t id = 0;
    std::string host;
    int port = 0;
};
struct cluster_metadata {
    std::vector<broker_info> brokers;
    std::map<std::string, topic_info> topics;
    int32_t controller_id = -1;
    std::string cluster_id;
};

// Owns one librdkafka handle (producer or consumer type) configured from common_options.
// librdkafka's own logging is captured (shown with -v) so that errors reach the user as one
// line. Main thread only; the callbacks run on the main thread inside poll calls.
class client {
public:
    enum class kind { producer, consumer };
    client(const common_options& opts,
           kind k,
           const std::vector<std::pair<std::string, std::string>>& conf = {},
           rd_kafka_conf_t* prepared = nullptr);
    ~client();
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    rd_kafka_t* handle() const { return _rk; }
    const common_options& options() const { return _opts; }
    int timeout_ms() const { return _opts.timeout_ms; }

    // Metadata for all topics; fails with exit_unreachable within --timeout-ms (and sooner
    // once librdkafka reports every bootstrap broker down).
    cluster_metadata metadata();
    // Metadata of one topic; fails "topic does not exist" naming the topic when it is absent.
    topic_info topic(const std::string& name);

    // Admin request plumbing: options with the request timeout, a queue, and a wait that
    // returns the result event or throws on a request-level error.
    rd_kafka_AdminOptions_t* admin_options(rd_kafka_admin_op_t op);
    event_ptr wait_admin(rd_kafka_queue_t* q, std::string_view doing);

    std::pair<int64_t, int64_t> watermarks(const std::string& topic, int32_t partition);

    // True once librdkafka reported all brokers down (refused, unresolvable, ...).
    bool brokers_down() const { return _all_down.load(); }
    [[noreturn]] void fail_unreachable(std::string_view detail = {});
    std::string last_error() const;

    // A pointer for the command's own librdkafka callbacks (e.g. delivery reports), whose
    // opaque is this client: static_cast<client*>(opaque)->user().
    void set_user(void* p) { _user = p; }
    void* user() const { return _user; }

private:
    static void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque);
    static void on_log(const rd_kafka_t* rk, int level, const char* fac, const char* buf);

    common_options _opts;
    kind _kind;
    rd_kafka_t* _rk = nullptr;
    std::atomic<bool> _all_down{false};
    mutable std::mutex _mu;
    std::string _last_error;  // GUARDED_BY(_mu): librdkafka may call back from its threads
    std::vector<rd_kafka_AdminOptions_t*> _admin_options;
    void* _user = nullptr;
};

// Parses "earliest|latest|N|-N" style inputs shared by consume and group reset-offsets.
int64_t parse_int(const std::string& s, std::string_view what);
// Milliseconds since the epoch from "1700000000000" or "2024-01-31T12:00:00[.123][Z]" (UTC).
int64_t parse_timestamp_ms(const std::string& s, std::string_view flag);
std::string format_timestamp_ms(int64_t ms);

// True when stderr is a terminal (progress lines, colors).
bool stderr_is_tty();

}  // namespace riacho::cli
