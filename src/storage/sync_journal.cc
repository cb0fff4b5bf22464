// RIACHO_SYNC_JOURNAL: the power-loss seam of the integration tests (see io_observer.h). Kept
// out of file_io.cc so the IO path holds no environment lookup.
#include "storage/io_observer.h"

#include <fmt/format.h>

#include <cstdlib>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace riacho::storage {

namespace {

class sync_journal final : public io_observer {
public:
    explicit sync_journal(int fd) : _fd(fd) {}
    void on_open(int, const std::filesystem::path&, bool) override {}
    void on_write(int, const void*, size_t, uint64_t) override {}
    void on_truncate(int, uint64_t) override {}
    void on_sync(int fd, const std::filesystem::path& path) override {
        struct stat st {};
        if (::fstat(fd, &st) == 0) {
            // One write(2) per line on an O_APPEND file: lines from parallel log opens do not
            // interleave.
            auto line = fmt::format("{}\t{}\n", path.string(), st.st_size);
            (void)!::write(_fd, line.data(), line.size());
        }
    }
    void on_close(int) override {}

private:
    int _fd;
};

}  // namespace

io_observer* sync_journal_from_env() {
    const char* path = std::getenv("RIACHO_SYNC_JOURNAL");
    if (path == nullptr || *path == '\0') {
        return nullptr;
    }
    int fd = ::open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        return nullptr;
    }
    static sync_journal journal(fd);  // lives for the process, like the journal file
    return &journal;
}

}  // namespace riacho::storage
