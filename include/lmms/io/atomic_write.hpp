// lmms/io/atomic_write.hpp: crash-safe file and directory writes.
//
// A reader never sees a half-written file: data goes to a temporary name in the same
// directory, is fsync'ed, then renamed over the target, and the directory is fsync'ed.
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>
#include <string_view>

namespace lmms::io {

/// Writes `bytes` to `path` atomically. Throws lmms::error naming the path on failure.
void write_file_atomically(const std::filesystem::path& path, std::span<const std::byte> bytes);

inline void write_file_atomically(const std::filesystem::path& path, std::string_view text) {
  write_file_atomically(path, std::as_bytes(std::span(text.data(), text.size())));
}

/// fsyncs a directory so that renames inside it survive a power cut.
void sync_directory(const std::filesystem::path& dir);

}  // namespace lmms::io

#ifdef LMMS_IMPLEMENTATION
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

#include "lmms/core/error.hpp"

namespace lmms::io {

void sync_directory(const std::filesystem::path& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;  // best effort: some filesystems refuse directory fds
  ::fsync(fd);
  ::close(fd);
}

void write_file_atomically(const std::filesystem::path& path, std::span<const std::byte> bytes) {
  std::filesystem::path tmp = path;
  tmp += ".tmp-" + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("cannot create ", tmp.string(), ": ", std::strerror(errno));
  const std::byte* p = bytes.data();
  std::size_t left = bytes.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      fail("cannot write ", path.string(), ": ", std::strerror(e), " (is the disk full?)");
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    fail("cannot flush ", path.string(), ": ", std::strerror(e));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    fail("cannot rename ", tmp.string(), " to ", path.string(), ": ", std::strerror(e));
  }
  sync_directory(path.parent_path());
}

}  // namespace lmms::io
#endif  // LMMS_IMPLEMENTATION
