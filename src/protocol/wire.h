// Wire primitives of the Kafka protocol: a bounds-checked, sticky-failure reader over a
// request buffer, and a writer that builds a response in memory with optional file-backed
// "splices" (record bytes served from a segment with sendfile, never copied).
//
// The reader never throws and never over-reads: after a short read or an invalid length it
// stays failed, returns zero values, and the caller checks ok() once at the end. Every length
// is checked against the bytes remaining before anything is allocated.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace riacho::protocol {

using bytes_view = std::span<const uint8_t>;

struct uuid {
    std::array<uint8_t, 16> bytes{};
    bool is_zero() const {
        for (uint8_t b : bytes) {
            if (b != 0) {
                return false;
            }
        }
        return true;
    }
    bool operator==(const uuid&) const = default;
    std::string to_base64() const;  // Kafka's printable form (URL-safe, no padding)
    static uuid random();
};

// A file range that a response includes by reference. Owned by whoever keeps the segment
// file open; the shared_ptr keeps the descriptor valid until the bytes are sent, even if the
// segment is deleted by retention meanwhile.
struct file_ref {
    int fd = -1;
};

struct records_data {
    // Either in-memory bytes (a view into a request buffer or into `owned`) or a file range.
    bytes_view memory;
    std::shared_ptr<const std::vector<uint8_t>> owned;
    std::shared_ptr<const file_ref> file;
    uint64_t file_position = 0;
    uint32_t file_size_bytes = 0;
    bool is_null = true;

    size_t size_bytes() const { return file ? file_size_bytes : memory.size(); }
    // Identity, not content: the same bytes in the same place (generated messages compare
    // their fields, and records are never compared by content on the hot path).
    bool operator==(const records_data& o) const {
        return is_null == o.is_null && memory.data() == o.memory.data() &&
               memory.size() == o.memory.size() && file == o.file &&
               file_position == o.file_position && file_size_bytes == o.file_size_bytes;
    }
    static records_data from_memory(bytes_view b) {
        records_data r;
        r.memory = b;
        r.is_null = false;
        return r;
    }
};

class reader {
public:
    explicit reader(bytes_view buf) : _buf(buf) {}

    bool ok() const { return !_failed; }
    void fail() { _failed = true; }
    size_t remaining() const { return _failed ? 0 : _buf.size() - _pos; }
    size_t position() const { return _pos; }

    int8_t read_int8() { return static_cast<int8_t>(read_be<uint8_t>()); }
    int16_t read_int16() { return static_cast<int16_t>(read_be<uint16_t>()); }
    int32_t read_int32() { return static_cast<int32_t>(read_be<uint32_t>()); }
    int64_t read_int64() { return static_cast<int64_t>(read_be<uint64_t>()); }
    uint16_t read_uint16() { return read_be<uint16_t>(); }
    uint32_t read_uint32() { return read_be<uint32_t>(); }
    double read_float64();
    bool read_bool() { return read_be<uint8_t>() != 0; }
    uuid read_uuid();

    uint32_t read_uvarint();
    uint64_t read_uvarlong();
    int32_t read_varint();
    int64_t read_varlong();

    // Strings: `compact` selects the flexible encoding. A null where not nullable fails.
    std::string read_string(bool compact);
    std::optional<std::string> read_nullable_string(bool compact);
    std::vector<uint8_t> read_bytes(bool compact);
    std::optional<std::vector<uint8_t>> read_nullable_bytes(bool compact);
    records_data read_records(bool compact);  // a view into the buffer, no copy

    // Array length: -1 for null; fails if the count could not fit in the bytes remaining.
    int32_t read_array_length(bool compact);
    // Skips a tag section (unknown tags). Returns false if malformed.
    void skip_tagged_fields();
    bytes_view read_raw(size_t n);

private:
    template <typename T>
    T read_be() {
        if (_failed || _buf.size() - _pos < sizeof(T)) {
            _failed = true;
            return 0;
        }
        T v = 0;
        for (size_t i = 0; i < sizeof(T); ++i) {
            v = static_cast<T>((v << 8) | _buf[_pos + i]);
        }
        _pos += sizeof(T);
        return v;
    }
    int64_t read_length(bool compact);

    bytes_view _buf;
    size_t _pos = 0;
    bool _failed = false;
};

class writer {
public:
    struct splice {
        size_t buffer_position;  // file bytes go right before this buffer position
        records_data records;
    };

    void write_int8(int8_t v) { write_be<uint8_t>(static_cast<uint8_t>(v)); }
    void write_int16(int16_t v) { write_be<uint16_t>(static_cast<uint16_t>(v)); }
    void write_int32(int32_t v) { write_be<uint32_t>(static_cast<uint32_t>(v)); }
    void write_int64(int64_t v) { write_be<uint64_t>(static_cast<uint64_t>(v)); }
    void write_uint16(uint16_t v) { write_be<uint16_t>(v); }
    void write_uint32(uint32_t v) { write_be<uint32_t>(v); }
    void write_float64(double v);
    void write_bool(bool v) { write_be<uint8_t>(v ? 1 : 0); }
    void write_uuid(const uuid& v) { write_raw(v.bytes.data(), v.bytes.size()); }
    void write_uvarint(uint32_t v);
    void write_uvarlong(uint64_t v);
    void write_varint(int32_t v);
    void write_varlong(int64_t v);

    void write_string(std::string_view s, bool compact);
    void write_nullable_string(const std::optional<std::string>& s, bool compact);
    void write_bytes(bytes_view b, bool compact);
    void write_nullable_bytes(const std::optional<std::vector<uint8_t>>& b, bool compact);
    void write_records(const records_data& r, bool compact);
    void write_array_length(int32_t n, bool compact);  // -1 for null
    void write_empty_tagged_fields() { write_uvarint(0); }
    void write_raw(const void* data, size_t n) {
        const auto* p = static_cast<const uint8_t*>(data);
        _buf.insert(_buf.end(), p, p + n);
    }

    std::vector<uint8_t>& buffer() { return _buf; }
    const std::vector<uint8_t>& buffer() const { return _buf; }
    const std::vector<splice>& splices() const { return _splices; }
    size_t size_bytes() const { return _buf.size() + _spliced_bytes; }
    // Overwrites 4 bytes at `pos` (used for the frame size prefix).
    void patch_int32(size_t pos, int32_t v);

private:
    template <typename T>
    void write_be(T v) {
        uint8_t tmp[sizeof(T)];
        for (size_t i = 0; i < sizeof(T); ++i) {
            tmp[i] = static_cast<uint8_t>(v >> (8 * (sizeof(T) - 1 - i)));
        }
        _buf.insert(_buf.end(), tmp, tmp + sizeof(T));
    }

    std::vector<uint8_t> _buf;
    std::vector<splice> _splices;
    size_t _spliced_bytes = 0;
};

// Size of a tagged field's payload, computed by writing it to a scratch writer.
size_t uvarint_size(uint32_t v);

// Versions in a schema: [min, max] inclusive, max = INT16_MAX for "N+", empty for "none".
struct version_range {
    int16_t min = 0;
    int16_t max = -1;
    constexpr bool contains(int16_t v) const { return v >= min && v <= max; }
};

}  // namespace riacho::protocol
