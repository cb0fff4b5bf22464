#include "base/invariant.h"

#include <cstdio>
#include <cstdlib>

namespace riacho {

void invariant_failed(const char* expr, const std::string& message, std::source_location where) {
    std::fprintf(stderr, "riacho: invariant violated at %s:%u (%s): %s %s\n", where.file_name(),
                 static_cast<unsigned>(where.line()), where.function_name(), expr, message.c_str());
    std::fflush(stderr);
    std::abort();
}

}  // namespace riacho
