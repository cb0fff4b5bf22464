// riacho dump-log FILE...: prints what a segment's .log, .index and .timeindex hold and checks
// them against each other, like Kafka's kafka-dump-log. It reads the files only (no broker),
// so it works on a stopped broker's data dir or a copy. Exit 0 when every file is
// consistent, 1 when a problem was found (each printed), 2 on bad usage.
#include "cli/commands.h"
#include "cli/output.h"
#include "protocol/record_batch.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

namespace riacho::cli {

namespace {

namespace fs = std::filesystem;
using protocol::bytes_view;

struct dump_opts {
    std::vector<std::string> files;
    bool records = false;
    bool values = false;
    std::string output = "table";
};

std::vector<uint8_t> read_whole(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) {
        throw cli_error(exit_failure,
                        fmt::format("cannot read '{}': {}", p.string(), std::strerror(errno)));
    }
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Segment files are named by their base offset: 00000000000000000042.log.
std::optional<int64_t> base_offset_of(const fs::path& p) {
    auto stem = p.stem().string();
    if (stem.empty() || stem.size() > 20 ||
        stem.find_first_not_of("0123456789") != std::string::npos) {
        return std::nullopt;
    }
    return std::stoll(stem);
}

uint32_t be32(const uint8_t* p) {
    return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
}
uint64_t be64(const uint8_t* p) { return (uint64_t(be32(p)) << 32) | be32(p + 4); }

const char* codec_name(protocol::compression_codec c) {
    switch (c) {
        case protocol::compression_codec::none:
            return "none";
        case protocol::compression_codec::gzip:
            return "gzip";
        case protocol::compression_codec::snappy:
            return "snappy";
        case protocol::compression_codec::lz4:
            return "lz4";
        case protocol::compression_codec::zstd:
            return "zstd";
    }
    return "unknown";
}

// Printable form of a key or value: text as is when it is printable, else hex.
std::string printable(const std::optional<bytes_view>& b) {
    if (!b) {
        return "null";
    }
    bool text = std::all_of(b->begin(), b->end(), [](uint8_t c) { return c >= 0x20 && c < 0x7f; });
    if (text) {
        return std::string(b->begin(), b->end());
    }
    std::string hex = "0x";
    for (uint8_t c : *b) {
        hex += fmt::format("{:02x}", c);
    }
    return hex;
}

struct batch_at {
    uint64_t position = 0;
    protocol::batch_header header;
};

// Everything found in one file, printed as text lines or one JSON object.
struct report {
    std::string file;
    std::string kind;
    std::vector<std::string> lines;       // text mode
    std::vector<std::string> json_items;  // json mode: one object per batch or entry
    std::vector<std::string> problems;
};

struct log_scan {
    std::vector<batch_at> batches;
    uint64_t valid_bytes = 0;
};

// Walks the batches of a .log; adds a line (and records with --records) per batch to `r`
// when given, and every inconsistency to r.problems.
log_scan scan_log(const fs::path& path, const dump_opts& o, report* r) {
    auto bytes = read_whole(path);
    log_scan scan;
    auto base = base_offset_of(path);
    int64_t next_offset = base.value_or(-1);
    bool first = true;
    std::vector<uint8_t> scratch;
    uint64_t pos = 0;
    auto problem = [&](std::string what) {
        if (r) {
            r->problems.push_back(std::move(what));
        }
    };
    while (pos < bytes.size()) {
        bytes_view rest(bytes.data() + pos, bytes.size() - pos);
        auto header = protocol::parse_batch_header(rest);
        if (!header) {
            problem(
                fmt::format("position {}: {} trailing bytes do not form a batch ({}): a torn "
                            "tail, which recovery truncates",
                            pos, rest.size(), protocol::to_string(header.error())));
            break;
        }
        bytes_view batch = rest.subspan(0, header->total_size_bytes());
        protocol::validation_options check;
        check.check_records = true;
        check.require_contiguous_offsets = false;  // cleaned (compacted) batches have gaps
        auto valid = protocol::validate_batch(batch, check);
        if (!valid) {
            problem(fmt::format("position {}: batch at offset {} is invalid: {}", pos,
                                header->base_offset, protocol::to_string(valid.error())));
        }
        if (first && base && header->base_offset < *base) {
            problem(
                fmt::format("position {}: first batch starts at offset {}, below the "
                            "segment's base offset {}",
                            pos, header->base_offset, *base));
        } else if (!first && header->base_offset < next_offset) {
            problem(
                fmt::format("position {}: batch offset {} does not follow the previous "
                            "batch (expected at least {})",
                            pos, header->base_offset, next_offset));
        }
        first = false;
        next_offset = header->last_offset() + 1;
        scan.batches.push_back({pos, *header});
        if (r) {
            const auto& h = *header;
            std::vector<std::string> record_items;
            std::vector<std::string> record_lines;
            if (o.records && valid) {
                auto decoded = protocol::decode_records(batch, scratch);
                if (!decoded) {
                    problem(fmt::format("position {}: records do not decode: {}", pos,
                                        protocol::to_string(decoded.error())));
                } else {
                    for (const auto& rec : *decoded) {
                        std::string header_keys;
                        std::string header_json;
                        for (const auto& hv : rec.headers) {
                            header_keys += (header_keys.empty() ? "" : ",") + std::string(hv.key);
                            header_json +=
                                (header_json.empty() ? "" : ",") + json_quote(std::string(hv.key));
                        }
                        auto obj =
                            json_object()
                                .add("offset", num(rec.offset).text)
                                .add("timestamp", num(rec.timestamp).text)
                                .add("key_size", num(rec.key ? int64_t(rec.key->size()) : -1).text)
                                .add("value_size",
                                     num(rec.value ? int64_t(rec.value->size()) : -1).text)
                                .add("header_keys", "[" + header_json + "]");
                        std::string line = fmt::format(
                            "| offset: {} timestamp: {} key_size: {} value_size: {} headers: [{}]",
                            rec.offset, rec.timestamp, rec.key ? int64_t(rec.key->size()) : -1,
                            rec.value ? int64_t(rec.value->size()) : -1, header_keys);
                        if (o.values) {
                            obj.add("key", rec.key ? json_quote(printable(rec.key)) : "null")
                                .add("value",
                                     rec.value ? json_quote(printable(rec.value)) : "null");
                            line += fmt::format(" key: {} value: {}", printable(rec.key),
                                                printable(rec.value));
                        }
                        record_items.push_back(obj.str());
                        record_lines.push_back(std::move(line));
                    }
                }
            }
            // KIP-534: a cleaned batch that kept a tombstone carries its delete horizon in
            // base_timestamp (record timestamps stay right: their deltas are relative to it).
            std::string delete_horizon =
                h.has_delete_horizon() ? std::to_string(h.base_timestamp) : "none";
            r->lines.push_back(fmt::format(
                "base_offset: {} last_offset: {} count: {} position: {} size: {} "
                "base_timestamp: {} max_timestamp: {} timestamp_type: {} codec: {} "
                "producer_id: {} producer_epoch: {} base_sequence: {} transactional: {} "
                "control: {} delete_horizon_ms: {} leader_epoch: {} crc: {} valid: {}",
                h.base_offset, h.last_offset(), h.records_count, pos, batch.size(),
                h.base_timestamp, h.max_timestamp,
                h.is_log_append_time() ? "LogAppendTime" : "CreateTime", codec_name(h.codec()),
                h.producer_id, h.producer_epoch, h.base_sequence, h.is_transactional(),
                h.is_control(), delete_horizon, h.partition_leader_epoch, h.crc, bool(valid)));
            for (auto& l : record_lines) {
                r->lines.push_back(std::move(l));
            }
            auto obj = json_object()
                           .add("base_offset", num(h.base_offset).text)
                           .add("last_offset", num(h.last_offset()).text)
                           .add("count", num(h.records_count).text)
                           .add("position", num(int64_t(pos)).text)
                           .add("size", num(int64_t(batch.size())).text)
                           .add("max_timestamp", num(h.max_timestamp).text)
                           .add("codec", json_quote(codec_name(h.codec())))
                           .add("producer_id", num(h.producer_id).text)
                           .add("producer_epoch", num(h.producer_epoch).text)
                           .add("base_sequence", num(h.base_sequence).text)
                           .add("transactional", boolean(h.is_transactional()).text)
                           .add("control", boolean(h.is_control()).text)
                           .add("delete_horizon_ms",
                                h.has_delete_horizon() ? num(h.base_timestamp).text : "null")
                           .add("crc", num(int64_t(h.crc)).text)
                           .add("valid", boolean(bool(valid)).text);
            if (o.records) {
                std::string items;
                for (const auto& i : record_items) {
                    items += (items.empty() ? "" : ",") + i;
                }
                obj.add("records", "[" + items + "]");
            }
            r->json_items.push_back(obj.str());
        }
        pos += batch.size();
        scan.valid_bytes = pos;
    }
    return scan;
}

fs::path sibling_log(const fs::path& index) {
    auto p = index;
    p.replace_extension(".log");
    return p;
}

// The batch of the sibling log that starts at `position`, if any.
const batch_at* batch_starting_at(const log_scan& scan, uint64_t position) {
    auto it = std::lower_bound(scan.batches.begin(), scan.batches.end(), position,
                               [](const batch_at& b, uint64_t p) { return b.position < p; });
    return it != scan.batches.end() && it->position == position ? &*it : nullptr;
}

// What both index dumps start from: the file, its base offset and, when it is there, the
// sibling log to check entries against.
struct index_file {
    std::vector<uint8_t> bytes;
    int64_t base = 0;
    std::optional<log_scan> log;
};

index_file open_index(const fs::path& path, size_t entry_bytes, const dump_opts& o, report& r) {
    index_file f{read_whole(path), base_offset_of(path).value_or(0), std::nullopt};
    if (fs::exists(sibling_log(path))) {
        f.log = scan_log(sibling_log(path), o, nullptr);
    } else {
        r.problems.push_back(fmt::format("no {} next to the index: entries are not checked",
                                         sibling_log(path).filename().string()));
    }
    if (f.bytes.size() % entry_bytes != 0) {
        r.problems.push_back(
            fmt::format("size {} is not a multiple of {}: a partial trailing "
                        "entry, dropped when the segment opens",
                        f.bytes.size(), entry_bytes));
    }
    return f;
}

void dump_offset_index(const fs::path& path, const dump_opts& o, report& r) {
    auto [bytes, base, log] = open_index(path, 8, o, r);
    int64_t previous_offset = -1;
    int64_t previous_position = -1;
    for (size_t i = 0; i + 8 <= bytes.size(); i += 8) {
        int64_t offset = base + int32_t(be32(&bytes[i]));
        int64_t position = be32(&bytes[i + 4]);
        r.lines.push_back(fmt::format("offset: {} position: {}", offset, position));
        r.json_items.push_back(json_object()
                                   .add("offset", num(offset).text)
                                   .add("position", num(position).text)
                                   .str());
        if (offset <= previous_offset || position <= previous_position) {
            r.problems.push_back(
                fmt::format("entry {}: offset {} position {} does not increase "
                            "on the previous entry",
                            i / 8, offset, position));
        }
        previous_offset = offset;
        previous_position = position;
        if (!log) {
            continue;
        }
        const batch_at* b = batch_starting_at(*log, uint64_t(position));
        if (b == nullptr) {
            r.problems.push_back(
                fmt::format("entry {}: position {} is not the start of a batch "
                            "in the log",
                            i / 8, position));
        } else if (b->header.last_offset() != offset) {
            r.problems.push_back(
                fmt::format("entry {}: offset {} but the batch at position {} "
                            "ends at offset {}",
                            i / 8, offset, position, b->header.last_offset()));
        }
    }
}

void dump_time_index(const fs::path& path, const dump_opts& o, report& r) {
    auto [bytes, base, log] = open_index(path, 12, o, r);
    int64_t previous_timestamp = INT64_MIN;
    int64_t previous_offset = -1;
    for (size_t i = 0; i + 12 <= bytes.size(); i += 12) {
        auto timestamp = static_cast<int64_t>(be64(&bytes[i]));
        int64_t offset = base + int32_t(be32(&bytes[i + 8]));
        r.lines.push_back(fmt::format("timestamp: {} offset: {}", timestamp, offset));
        r.json_items.push_back(json_object()
                                   .add("timestamp", num(timestamp).text)
                                   .add("offset", num(offset).text)
                                   .str());
        if (timestamp <= previous_timestamp || offset < previous_offset) {
            r.problems.push_back(
                fmt::format("entry {}: timestamp {} offset {} is not after the "
                            "previous entry",
                            i / 12, timestamp, offset));
        }
        previous_timestamp = timestamp;
        previous_offset = offset;
        if (!log) {
            continue;
        }
        auto it = std::find_if(log->batches.begin(), log->batches.end(),
                               [&](const batch_at& b) { return b.header.last_offset() == offset; });
        if (it == log->batches.end()) {
            r.problems.push_back(
                fmt::format("entry {}: no batch of the log ends at offset {}", i / 12, offset));
        } else if (it->header.max_timestamp != timestamp) {
            r.problems.push_back(
                fmt::format("entry {}: timestamp {} but the batch ending at "
                            "offset {} has max timestamp {}",
                            i / 12, timestamp, offset, it->header.max_timestamp));
        }
    }
}

report dump_file(const std::string& file, const dump_opts& o) {
    fs::path path(file);
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) {
        throw cli_error(exit_failure, fmt::format("'{}' is not a file", file));
    }
    report r{file, "", {}, {}, {}};
    auto ext = path.extension().string();
    if (ext == ".log") {
        r.kind = "log";
        auto scan = scan_log(path, o, &r);
        r.lines.push_back(
            fmt::format("{} batches, {} valid bytes", scan.batches.size(), scan.valid_bytes));
    } else if (ext == ".index") {
        r.kind = "offset index";
        dump_offset_index(path, o, r);
    } else if (ext == ".timeindex") {
        r.kind = "time index";
        dump_time_index(path, o, r);
    } else {
        throw cli_error(exit_usage, fmt::format("'{}': expected a .log, .index or .timeindex "
                                                "segment file",
                                                file));
    }
    return r;
}

int run_dump(dump_opts& o) {
    bool consistent = true;
    for (const auto& file : o.files) {
        auto r = dump_file(file, o);
        consistent = consistent && r.problems.empty();
        if (o.output == "json") {
            std::string items;
            for (const auto& i : r.json_items) {
                items += (items.empty() ? "" : ",") + i;
            }
            std::string problems;
            for (const auto& p : r.problems) {
                problems += (problems.empty() ? "" : ",") + json_quote(p);
            }
            fmt::print("{}\n", json_object()
                                   .add("file", json_quote(r.file))
                                   .add("kind", json_quote(r.kind))
                                   .add(r.kind == "log" ? "batches" : "entries", "[" + items + "]")
                                   .add("problems", "[" + problems + "]")
                                   .str());
            continue;
        }
        fmt::print("Dumping {} ({})\n", r.file, r.kind);
        for (const auto& l : r.lines) {
            fmt::print("{}\n", l);
        }
        for (const auto& p : r.problems) {
            fmt::print("PROBLEM: {}\n", p);
        }
    }
    std::fflush(stdout);
    return consistent ? exit_ok : exit_failure;
}

}  // namespace

void add_dump_log_command(CLI::App& app, commands& cmds) {
    auto* cmd = app.add_subcommand("dump-log",
                                   "Print and check a segment's .log, .index and .timeindex files");
    auto o = std::make_shared<dump_opts>();
    cmd->callback([&cmds, o] { cmds.selected = [o] { return run_dump(*o); }; });
    cmd->add_option("files", o->files, "Segment files: <base>.log, <base>.index, <base>.timeindex")
        ->required();
    cmd->add_flag("--records", o->records, "Also print every record of each batch");
    cmd->add_flag("--values", o->values, "With --records, print keys and values too");
    cmd->add_option("-o,--output", o->output, "Output format: table (for people) or json")
        ->check(CLI::IsMember({"table", "json"}))
        ->capture_default_str();
    cmd->footer(
        "Reads the files only; run it on a stopped broker's data dir or on a copy. Exit 0 when\n"
        "every file is consistent, 1 when a problem was found (each printed as PROBLEM:).\n\n"
        "Examples:\n"
        "  riacho dump-log /var/lib/riacho/orders-0/00000000000000000000.log --records\n"
        "  riacho dump-log data/orders-0/*.index data/orders-0/*.timeindex\n"
        "  riacho dump-log seg.log --records --values -o json");
}

}  // namespace riacho::cli
