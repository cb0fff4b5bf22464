// libFuzzer target for the record batch parser: validate_batch and decode_records on arbitrary
// bytes must return a result (never crash, over-read or allocate past the limits). Random
// bytes almost never carry a valid CRC, so each input is also tried with its CRC fixed up,
// which lets the fuzzer reach the record walker and the decompressors. Whatever validates
// must also decode, with exactly records_count records.
#include "protocol/crc32c.h"
#include "protocol/record_batch.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

namespace {

using namespace riacho::protocol;

constexpr size_t max_decompressed_bytes = 1u << 20;  // keep each run small and fast

void check(bytes_view batch) {
    validation_options strict;
    strict.max_decompressed_bytes = max_decompressed_bytes;
    validation_options compacted = strict;
    compacted.require_contiguous_offsets = false;
    validation_options shallow = strict;
    shallow.check_records = false;

    auto v = validate_batch(batch, strict);
    auto vc = validate_batch(batch, compacted);
    auto vs = validate_batch(batch, shallow);
    std::vector<uint8_t> scratch;
    auto d = decode_records(batch, scratch, max_decompressed_bytes);

    // Consistency between the entry points.
    if (v.has_value() && !vc.has_value()) {
        std::abort();  // contiguous offsets are a special case of increasing ones
    }
    if (vc.has_value() != d.has_value()) {
        std::abort();  // decode applies exactly the compacted-batch rules
    }
    if (vc.has_value() && !vs.has_value()) {
        std::abort();
    }
    if (d.has_value() && d->size() != static_cast<size_t>(vc->records_count)) {
        std::abort();
    }
    if (d.has_value()) {
        // Touch every view so ASan sees any out-of-bounds one.
        volatile uint8_t sink = 0;
        for (const record_view& r : *d) {
            for (const auto& part : {r.key, r.value}) {
                if (part && !part->empty()) {
                    sink = static_cast<uint8_t>(sink + part->front() + part->back());
                }
            }
            for (const record_header_view& h : r.headers) {
                if (!h.key.empty()) {
                    sink = static_cast<uint8_t>(sink + h.key.front() + h.key.back());
                }
                if (h.value && !h.value->empty()) {
                    sink = static_cast<uint8_t>(sink + h.value->front() + h.value->back());
                }
            }
        }
        (void)sink;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    check(bytes_view(data, size));

    if (size >= batch_header_size) {
        // Same bytes with batch_length and CRC made consistent.
        std::vector<uint8_t> fixed(data, data + size);
        uint64_t length = size - batch_log_overhead;
        if (length <= 0x7fffffffu) {
            for (int i = 0; i < 4; ++i) {
                fixed[batch_offsets::batch_length + i] =
                    static_cast<uint8_t>(length >> (24 - 8 * i));
            }
        }
        fixed[batch_offsets::magic] = static_cast<uint8_t>(batch_magic_v2);
        uint32_t crc = compute_batch_crc(fixed);
        for (int i = 0; i < 4; ++i) {
            fixed[batch_offsets::crc + i] = static_cast<uint8_t>(crc >> (24 - 8 * i));
        }
        check(fixed);
    }
    return 0;
}
