#include "base/invariant.h"

#include <cstdio>
#include <cstdlib>

namespace riacho {

void invariant_failed(const char* expr,
                      const std::string& message,
                      const char* file,
                      int line,
                      const char* function) {
    std::fprintf(stderr, "riacho: invariant violated at %s:%d (%s): %s %s\n", file, line, function,
                 expr, message.c_str());
    std::fflush(stderr);
    std::abort();
}

}  // namespace riacho
