// Helpers shared by the storage unit tests: a temporary directory that removes itself, batch
// construction through protocol::batch_builder, and reading back the batches a read_slice
// covers (pread of the returned file range, then header parsing and CRC checks).
#pragma once

#include "protocol/record_batch.h"
#include "storage/file_io.h"
#include "storage/partition_log.h"
#include "storage/segment.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

namespace riacho::storage::test {

class temp_dir {
public:
    temp_dir() {
        std::string tmpl =
            (std::filesystem::temp_directory_path() / "riacho-storage-XXXXXX").string();
        char* p = ::mkdtemp(tmpl.data());
        EXPECT_NE(p, nullptr);
        _path = tmpl;
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(_path, ec);
    }
    const std::filesystem::path& path() const { return _path; }

private:
    std::filesystem::path _path;
};

struct batch_spec {
    int records = 1;
    int64_t timestamp = 1000;  // first record; record i has timestamp + i
    size_t value_bytes = 10;
    int64_t producer_id = -1;
    int16_t producer_epoch = -1;
    int32_t base_sequence = -1;
    uint8_t fill = 'x';
};

inline std::vector<uint8_t> make_batch(const batch_spec& s) {
    protocol::batch_builder b;
    if (s.producer_id >= 0) {
        b.set_producer(s.producer_id, s.producer_epoch, s.base_sequence);
    }
    for (int i = 0; i < s.records; ++i) {
        protocol::batch_builder::record r;
        r.timestamp = s.timestamp + i;
        r.value = std::vector<uint8_t>(s.value_bytes, s.fill);
        b.add(std::move(r));
    }
    return b.build();
}

inline std::vector<uint8_t> make_batch(int records,
                                       int64_t timestamp = 1000,
                                       size_t value_bytes = 10) {
    return make_batch(
        batch_spec{.records = records, .timestamp = timestamp, .value_bytes = value_bytes});
}

inline std::vector<uint8_t> slice_bytes(const read_slice& s) {
    std::vector<uint8_t> out(s.size_bytes);
    if (s.size_bytes == 0) {
        return out;
    }
    EXPECT_TRUE(s.file != nullptr);
    auto r = pread_full(s.file->fd, out.data(), out.size(), s.position);
    EXPECT_TRUE(r.has_value());
    EXPECT_EQ(*r, out.size());
    return out;
}

// Splits the bytes into batches; every batch must be whole with a valid CRC.
inline std::vector<protocol::batch_header> parse_batches(const std::vector<uint8_t>& bytes) {
    std::vector<protocol::batch_header> out;
    size_t pos = 0;
    while (pos < bytes.size()) {
        EXPECT_GE(bytes.size() - pos, protocol::batch_header_size);
        if (bytes.size() - pos < protocol::batch_header_size) {
            break;
        }
        auto h = decode_batch_header(bytes.data() + pos);
        EXPECT_LE(pos + h.total_size_bytes(), bytes.size());
        if (pos + h.total_size_bytes() > bytes.size()) {
            break;
        }
        std::span<const uint8_t> one(bytes.data() + pos, h.total_size_bytes());
        EXPECT_EQ(protocol::compute_batch_crc(one), h.crc);
        out.push_back(h);
        pos += h.total_size_bytes();
    }
    return out;
}

inline std::vector<protocol::batch_header> read_batches(const partition_log& log,
                                                        kafka_offset from,
                                                        size_t max_bytes = 1 << 30) {
    auto r = log.read(from, max_bytes, true);
    EXPECT_TRUE(r.has_value());
    if (!r) {
        return {};
    }
    return parse_batches(slice_bytes(*r));
}

// Reads everything from `from` to the log end, following segments.
inline std::vector<protocol::batch_header> read_all(const partition_log& log, kafka_offset from) {
    std::vector<protocol::batch_header> out;
    while (from < log.log_end_offset()) {
        auto part = read_batches(log, from, 64 * 1024);
        EXPECT_FALSE(part.empty());
        if (part.empty()) {
            break;
        }
        out.insert(out.end(), part.begin(), part.end());
        from = kafka_offset(part.back().last_offset() + 1);
    }
    return out;
}

inline std::vector<std::filesystem::path> files_with_suffix(const std::filesystem::path& dir,
                                                            const std::string& suffix) {
    std::vector<std::filesystem::path> out;
    for (const auto& de : std::filesystem::directory_iterator(dir)) {
        if (de.path().filename().string().ends_with(suffix)) {
            out.push_back(de.path());
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace riacho::storage::test
