// lmms/io/mapped_file.hpp: a read-only memory map of a whole file (POSIX mmap).
//
// Checkpoints are read through maps so that a 30 GB shard costs no RAM until a tensor is
// touched. The map is shared: tensors viewing it keep it alive through a shared_ptr.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <span>

namespace lmms::io {

class mapped_file {
 public:
  /// Maps `path` read-only. Throws lmms::error naming the file if it cannot be opened.
  static std::shared_ptr<const mapped_file> open(const std::filesystem::path& path);

  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;
  ~mapped_file();

  std::span<const std::byte> bytes() const { return {data_, size_}; }
  const std::filesystem::path& path() const { return path_; }

 private:
  mapped_file() = default;
  std::filesystem::path path_;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace lmms::io

#ifdef LMMS_IMPLEMENTATION
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lmms/core/error.hpp"

namespace lmms::io {

std::shared_ptr<const mapped_file> mapped_file::open(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("cannot open ", path.string(), ": ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    fail("cannot stat ", path.string(), ": ", std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(path.string(), " is not a regular file");
  }
  std::shared_ptr<mapped_file> file(new mapped_file());
  file->path_ = path;
  file->size_ = static_cast<std::size_t>(st.st_size);
  if (file->size_ > 0) {
    void* p = ::mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      fail("cannot map ", path.string(), ": ", std::strerror(e));
    }
    file->data_ = static_cast<const std::byte*>(p);
  }
  ::close(fd);  // the mapping stays valid without the descriptor
  return file;
}

mapped_file::~mapped_file() {
  if (data_ != nullptr) ::munmap(const_cast<std::byte*>(data_), size_);
}

}  // namespace lmms::io
#endif  // LMMS_IMPLEMENTATION
