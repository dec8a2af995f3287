// lmms/io/safetensors.hpp: reading and writing the safetensors format, without torch.
//
// Format: 8-byte little-endian header length N, N bytes of JSON
//   {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"format": "pt"}}
// then the data buffer; offsets are relative to the start of that buffer.
//
// The reader treats every file as hostile: each header field is checked (length inside the
// file, JSON well formed, dtype known, shape * element size == byte size without overflow,
// offsets inside the buffer, no two tensors overlapping, no duplicate names) and a failure
// is an lmms::error naming the file and the tensor. It never reads outside the mapping.
// Torch conversion lives in safetensors_torch.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lmms/io/mapped_file.hpp"

namespace lmms::io {

/// Element types of the safetensors format that lmms reads and writes.
enum class dtype : std::uint8_t { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

std::size_t dtype_size(dtype t);
std::string_view dtype_name(dtype t);           // "F32", "BF16", ...
std::optional<dtype> parse_dtype(std::string_view name);

/// One tensor inside a file: where its bytes are and what they mean.
struct tensor_view {
  std::string name;
  io::dtype dtype = io::dtype::F32;
  std::vector<std::int64_t> shape;     // empty = scalar
  std::span<const std::byte> bytes;    // inside the file's mapping; may be unaligned
  std::int64_t numel() const;
};

/// The largest header lmms accepts (the reference implementation's limit).
inline constexpr std::uint64_t max_header_bytes = 100'000'000;

/// A parsed safetensors file. Views stay valid while this object (or a copy) lives.
class safetensors_file {
 public:
  /// Maps and validates `path`. Throws lmms::error naming the file (and tensor) on any defect.
  static safetensors_file open(const std::filesystem::path& path);

  /// Validates an in-memory file; `source` names it in messages. The caller keeps `bytes` alive.
  static safetensors_file parse(std::span<const std::byte> bytes, std::string source);

  const std::string& source() const { return source_; }
  /// Tensors in file order (by data offset).
  const std::vector<tensor_view>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  bool contains(std::string_view name) const { return find(name) != nullptr; }
  const tensor_view* find(std::string_view name) const;
  /// Like find, but throws "lmms: tensor 'x' not found in FILE" when absent.
  const tensor_view& at(std::string_view name) const;

 private:
  std::shared_ptr<const mapped_file> mapping_;  // null when parsed from caller memory
  std::string source_;
  std::vector<tensor_view> tensors_;
  std::map<std::string, std::size_t, std::less<>> index_;
  std::map<std::string, std::string> metadata_;
};

/// A tensor to write: name, type, shape and its raw little-endian bytes.
struct tensor_bytes {
  std::string name;
  io::dtype dtype = io::dtype::F32;
  std::vector<std::int64_t> shape;
  std::span<const std::byte> bytes;
};

/// Writes one safetensors file atomically (temp file, fsync, rename), with
/// {"format": "pt"} merged into `metadata` as transformers expects.
void write_safetensors(const std::filesystem::path& path, std::span<const tensor_bytes> tensors,
                       std::map<std::string, std::string> metadata = {});

/// Serializes to memory (the exact bytes write_safetensors puts in a file).
std::vector<std::byte> serialize_safetensors(std::span<const tensor_bytes> tensors,
                                             std::map<std::string, std::string> metadata = {});

/// Writes a checkpoint the way transformers' save_pretrained does: one `<stem>.safetensors`
/// when everything fits in `max_shard_bytes`, else `<stem>-0000k-of-0000n.safetensors`
/// shards plus `<stem>.safetensors.index.json` (metadata.total_size and weight_map).
/// Tensors keep their order; a tensor larger than the limit gets a shard of its own.
/// Returns the files written (shards, then the index if any).
std::vector<std::filesystem::path> write_sharded_safetensors(
    const std::filesystem::path& dir, std::span<const tensor_bytes> tensors,
    std::uint64_t max_shard_bytes = 5'000'000'000ull, std::string_view stem = "model");

/// A checkpoint directory's weights: one file or the shards listed by an index.
/// Every name in the index must exist in the shard it points to.
class safetensors_checkpoint {
 public:
  /// Opens `<dir>/<stem>.safetensors.index.json` if present, else `<dir>/<stem>.safetensors`.
  /// `path` may also name a .safetensors file or an index file directly.
  static safetensors_checkpoint open(const std::filesystem::path& path,
                                     std::string_view stem = "model");

  const std::vector<safetensors_file>& files() const { return files_; }
  /// All tensor names, sorted.
  std::vector<std::string> names() const;
  const tensor_view* find(std::string_view name) const;
  const tensor_view& at(std::string_view name) const;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::vector<safetensors_file> files_;
  std::map<std::string, std::pair<std::size_t, std::size_t>, std::less<>> where_;  // file, tensor
};

}  // namespace lmms::io

#ifdef LMMS_IMPLEMENTATION
#include "lmms/impl/safetensors_impl.hpp"
#endif
