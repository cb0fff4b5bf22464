#include "protocol/wire.h"

#include <bit>
#include <limits>
#include <random>

namespace riacho::protocol {

std::string uuid::to_base64() const {
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    uint32_t acc = 0;
    int bits = 0;
    for (uint8_t b : bytes) {
        acc = (acc << 8) | b;
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out.push_back(alphabet[(acc >> bits) & 0x3f]);
        }
    }
    if (bits > 0) {
        out.push_back(alphabet[(acc << (6 - bits)) & 0x3f]);
    }
    return out;
}

uuid uuid::random() {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    uuid u;
    uint64_t hi = rng();
    uint64_t lo = rng();
    for (int i = 0; i < 8; ++i) {
        u.bytes[i] = static_cast<uint8_t>(hi >> (56 - 8 * i));
        u.bytes[8 + i] = static_cast<uint8_t>(lo >> (56 - 8 * i));
    }
    u.bytes[6] = static_cast<uint8_t>((u.bytes[6] & 0x0f) | 0x40);  // version 4
    u.bytes[8] = static_cast<uint8_t>((u.bytes[8] & 0x3f) | 0x80);  // IETF variant
    return u;
}

double reader::read_float64() { return std::bit_cast<double>(read_be<uint64_t>()); }

uuid reader::read_uuid() {
    uuid u;
    bytes_view raw = read_raw(16);
    if (raw.size() == 16) {
        std::memcpy(u.bytes.data(), raw.data(), 16);
    }
    return u;
}

uint64_t reader::read_uvarlong() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        uint8_t b = read_be<uint8_t>();
        if (_failed) {
            return 0;
        }
        v |= static_cast<uint64_t>(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            return v;
        }
    }
    _failed = true;
    return 0;
}

uint32_t reader::read_uvarint() {
    uint32_t v = 0;
    for (int shift = 0; shift < 35; shift += 7) {
        uint8_t b = read_be<uint8_t>();
        if (_failed) {
            return 0;
        }
        v |= static_cast<uint32_t>(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            return v;
        }
    }
    _failed = true;
    return 0;
}

int32_t reader::read_varint() {
    uint32_t z = read_uvarint();
    return static_cast<int32_t>((z >> 1) ^ (~(z & 1) + 1));
}

int64_t reader::read_varlong() {
    uint64_t z = read_uvarlong();
    return static_cast<int64_t>((z >> 1) ^ (~(z & 1) + 1));
}

bytes_view reader::read_raw(size_t n) {
    if (_failed || _buf.size() - _pos < n) {
        _failed = true;
        return {};
    }
    bytes_view out = _buf.subspan(_pos, n);
    _pos += n;
    return out;
}

// Returns -1 for null, the length otherwise; fails when the length is impossible.
int64_t reader::read_length(bool compact) {
    int64_t n = compact ? static_cast<int64_t>(read_uvarint()) - 1 : read_int16();
    if (_failed || n < -1) {
        _failed = true;
        return 0;
    }
    if (n > static_cast<int64_t>(remaining())) {
        _failed = true;
        return 0;
    }
    return n;
}

std::string reader::read_string(bool compact) {
    int64_t n = read_length(compact);
    if (n < 0) {
        _failed = true;
        return {};
    }
    bytes_view raw = read_raw(static_cast<size_t>(n));
    return std::string(reinterpret_cast<const char*>(raw.data()), raw.size());
}

std::optional<std::string> reader::read_nullable_string(bool compact) {
    int64_t n = read_length(compact);
    if (_failed || n < 0) {
        return std::nullopt;
    }
    bytes_view raw = read_raw(static_cast<size_t>(n));
    return std::string(reinterpret_cast<const char*>(raw.data()), raw.size());
}

static int64_t read_bytes_length(reader& r, bool compact) {
    int64_t n = compact ? static_cast<int64_t>(r.read_uvarint()) - 1 : r.read_int32();
    if (!r.ok() || n < -1 || n > static_cast<int64_t>(r.remaining())) {
        r.fail();
        return 0;
    }
    return n;
}

std::vector<uint8_t> reader::read_bytes(bool compact) {
    int64_t n = read_bytes_length(*this, compact);
    if (n < 0) {
        _failed = true;
        return {};
    }
    bytes_view raw = read_raw(static_cast<size_t>(n));
    return {raw.begin(), raw.end()};
}

std::optional<std::vector<uint8_t>> reader::read_nullable_bytes(bool compact) {
    int64_t n = read_bytes_length(*this, compact);
    if (_failed || n < 0) {
        return std::nullopt;
    }
    bytes_view raw = read_raw(static_cast<size_t>(n));
    return std::vector<uint8_t>(raw.begin(), raw.end());
}

records_data reader::read_records(bool compact) {
    int64_t n = read_bytes_length(*this, compact);
    records_data r;
    if (_failed || n < 0) {
        return r;
    }
    r.memory = read_raw(static_cast<size_t>(n));
    r.is_null = false;
    return r;
}

int32_t reader::read_array_length(bool compact) {
    int64_t n = compact ? static_cast<int64_t>(read_uvarint()) - 1 : read_int32();
    if (_failed || n < -1 || n > static_cast<int64_t>(remaining())) {
        // Every element takes at least one byte, so a larger count is a lie; refusing it
        // here bounds the allocation to the request size.
        _failed = true;
        return 0;
    }
    return static_cast<int32_t>(n);
}

void reader::skip_tagged_fields() {
    uint32_t count = read_uvarint();
    int64_t last_tag = -1;
    for (uint32_t i = 0; i < count && !_failed; ++i) {
        uint32_t tag = read_uvarint();
        uint32_t size = read_uvarint();
        if (static_cast<int64_t>(tag) <= last_tag) {
            _failed = true;
            return;
        }
        last_tag = tag;
        read_raw(size);
    }
}

void writer::write_float64(double v) { write_be<uint64_t>(std::bit_cast<uint64_t>(v)); }

void writer::write_uvarint(uint32_t v) {
    while (v >= 0x80) {
        _buf.push_back(static_cast<uint8_t>(v | 0x80));
        v >>= 7;
    }
    _buf.push_back(static_cast<uint8_t>(v));
}

void writer::write_uvarlong(uint64_t v) {
    while (v >= 0x80) {
        _buf.push_back(static_cast<uint8_t>(v | 0x80));
        v >>= 7;
    }
    _buf.push_back(static_cast<uint8_t>(v));
}

void writer::write_varint(int32_t v) {
    write_uvarint((static_cast<uint32_t>(v) << 1) ^ static_cast<uint32_t>(v >> 31));
}

void writer::write_varlong(int64_t v) {
    write_uvarlong((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
}

void writer::write_string(std::string_view s, bool compact) {
    if (compact) {
        write_uvarint(static_cast<uint32_t>(s.size() + 1));
    } else {
        write_int16(static_cast<int16_t>(s.size()));
    }
    write_raw(s.data(), s.size());
}

void writer::write_nullable_string(const std::optional<std::string>& s, bool compact) {
    if (!s) {
        if (compact) {
            write_uvarint(0);
        } else {
            write_int16(-1);
        }
        return;
    }
    write_string(*s, compact);
}

void writer::write_bytes(bytes_view b, bool compact) {
    if (compact) {
        write_uvarint(static_cast<uint32_t>(b.size() + 1));
    } else {
        write_int32(static_cast<int32_t>(b.size()));
    }
    write_raw(b.data(), b.size());
}

void writer::write_nullable_bytes(const std::optional<std::vector<uint8_t>>& b, bool compact) {
    if (!b) {
        if (compact) {
            write_uvarint(0);
        } else {
            write_int32(-1);
        }
        return;
    }
    write_bytes(*b, compact);
}

void writer::write_records(const records_data& r, bool compact) {
    if (r.is_null) {
        if (compact) {
            write_uvarint(0);
        } else {
            write_int32(-1);
        }
        return;
    }
    size_t n = r.size_bytes();
    if (compact) {
        write_uvarint(static_cast<uint32_t>(n + 1));
    } else {
        write_int32(static_cast<int32_t>(n));
    }
    if (r.file) {
        _splices.push_back(splice{_buf.size(), r});
        _spliced_bytes += n;
    } else {
        write_raw(r.memory.data(), r.memory.size());
    }
}

void writer::write_array_length(int32_t n, bool compact) {
    if (compact) {
        write_uvarint(static_cast<uint32_t>(n + 1));
    } else {
        write_int32(n);
    }
}

void writer::patch_int32(size_t pos, int32_t v) {
    auto u = static_cast<uint32_t>(v);
    _buf[pos] = static_cast<uint8_t>(u >> 24);
    _buf[pos + 1] = static_cast<uint8_t>(u >> 16);
    _buf[pos + 2] = static_cast<uint8_t>(u >> 8);
    _buf[pos + 3] = static_cast<uint8_t>(u);
}

size_t uvarint_size(uint32_t v) {
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        ++n;
    }
    return n;
}

}  // namespace riacho::protocol
