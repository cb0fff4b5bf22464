// libFuzzer target for the metadata quorum's wire codec (raft/codec.h): decode_request,
// decode_response, check_describe_quorum_request and decode_entries on arbitrary bytes (of
// every API, FetchSnapshot included) must return a result, never crash or over-read. The first
// byte picks the decoder, the second the version; the rest is the body. Random bytes almost never
// carry a valid CRC, so record bytes are also tried with each batch's CRC fixed up. Entries that
// decode must encode again and decode to the same entries (what a follower appends is what the
// leader sent).
#include "protocol/record_batch.h"
#include "raft/codec.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

namespace {

using namespace riacho;
using namespace riacho::raft;

void check_entries(protocol::bytes_view records) {
    auto decoded = codec::decode_entries(records);
    if (!decoded) {
        return;
    }
    std::vector<uint8_t> again;
    codec::append_entries(again, decoded->first, decoded->second);
    auto round_trip = codec::decode_entries(again);
    if (!round_trip || round_trip->first != decoded->first ||
        round_trip->second != decoded->second) {
        std::abort();
    }
}

// The same bytes with the CRC of every batch whose length fits rewritten.
std::vector<uint8_t> with_crcs_fixed(protocol::bytes_view records) {
    std::vector<uint8_t> out(records.begin(), records.end());
    size_t pos = 0;
    while (out.size() - pos >= protocol::batch_header_size) {
        std::span<uint8_t> rest(out.data() + pos, out.size() - pos);
        auto header = protocol::parse_batch_header(rest);
        if (!header || header->total_size_bytes() > rest.size()) {
            break;
        }
        auto batch = rest.first(header->total_size_bytes());
        uint32_t crc = protocol::compute_batch_crc(batch);
        for (size_t i = 0; i < 4; ++i) {
            batch[protocol::batch_offsets::crc + i] = static_cast<uint8_t>(crc >> (24 - 8 * i));
        }
        pos += batch.size();
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) {
        return 0;
    }
    auto version = static_cast<int16_t>(data[1] % 20);
    protocol::bytes_view body(data + 2, size - 2);
    // The requests a response can answer, in the order the selector picks them.
    const message_body requests[] = {
        vote_request{}, begin_quorum_epoch_request{}, end_quorum_epoch_request{},
        fetch_request{node_id(2), leader_epoch(3), kafka_offset(9), leader_epoch(2)}};
    const int16_t request_keys[] = {52, 53, 54, 1};
    const int selector = data[0] % 12;
    switch (selector) {
        case 0:
        case 1:
        case 2:
        case 3: {
            auto m = codec::decode_request(request_keys[selector], version, body, node_id(1),
                                           "fuzz-cluster");
            if (m) {
                // Whatever decodes can be sent on.
                if (!codec::encode_request(*m, "fuzz-cluster")) {
                    std::abort();
                }
            }
            break;
        }
        case 4:
        case 5:
        case 6:
        case 7:
            (void)codec::decode_response(requests[selector - 4], version, body);
            break;
        case 10: {
            auto m = codec::decode_request(59, version, body, node_id(1), "fuzz-cluster");
            if (m && !codec::encode_request(*m, "fuzz-cluster")) {
                std::abort();
            }
            break;
        }
        case 11:
            (void)codec::decode_response(
                fetch_snapshot_request{
                    node_id(2), leader_epoch(3), {kafka_offset(9), leader_epoch(2)}},
                version, body);
            break;
        case 8:
            (void)codec::check_describe_quorum_request(static_cast<int16_t>(version % 3), body);
            break;
        default: {
            protocol::bytes_view records(data + 1, size - 1);
            check_entries(records);
            check_entries(with_crcs_fixed(records));
            break;
        }
    }
    return 0;
}
