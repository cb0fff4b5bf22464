#include "cli/signals.h"

#include <atomic>
#include <csignal>

namespace riacho::cli {

namespace {

std::atomic<bool> g_stop{false};  // written by the signal handler only

extern "C" void on_stop_signal(int sig) {
    g_stop.store(true);
    std::signal(sig, SIG_DFL);
}

}  // namespace

void install_stop_signals() {
    std::signal(SIGINT, on_stop_signal);
    std::signal(SIGTERM, on_stop_signal);
}

bool stop_requested() { return g_stop.load(); }

}  // namespace riacho::cli
