// broker: the one mapping from storage errors to Kafka error codes.
#pragma once

#include "protocol/error_code.h"
#include "storage/storage_errc.h"

namespace riacho::broker {

inline protocol::error_code to_error_code(storage::storage_errc e) {
    using protocol::error_code;
    switch (e) {
        case storage::storage_errc::offset_out_of_range:
            return error_code::offset_out_of_range;
        case storage::storage_errc::io_error:
        case storage::storage_errc::corrupt:
            return error_code::kafka_storage_error;
        case storage::storage_errc::out_of_order_sequence:
            return error_code::out_of_order_sequence_number;
        case storage::storage_errc::invalid_producer_epoch:
            return error_code::invalid_producer_epoch;
        case storage::storage_errc::batch_too_large:
            return error_code::record_list_too_large;
        case storage::storage_errc::invalid_batch:
            return error_code::invalid_record;
        case storage::storage_errc::not_found:
            return error_code::unknown_topic_or_partition;
        case storage::storage_errc::already_exists:
            return error_code::unknown_server_error;
    }
    return error_code::unknown_server_error;
}

}  // namespace riacho::broker
