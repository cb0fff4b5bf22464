// CRC-32C (Castagnoli), the checksum of record batch v2. Uses the SSE4.2 crc32 instruction
// when the CPU has it (checked once at startup), else a slicing-by-8 table.
#pragma once

#include <cstddef>
#include <cstdint>

namespace riacho::protocol {

uint32_t crc32c(const void* data, size_t size, uint32_t crc = 0);
bool crc32c_is_hardware();
uint32_t crc32c_software(const void* data, size_t size, uint32_t crc = 0);

}  // namespace riacho::protocol
