// lmms/io/safetensors_torch.hpp: safetensors <-> at::Tensor.
//
//   auto ck = io::safetensors_checkpoint::open("example_data/models/tiny-qwen2");
//   at::Tensor w = io::to_tensor(ck.at("model.embed_tokens.weight"));
//   io::save_safetensors("out.safetensors", {{"w", w}});
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "lmms/io/safetensors.hpp"
#include "lmms/torch.hpp"

namespace lmms::io {

at::ScalarType to_scalar_type(dtype t);
dtype from_scalar_type(at::ScalarType t);  // throws for types safetensors lacks here

/// Copies a tensor out of its file (the mapping may close afterwards). CPU, contiguous.
at::Tensor to_tensor(const tensor_view& view);

/// Every tensor of a file or checkpoint directory, by name (copied).
std::map<std::string, at::Tensor> load_safetensors(const std::filesystem::path& path);

/// Named tensors in the order they are written.
using named_tensors = std::vector<std::pair<std::string, at::Tensor>>;

/// Writes one file atomically. Tensors may live anywhere and be non-contiguous.
void save_safetensors(const std::filesystem::path& path, const named_tensors& tensors,
                      std::map<std::string, std::string> metadata = {});

/// Writes model.safetensors or shards + index, as transformers' save_pretrained does.
std::vector<std::filesystem::path> save_sharded_safetensors(
    const std::filesystem::path& dir, const named_tensors& tensors,
    std::uint64_t max_shard_bytes = 5'000'000'000ull, std::string_view stem = "model");

}  // namespace lmms::io

#ifdef LMMS_IMPLEMENTATION
#include <cstring>

#include "lmms/core/error.hpp"

namespace lmms::io {

at::ScalarType to_scalar_type(dtype t) {
  switch (t) {
    case dtype::F64: return at::kDouble;
    case dtype::F32: return at::kFloat;
    case dtype::F16: return at::kHalf;
    case dtype::BF16: return at::kBFloat16;
    case dtype::I64: return at::kLong;
    case dtype::I32: return at::kInt;
    case dtype::I16: return at::kShort;
    case dtype::I8: return at::kChar;
    case dtype::U8: return at::kByte;
    case dtype::BOOL: return at::kBool;
  }
  fail("unknown safetensors dtype");
}

dtype from_scalar_type(at::ScalarType t) {
  switch (t) {
    case at::kDouble: return dtype::F64;
    case at::kFloat: return dtype::F32;
    case at::kHalf: return dtype::F16;
    case at::kBFloat16: return dtype::BF16;
    case at::kLong: return dtype::I64;
    case at::kInt: return dtype::I32;
    case at::kShort: return dtype::I16;
    case at::kChar: return dtype::I8;
    case at::kByte: return dtype::U8;
    case at::kBool: return dtype::BOOL;
    default: fail("tensors of type ", c10::toString(t), " cannot be stored in safetensors by lmms");
  }
}

at::Tensor to_tensor(const tensor_view& view) {
  at::Tensor out = at::empty(view.shape, at::TensorOptions().dtype(to_scalar_type(view.dtype)));
  if (!view.bytes.empty()) std::memcpy(out.data_ptr(), view.bytes.data(), view.bytes.size());
  return out;
}

std::map<std::string, at::Tensor> load_safetensors(const std::filesystem::path& path) {
  auto ck = safetensors_checkpoint::open(path);
  std::map<std::string, at::Tensor> out;
  for (const auto& file : ck.files())
    for (const auto& t : file.tensors()) out.emplace(t.name, to_tensor(t));
  return out;
}

namespace {
// Contiguous CPU copies that stay alive while their bytes are written.
struct prepared {
  std::vector<at::Tensor> keep;
  std::vector<tensor_bytes> items;
};
prepared prepare(const named_tensors& tensors) {
  prepared p;
  p.keep.reserve(tensors.size());
  for (const auto& [name, tensor] : tensors) {
    at::Tensor t = tensor.detach().to(at::kCPU).contiguous();
    p.keep.push_back(t);
    tensor_bytes b;
    b.name = name;
    b.dtype = from_scalar_type(t.scalar_type());
    b.shape.assign(t.sizes().begin(), t.sizes().end());
    b.bytes = {static_cast<const std::byte*>(t.data_ptr()), t.nbytes()};
    p.items.push_back(std::move(b));
  }
  return p;
}
}  // namespace

void save_safetensors(const std::filesystem::path& path, const named_tensors& tensors,
                      std::map<std::string, std::string> metadata) {
  auto p = prepare(tensors);
  write_safetensors(path, p.items, std::move(metadata));
}

std::vector<std::filesystem::path> save_sharded_safetensors(const std::filesystem::path& dir,
                                                            const named_tensors& tensors,
                                                            std::uint64_t max_shard_bytes,
                                                            std::string_view stem) {
  auto p = prepare(tensors);
  return write_sharded_safetensors(dir, p.items, max_shard_bytes, stem);
}

}  // namespace lmms::io
#endif  // LMMS_IMPLEMENTATION
