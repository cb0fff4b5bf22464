// cluster: the metadata image as a snapshot, the bytes the metadata quorum keeps in place of
// the log below it (raft::node::take_snapshot) and sends to a follower that is too far behind
// (FetchSnapshot). A snapshot is one record batch of the same metadata records the log holds,
// zstd-compressed: the records that build the image from nothing (brokers, fencing, topics,
// partitions, configs, the next producer id). Loading one builds the image in a single pass,
// without the copy per record that applying a log entry makes.
#pragma once

#include "base/result.h"
#include "cluster/metadata_image.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace riacho::cluster {

// The records that rebuild `image` when applied in order to an empty one.
std::vector<protocol::msg::metadata_record> records_of_image(const metadata_image& image);

std::vector<uint8_t> encode_snapshot(const metadata_image& image);
// The image a snapshot holds; an error names what does not decode.
result<std::shared_ptr<const metadata_image>, std::string> decode_snapshot(
    protocol::bytes_view bytes);

}  // namespace riacho::cluster
