// CRC-32C for record batches: the SSE4.2 crc32 instruction when the CPU has it (three
// interleaved chains on long buffers), else a slicing-by-8 table. Both compute the same reflected
// Castagnoli CRC (polynomial 0x82F63B78, initial value and final xor 0xFFFFFFFF), so `crc` may
// carry a previous result to continue.
#include "protocol/crc32c.h"

#include <array>
#include <cstring>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64)
#define RIACHO_CRC32C_X86 1
#include <nmmintrin.h>
#endif

namespace riacho::protocol {
namespace {

constexpr uint32_t castagnoli_reflected = 0x82F63B78u;

using crc_tables = std::array<std::array<uint32_t, 256>, 8>;

// Table k maps a byte to its CRC contribution when followed by k zero bytes, so eight table
// lookups fold eight input bytes at once.
constexpr crc_tables make_tables() {
    crc_tables t{};
    for (uint32_t n = 0; n < 256; ++n) {
        uint32_t c = n;
        for (int k = 0; k < 8; ++k) {
            c = (c & 1) ? (c >> 1) ^ castagnoli_reflected : c >> 1;
        }
        t[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; ++n) {
        for (size_t k = 1; k < 8; ++k) {
            uint32_t prev = t[k - 1][n];
            t[k][n] = (prev >> 8) ^ t[0][prev & 0xff];
        }
    }
    return t;
}

constexpr crc_tables tables = make_tables();

inline uint64_t load_le64(const uint8_t* p) {
    // Assembled byte by byte so the result is the same on any host; compilers emit one load.
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) {
        v = (v << 8) | p[i];
    }
    return v;
}

uint32_t software_raw(const uint8_t* p, size_t n, uint32_t crc) {
    while (n >= 8) {
        uint64_t w = load_le64(p) ^ crc;
        crc = tables[7][w & 0xff] ^ tables[6][(w >> 8) & 0xff] ^ tables[5][(w >> 16) & 0xff] ^
              tables[4][(w >> 24) & 0xff] ^ tables[3][(w >> 32) & 0xff] ^
              tables[2][(w >> 40) & 0xff] ^ tables[1][(w >> 48) & 0xff] ^ tables[0][w >> 56];
        p += 8;
        n -= 8;
    }
    while (n > 0) {
        crc = (crc >> 8) ^ tables[0][(crc ^ *p) & 0xff];
        ++p;
        --n;
    }
    return crc;
}

#ifdef RIACHO_CRC32C_X86
// The target attribute keeps this correct even if the file is built without -msse4.2.
// One 8-byte crc32 per step: about 8 bytes per 3 cycles, the instruction's latency.
__attribute__((target("sse4.2"))) uint32_t hardware_serial(const uint8_t* p,
                                                           size_t n,
                                                           uint32_t crc) {
    uint64_t c = crc;
    while (n > 0 && (reinterpret_cast<uintptr_t>(p) & 7) != 0) {
        c = _mm_crc32_u8(static_cast<uint32_t>(c), *p);
        ++p;
        --n;
    }
    while (n >= 8) {
        uint64_t w;
        std::memcpy(&w, p, 8);
        c = _mm_crc32_u64(c, w);
        p += 8;
        n -= 8;
    }
    while (n > 0) {
        c = _mm_crc32_u8(static_cast<uint32_t>(c), *p);
        ++p;
        --n;
    }
    return static_cast<uint32_t>(c);
}

// Long buffers (a produced batch is often hundreds of KiB) run three independent chains over
// three adjacent stripes, which keeps the crc32 unit busy every cycle instead of every third,
// then combine them: the register after stripes A, B, C from state s is
// shift(shift(crc(A, s)) ^ crc(B, 0)) ^ crc(C, 0), where shift() advances a register past
// `stripe_bytes` zero bytes. That is linear in the register, so four 256-entry tables (built
// once, from the serial path) apply it.
constexpr size_t stripe_bytes = 4096;

struct stripe_shift {
    std::array<std::array<uint32_t, 256>, 4> table{};

    uint32_t operator()(uint32_t r) const {
        return table[0][r & 0xff] ^ table[1][(r >> 8) & 0xff] ^ table[2][(r >> 16) & 0xff] ^
               table[3][r >> 24];
    }
};

const stripe_shift& shift_past_stripe() {
    static const stripe_shift s = [] {
        stripe_shift out;
        const std::vector<uint8_t> zeros(stripe_bytes, 0);
        for (uint32_t k = 0; k < 4; ++k) {
            for (uint32_t b = 0; b < 256; ++b) {
                out.table[k][b] = hardware_serial(zeros.data(), zeros.size(), b << (8 * k));
            }
        }
        return out;
    }();
    return s;
}

__attribute__((target("sse4.2"))) uint32_t hardware_raw(const uint8_t* p, size_t n, uint32_t crc) {
    if (n < 3 * stripe_bytes) {
        return hardware_serial(p, n, crc);
    }
    const stripe_shift& shift = shift_past_stripe();
    uint64_t a = crc;
    while (n >= 3 * stripe_bytes) {
        uint64_t b = 0;
        uint64_t c = 0;
        for (size_t i = 0; i < stripe_bytes; i += 8) {
            uint64_t wa;
            uint64_t wb;
            uint64_t wc;
            std::memcpy(&wa, p + i, 8);
            std::memcpy(&wb, p + stripe_bytes + i, 8);
            std::memcpy(&wc, p + 2 * stripe_bytes + i, 8);
            a = _mm_crc32_u64(a, wa);
            b = _mm_crc32_u64(b, wb);
            c = _mm_crc32_u64(c, wc);
        }
        a = shift(shift(static_cast<uint32_t>(a)) ^ static_cast<uint32_t>(b)) ^
            static_cast<uint32_t>(c);
        p += 3 * stripe_bytes;
        n -= 3 * stripe_bytes;
    }
    return hardware_serial(p, n, static_cast<uint32_t>(a));
}

bool cpu_has_sse42() {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2");
}
#endif

using crc_fn = uint32_t (*)(const uint8_t*, size_t, uint32_t);

crc_fn select_implementation() {
#ifdef RIACHO_CRC32C_X86
    if (cpu_has_sse42()) {
        return hardware_raw;
    }
#endif
    return software_raw;
}

// Chosen once, on first use (thread-safe static initialisation).
crc_fn implementation() {
    static const crc_fn fn = select_implementation();
    return fn;
}

}  // namespace

uint32_t crc32c(const void* data, size_t size, uint32_t crc) {
    return ~implementation()(static_cast<const uint8_t*>(data), size, ~crc);
}

bool crc32c_is_hardware() { return implementation() != software_raw; }

uint32_t crc32c_software(const void* data, size_t size, uint32_t crc) {
    return ~software_raw(static_cast<const uint8_t*>(data), size, ~crc);
}

}  // namespace riacho::protocol
