// Kafka's record codecs on top of zlib, libsnappy, liblz4 (frame API) and libzstd (streaming
// API). Every decompressor writes into `out` in growing chunks and stops as soon as the output
// would pass `max_output_bytes`, so a compression bomb costs at most that much memory. On any
// failure `out` is restored to its size on entry.
#include "protocol/compression.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <lz4frame.h>
#include <snappy.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

namespace riacho::protocol {
namespace {

constexpr size_t initial_chunk_bytes = 64u << 10;

// Output area that grows geometrically but never past max_output_bytes + 1: one byte of
// headroom is how a decoder proves the real output is larger than the limit.
class bounded_output {
public:
    bounded_output(std::vector<uint8_t>& out, size_t max_output_bytes)
        : _out(out), _start(out.size()), _max(max_output_bytes) {}

    size_t produced() const { return _produced; }
    bool over_limit() const { return _produced > _max; }

    // Makes room for more output and returns where it goes; `n` is how much fits.
    uint8_t* reserve(size_t& n) {
        if (_out.size() - _start == _produced) {
            size_t cap_left = (_max - std::min(_max, _produced)) + 1;
            size_t grow = std::min(std::max(initial_chunk_bytes, _produced), cap_left);
            _out.resize(_start + _produced + grow);
        }
        n = _out.size() - _start - _produced;
        return _out.data() + _start + _produced;
    }
    void commit(size_t n) { _produced += n; }
    // Bytes that may still be produced without passing the limit.
    size_t room_left() const { return _max - std::min(_max, _produced); }
    // Room for exactly `n` more bytes; REQUIRES n <= room_left().
    uint8_t* reserve_exact(size_t n) {
        if (_out.size() - _start - _produced < n) {
            _out.resize(_start + _produced + n);
        }
        return _out.data() + _start + _produced;
    }

    result<size_t, compression_errc> finish() {
        if (over_limit()) {
            return fail(compression_errc::too_large);
        }
        _out.resize(_start + _produced);
        return _produced;
    }
    unexpected<compression_errc> fail(compression_errc e) {
        _out.resize(_start);
        return unexpected{e};
    }

private:
    std::vector<uint8_t>& _out;
    size_t _start;
    size_t _max;
    size_t _produced = 0;
};

// ---- gzip -----------------------------------------------------------------------------

constexpr int gzip_window_bits = 15 + 16;  // +16 selects the gzip wrapper in zlib

result<std::vector<uint8_t>, compression_errc> gzip_compress(bytes_view input) {
    z_stream zs{};
    if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, gzip_window_bits, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
        return unexpected{compression_errc::corrupt};
    }
    std::vector<uint8_t> out(deflateBound(&zs, static_cast<uLong>(input.size())));
    zs.next_in = const_cast<Bytef*>(input.data());
    zs.avail_in = static_cast<uInt>(input.size());
    zs.next_out = out.data();
    zs.avail_out = static_cast<uInt>(out.size());
    int rc = deflate(&zs, Z_FINISH);
    size_t written = zs.total_out;
    deflateEnd(&zs);
    if (rc != Z_STREAM_END) {
        return unexpected{compression_errc::corrupt};
    }
    out.resize(written);
    return out;
}

result<size_t, compression_errc> gzip_decompress(bytes_view input,
                                                 std::vector<uint8_t>& out,
                                                 size_t max_output_bytes) {
    bounded_output sink(out, max_output_bytes);
    z_stream zs{};
    if (inflateInit2(&zs, gzip_window_bits) != Z_OK) {
        return sink.fail(compression_errc::corrupt);
    }
    zs.next_in = const_cast<Bytef*>(input.data());
    size_t in_left = input.size();
    bool member_done = false;
    while (!sink.over_limit()) {
        size_t room = 0;
        uint8_t* dst = sink.reserve(room);
        constexpr size_t max_uint = std::numeric_limits<uInt>::max();
        size_t in_now = std::min(in_left, max_uint);
        zs.avail_in = static_cast<uInt>(in_now);
        zs.next_out = dst;
        zs.avail_out = static_cast<uInt>(std::min(room, max_uint));
        uInt avail_out_before = zs.avail_out;
        int rc = inflate(&zs, Z_NO_FLUSH);
        in_left -= in_now - zs.avail_in;
        sink.commit(avail_out_before - zs.avail_out);
        if (rc == Z_STREAM_END) {
            member_done = true;
            if (in_left == 0) {
                break;
            }
            // GZIPInputStream reads concatenated members; so do we.
            if (inflateReset(&zs) != Z_OK) {
                break;
            }
            member_done = false;
            continue;
        }
        if (rc == Z_BUF_ERROR && in_left == 0) {
            break;  // truncated stream: no more input and no end marker
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            break;
        }
    }
    inflateEnd(&zs);
    if (sink.over_limit()) {
        return sink.fail(compression_errc::too_large);
    }
    if (!member_done) {
        return sink.fail(compression_errc::corrupt);
    }
    return sink.finish();
}

// ---- snappy ---------------------------------------------------------------------------

// snappy-java's stream header: magic, then int32 version and int32 min compatible version.
constexpr uint8_t xerial_magic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0x00};
constexpr size_t xerial_header_bytes = sizeof(xerial_magic) + 8;

result<std::vector<uint8_t>, compression_errc> snappy_compress(bytes_view input) {
    // A raw block, as librdkafka writes it; every Kafka reader accepts it.
    std::vector<uint8_t> out(snappy::MaxCompressedLength(input.size()));
    size_t written = 0;
    snappy::RawCompress(reinterpret_cast<const char*>(input.data()), input.size(),
                        reinterpret_cast<char*>(out.data()), &written);
    out.resize(written);
    return out;
}

// Appends one raw snappy block. Snappy states the output length up front, so it is checked
// against the limit before anything is allocated.
bool snappy_raw_block(bytes_view block, bounded_output& sink, compression_errc& error) {
    const char* src = reinterpret_cast<const char*>(block.data());
    size_t length = 0;
    if (!snappy::GetUncompressedLength(src, block.size(), &length)) {
        error = compression_errc::corrupt;
        return false;
    }
    if (length > sink.room_left()) {
        error = compression_errc::too_large;
        return false;
    }
    if (!snappy::RawUncompress(src, block.size(),
                               reinterpret_cast<char*>(sink.reserve_exact(length)))) {
        error = compression_errc::corrupt;
        return false;
    }
    sink.commit(length);
    return true;
}

result<size_t, compression_errc> snappy_decompress(bytes_view input,
                                                   std::vector<uint8_t>& out,
                                                   size_t max_output_bytes) {
    bounded_output sink(out, max_output_bytes);
    compression_errc error = compression_errc::corrupt;
    bool xerial = input.size() >= sizeof(xerial_magic) &&
                  std::memcmp(input.data(), xerial_magic, sizeof(xerial_magic)) == 0;
    if (!xerial) {
        if (!snappy_raw_block(input, sink, error)) {
            return sink.fail(error);
        }
        return sink.finish();
    }
    if (input.size() < xerial_header_bytes) {
        return sink.fail(compression_errc::corrupt);
    }
    size_t pos = xerial_header_bytes;
    while (pos < input.size()) {
        if (input.size() - pos < 4) {
            return sink.fail(compression_errc::corrupt);
        }
        uint32_t n = (uint32_t{input[pos]} << 24) | (uint32_t{input[pos + 1]} << 16) |
                     (uint32_t{input[pos + 2]} << 8) | uint32_t{input[pos + 3]};
        pos += 4;
        if (n > input.size() - pos) {  // also rejects negative int32 lengths
            return sink.fail(compression_errc::corrupt);
        }
        if (!snappy_raw_block(input.subspan(pos, n), sink, error)) {
            return sink.fail(error);
        }
        pos += n;
    }
    return sink.finish();
}

// ---- lz4 ------------------------------------------------------------------------------

result<std::vector<uint8_t>, compression_errc> lz4_compress(bytes_view input) {
    LZ4F_preferences_t prefs{};
    // Kafka's Java reader (KafkaLZ4BlockInputStream) refuses linked blocks, so blocks are
    // independent; 64 KiB blocks and no content checksum match its writer. It skips the
    // content size field, which lets our reader size its output.
    prefs.frameInfo.blockSizeID = LZ4F_max64KB;
    prefs.frameInfo.blockMode = LZ4F_blockIndependent;
    prefs.frameInfo.contentSize = input.size();
    std::vector<uint8_t> out(LZ4F_compressFrameBound(input.size(), &prefs));
    size_t written = LZ4F_compressFrame(out.data(), out.size(), input.data(), input.size(), &prefs);
    if (LZ4F_isError(written)) {
        return unexpected{compression_errc::corrupt};
    }
    out.resize(written);
    return out;
}

result<size_t, compression_errc> lz4_decompress(bytes_view input,
                                                std::vector<uint8_t>& out,
                                                size_t max_output_bytes) {
    bounded_output sink(out, max_output_bytes);
    LZ4F_dctx* ctx = nullptr;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&ctx, LZ4F_VERSION))) {
        return sink.fail(compression_errc::corrupt);
    }
    const uint8_t* src = input.data();
    size_t in_left = input.size();
    size_t hint = 1;  // nonzero: a frame is still expected
    bool failed = input.empty();
    while (!failed && !sink.over_limit()) {
        size_t room = 0;
        uint8_t* dst = sink.reserve(room);
        size_t dst_size = room;
        size_t src_size = in_left;
        hint = LZ4F_decompress(ctx, dst, &dst_size, src, &src_size, nullptr);
        if (LZ4F_isError(hint)) {
            failed = true;
            break;
        }
        if (src_size == 0 && dst_size == 0 && in_left > 0) {
            failed = true;  // no progress possible: never spin
            break;
        }
        src += src_size;
        in_left -= src_size;
        sink.commit(dst_size);
        if (hint == 0 && in_left == 0) {
            break;  // last frame complete and fully flushed
        }
        if (in_left == 0 && dst_size < room) {
            failed = true;  // input ran out mid-frame and nothing is left to flush
        }
        // hint == 0 with input left: another frame follows; the context restarts by itself.
    }
    LZ4F_freeDecompressionContext(ctx);
    if (sink.over_limit()) {
        return sink.fail(compression_errc::too_large);
    }
    if (failed || hint != 0) {
        return sink.fail(compression_errc::corrupt);
    }
    return sink.finish();
}

// ---- zstd -----------------------------------------------------------------------------

constexpr int zstd_level = 3;

result<std::vector<uint8_t>, compression_errc> zstd_compress(bytes_view input) {
    std::vector<uint8_t> out(ZSTD_compressBound(input.size()));
    size_t written = ZSTD_compress(out.data(), out.size(), input.data(), input.size(), zstd_level);
    if (ZSTD_isError(written)) {
        return unexpected{compression_errc::corrupt};
    }
    out.resize(written);
    return out;
}

// A window larger than the whole allowed output is never needed, so refuse frames that ask
// for one instead of letting them allocate up to 128 MiB of window.
int zstd_window_log_max(size_t max_output_bytes) {
    int log = 10;  // ZSTD_WINDOWLOG_ABSOLUTEMIN
    while (log < 27 && (size_t{1} << log) < max_output_bytes) {
        ++log;
    }
    return log;
}

result<size_t, compression_errc> zstd_decompress(bytes_view input,
                                                 std::vector<uint8_t>& out,
                                                 size_t max_output_bytes) {
    bounded_output sink(out, max_output_bytes);
    ZSTD_DCtx* ctx = ZSTD_createDCtx();
    if (ctx == nullptr) {
        return sink.fail(compression_errc::corrupt);
    }
    ZSTD_DCtx_setParameter(ctx, ZSTD_d_windowLogMax, zstd_window_log_max(max_output_bytes));
    ZSTD_inBuffer in{input.data(), input.size(), 0};
    size_t hint = 1;
    compression_errc error = compression_errc::corrupt;
    bool failed = input.empty();
    while (!failed && !sink.over_limit()) {
        size_t room = 0;
        uint8_t* dst = sink.reserve(room);
        ZSTD_outBuffer o{dst, room, 0};
        hint = ZSTD_decompressStream(ctx, &o, &in);
        sink.commit(o.pos);
        if (ZSTD_isError(hint)) {
            if (ZSTD_getErrorCode(hint) == ZSTD_error_frameParameter_windowTooLarge) {
                error = compression_errc::too_large;
            }
            failed = true;
            break;
        }
        if (hint == 0 && in.pos == in.size) {
            break;  // every frame decoded and flushed
        }
        if (in.pos == in.size && o.pos < o.size) {
            failed = true;  // truncated: the decoder wants input that is not there
        }
    }
    ZSTD_freeDCtx(ctx);
    if (sink.over_limit()) {
        return sink.fail(compression_errc::too_large);
    }
    if (failed || hint != 0) {
        return sink.fail(error);
    }
    return sink.finish();
}

}  // namespace

result<std::vector<uint8_t>, compression_errc> compress(compression_codec codec, bytes_view input) {
    switch (codec) {
        case compression_codec::none:
            return std::vector<uint8_t>(input.begin(), input.end());
        case compression_codec::gzip:
            return gzip_compress(input);
        case compression_codec::snappy:
            return snappy_compress(input);
        case compression_codec::lz4:
            return lz4_compress(input);
        case compression_codec::zstd:
            return zstd_compress(input);
    }
    return unexpected{compression_errc::unsupported_codec};
}

result<size_t, compression_errc> decompress(compression_codec codec,
                                            bytes_view input,
                                            std::vector<uint8_t>& out,
                                            size_t max_output_bytes) {
    switch (codec) {
        case compression_codec::none: {
            if (input.size() > max_output_bytes) {
                return unexpected{compression_errc::too_large};
            }
            out.insert(out.end(), input.begin(), input.end());
            return input.size();
        }
        case compression_codec::gzip:
            return gzip_decompress(input, out, max_output_bytes);
        case compression_codec::snappy:
            return snappy_decompress(input, out, max_output_bytes);
        case compression_codec::lz4:
            return lz4_decompress(input, out, max_output_bytes);
        case compression_codec::zstd:
            return zstd_decompress(input, out, max_output_bytes);
    }
    return unexpected{compression_errc::unsupported_codec};
}

}  // namespace riacho::protocol
