// Record compression codecs of Kafka: gzip, snappy (raw block and the xerial-framed stream
// Java producers write), lz4 (frame format) and zstd. Decompression is bounded so a small
// batch cannot expand into unbounded memory.
#pragma once

#include "base/result.h"
#include "protocol/record_batch.h"
#include "protocol/wire.h"

#include <cstdint>
#include <vector>

namespace riacho::protocol {

enum class compression_errc { unsupported_codec, corrupt, too_large };

result<std::vector<uint8_t>, compression_errc> compress(compression_codec codec, bytes_view input);
// Appends the decompressed bytes to `out`; fails with too_large past `max_output_bytes`.
result<size_t, compression_errc> decompress(compression_codec codec,
                                            bytes_view input,
                                            std::vector<uint8_t>& out,
                                            size_t max_output_bytes);

}  // namespace riacho::protocol
