// Ctrl-C / SIGTERM as a stop request that long-running commands poll (consume, bench).
// The second signal falls back to the default action, so a stuck command still dies.
#pragma once

namespace riacho::cli {

void install_stop_signals();
bool stop_requested();

}  // namespace riacho::cli
