// Implementation of lmms/io/safetensors.hpp; compiled once, in the TU that defines
// LMMS_IMPLEMENTATION (see cmake/lmms_runtime.cpp).
#pragma once

#include <algorithm>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <set>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "lmms/core/error.hpp"
#include "lmms/io/atomic_write.hpp"
#include "lmms/io/safetensors.hpp"

namespace lmms::io {

namespace {
struct dtype_row {
  dtype type;
  std::string_view name;
  std::size_t size;
};
constexpr dtype_row dtype_table[] = {
    {dtype::F64, "F64", 8}, {dtype::F32, "F32", 4}, {dtype::F16, "F16", 2},
    {dtype::BF16, "BF16", 2}, {dtype::I64, "I64", 8}, {dtype::I32, "I32", 4},
    {dtype::I16, "I16", 2}, {dtype::I8, "I8", 1}, {dtype::U8, "U8", 1},
    {dtype::BOOL, "BOOL", 1},
};
}  // namespace

std::size_t dtype_size(dtype t) { return dtype_table[static_cast<int>(t)].size; }
std::string_view dtype_name(dtype t) { return dtype_table[static_cast<int>(t)].name; }
std::optional<dtype> parse_dtype(std::string_view name) {
  for (const auto& row : dtype_table)
    if (row.name == name) return row.type;
  return std::nullopt;
}

std::int64_t tensor_view::numel() const {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

namespace {

using json = nlohmann::json;

std::uint64_t read_le_u64(const std::byte* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<std::uint64_t>(p[i]);
  return v;
}

std::uint64_t as_count(const json& v, const std::string& src, const std::string& tensor,
                       const char* field) {
  // nlohmann stores non-negative integers as unsigned; a signed integer here is negative.
  if (!v.is_number_unsigned())
    fail("safetensors file ", src, ": tensor ", quote(tensor), " has a ", field,
         " entry that is not a non-negative integer (", v.dump(), ")");
  return v.get<std::uint64_t>();
}

}  // namespace

safetensors_file safetensors_file::open(const std::filesystem::path& path) {
  auto mapping = mapped_file::open(path);
  safetensors_file f = parse(mapping->bytes(), path.string());
  f.mapping_ = std::move(mapping);
  return f;
}

safetensors_file safetensors_file::parse(std::span<const std::byte> bytes, std::string source) {
  safetensors_file f;
  f.source_ = std::move(source);
  const std::string& src = f.source_;
  if (bytes.size() < 8)
    fail("safetensors file ", src, " is ", bytes.size(),
         " bytes long, too short for the 8-byte header length; the file is truncated or not safetensors");
  const std::uint64_t header_len = read_le_u64(bytes.data());
  if (header_len > max_header_bytes)
    fail("safetensors file ", src, " declares a ", header_len, "-byte header, over the ",
         max_header_bytes, "-byte limit; the file is corrupt or not safetensors");
  if (header_len > bytes.size() - 8)
    fail("safetensors file ", src, " declares a ", header_len, "-byte header but only ",
         bytes.size() - 8, " bytes follow; the file is truncated");
  const char* header_begin = reinterpret_cast<const char*>(bytes.data() + 8);
  const std::span<const std::byte> data = bytes.subspan(8 + header_len);

  // Detect duplicate top-level names, which a plain json parse would silently merge.
  std::set<std::string> seen;
  std::string duplicate;
  json::parser_callback_t on_event = [&](int depth, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::key && depth == 1 && parsed.is_string()) {
      auto name = parsed.get<std::string>();
      if (!seen.insert(name).second && duplicate.empty()) duplicate = name;
    }
    return true;
  };
  json header;
  try {
    header = json::parse(header_begin, header_begin + header_len, on_event);
  } catch (const json::exception& e) {
    fail("safetensors file ", src, " has a header that is not valid JSON (", e.what(), ")");
  }
  if (!duplicate.empty())
    fail("safetensors file ", src, ": tensor ", quote(duplicate), " is listed twice in the header");
  if (!header.is_object()) fail("safetensors file ", src, " has a header that is not a JSON object");

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const json& entry = it.value();
    if (name == "__metadata__") {
      if (!entry.is_object()) fail("safetensors file ", src, ": __metadata__ is not an object");
      for (auto m = entry.begin(); m != entry.end(); ++m) {
        if (!m.value().is_string())
          fail("safetensors file ", src, ": __metadata__ value ", quote(m.key()), " is not a string");
        f.metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    if (!entry.is_object()) fail("safetensors file ", src, ": tensor ", quote(name), " is not a JSON object");
    auto dt = entry.find("dtype");
    auto sh = entry.find("shape");
    auto off = entry.find("data_offsets");
    if (dt == entry.end() || sh == entry.end() || off == entry.end())
      fail("safetensors file ", src, ": tensor ", quote(name),
           " lacks one of the fields dtype, shape, data_offsets");
    if (!dt->is_string()) fail("safetensors file ", src, ": tensor ", quote(name), " has a dtype that is not a string");
    auto type = parse_dtype(dt->get<std::string>());
    if (!type)
      fail("safetensors file ", src, ": tensor ", quote(name), " has dtype ", dt->dump(),
           ", which lmms does not read (F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)");
    if (!sh->is_array()) fail("safetensors file ", src, ": tensor ", quote(name), " has a shape that is not a list");
    if (!off->is_array() || off->size() != 2)
      fail("safetensors file ", src, ": tensor ", quote(name), " needs data_offsets [begin, end]");

    tensor_view view;
    view.name = name;
    view.dtype = *type;
    std::uint64_t expected = dtype_size(*type);
    for (const auto& d : *sh) {
      std::uint64_t dim = as_count(d, src, name, "shape");
      if (dim > static_cast<std::uint64_t>(INT64_MAX) || __builtin_mul_overflow(expected, dim, &expected))
        fail("safetensors file ", src, ": tensor ", quote(name), " has a shape ", sh->dump(),
             " whose byte size overflows");
      view.shape.push_back(static_cast<std::int64_t>(dim));
    }
    const std::uint64_t begin = as_count((*off)[0], src, name, "data_offsets");
    const std::uint64_t end = as_count((*off)[1], src, name, "data_offsets");
    if (begin > end)
      fail("safetensors file ", src, ": tensor ", quote(name), " has data_offsets [", begin, ", ", end,
           "] that end before they begin");
    if (end > data.size())
      fail("safetensors file ", src, ": tensor ", quote(name), " has data_offsets [", begin, ", ", end,
           "] past the end of the data (", data.size(), " bytes); the file is truncated or corrupt");
    if (end - begin != expected)
      fail("safetensors file ", src, ": tensor ", quote(name), " is ", dtype_name(*type), " of shape ",
           sh->dump(), " (", expected, " bytes) but its data_offsets span ", end - begin, " bytes");
    view.bytes = data.subspan(begin, end - begin);
    f.tensors_.push_back(std::move(view));
  }

  // Order by offset and refuse overlaps (zero-size tensors overlap nothing).
  std::sort(f.tensors_.begin(), f.tensors_.end(), [&](const tensor_view& a, const tensor_view& b) {
    return a.bytes.data() != b.bytes.data() ? a.bytes.data() < b.bytes.data() : a.name < b.name;
  });
  const tensor_view* previous = nullptr;
  for (const auto& t : f.tensors_) {
    if (t.bytes.empty()) continue;
    if (previous && t.bytes.data() < previous->bytes.data() + previous->bytes.size())
      fail("safetensors file ", src, ": tensors ", quote(previous->name), " and ", quote(t.name),
           " overlap in the data buffer; the file is corrupt");
    previous = &t;
  }
  for (std::size_t i = 0; i < f.tensors_.size(); ++i) f.index_.emplace(f.tensors_[i].name, i);
  return f;
}

const tensor_view* safetensors_file::find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const tensor_view& safetensors_file::at(std::string_view name) const {
  if (auto* t = find(name)) return *t;
  fail("tensor ", quote(name), " not found in ", source_);
}

std::vector<std::byte> serialize_safetensors(std::span<const tensor_bytes> tensors,
                                             std::map<std::string, std::string> metadata) {
  metadata.emplace("format", "pt");
  json header = json::object();
  header["__metadata__"] = metadata;
  std::uint64_t offset = 0;
  std::set<std::string_view> names;
  for (const auto& t : tensors) {
    if (t.name == "__metadata__") fail("a tensor cannot be named __metadata__");
    if (!names.insert(t.name).second) fail("tensor ", quote(t.name), " is given twice to the safetensors writer");
    std::uint64_t expected = dtype_size(t.dtype);
    for (auto d : t.shape) {
      if (d < 0) fail("tensor ", quote(t.name), " has a negative dimension");
      expected *= static_cast<std::uint64_t>(d);
    }
    if (expected != t.bytes.size())
      fail("tensor ", quote(t.name), " is ", dtype_name(t.dtype), " with ", expected,
           " bytes by its shape but ", t.bytes.size(), " bytes were given");
    header[t.name] = {{"dtype", dtype_name(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + expected}}};
    offset += expected;
  }
  std::string text = header.dump();
  while ((8 + text.size()) % 8 != 0) text.push_back(' ');  // data starts 8-byte aligned
  std::vector<std::byte> out(8 + text.size() + offset);
  std::uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::byte>((n >> (8 * i)) & 0xff);
  std::memcpy(out.data() + 8, text.data(), text.size());
  std::byte* p = out.data() + 8 + text.size();
  for (const auto& t : tensors) {
    if (!t.bytes.empty()) std::memcpy(p, t.bytes.data(), t.bytes.size());
    p += t.bytes.size();
  }
  return out;
}

void write_safetensors(const std::filesystem::path& path, std::span<const tensor_bytes> tensors,
                       std::map<std::string, std::string> metadata) {
  auto bytes = serialize_safetensors(tensors, std::move(metadata));
  write_file_atomically(path, bytes);
}

std::vector<std::filesystem::path> write_sharded_safetensors(const std::filesystem::path& dir,
                                                             std::span<const tensor_bytes> tensors,
                                                             std::uint64_t max_shard_bytes,
                                                             std::string_view stem) {
  std::filesystem::create_directories(dir);
  // Greedy in order, as transformers' split_torch_state_dict_into_shards does.
  std::vector<std::vector<tensor_bytes>> shards(1);
  std::uint64_t current = 0, total = 0;
  for (const auto& t : tensors) {
    if (!shards.back().empty() && current + t.bytes.size() > max_shard_bytes) {
      shards.emplace_back();
      current = 0;
    }
    shards.back().push_back(t);
    current += t.bytes.size();
    total += t.bytes.size();
  }
  std::vector<std::filesystem::path> written;
  const std::string s(stem);
  if (shards.size() == 1) {
    written.push_back(dir / (s + ".safetensors"));
    write_safetensors(written.back(), shards[0]);
    return written;
  }
  json weight_map = json::object();
  const std::size_t n = shards.size();
  for (std::size_t i = 0; i < n; ++i) {
    char name[96];
    std::snprintf(name, sizeof name, "%s-%05zu-of-%05zu.safetensors", s.c_str(), i + 1, n);
    written.push_back(dir / name);
    write_safetensors(written.back(), shards[i]);
    for (const auto& t : shards[i]) weight_map[t.name] = name;
  }
  json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  std::string text = index.dump(2) + "\n";
  written.push_back(dir / (s + ".safetensors.index.json"));
  write_file_atomically(written.back(), std::as_bytes(std::span(text)));
  return written;
}

safetensors_checkpoint safetensors_checkpoint::open(const std::filesystem::path& path,
                                                    std::string_view stem) {
  namespace fs = std::filesystem;
  safetensors_checkpoint ck;
  ck.path_ = path;
  fs::path index_path, single_path;
  const std::string s(stem);
  if (fs::is_directory(path)) {
    index_path = path / (s + ".safetensors.index.json");
    single_path = path / (s + ".safetensors");
    if (!fs::exists(index_path)) index_path.clear();
    if (index_path.empty() && !fs::exists(single_path))
      fail("no weights in ", path.string(), ": expected ", s, ".safetensors or ", s,
           ".safetensors.index.json (lmms reads safetensors only; convert .bin checkpoints with "
           "transformers' save_pretrained(safe_serialization=True))");
  } else if (path.string().ends_with(".index.json")) {
    index_path = path;
  } else {
    single_path = path;
  }

  if (index_path.empty()) {
    ck.files_.push_back(safetensors_file::open(single_path));
  } else {
    json index;
    try {
      std::ifstream in(index_path);
      if (!in) fail("cannot open ", index_path.string());
      index = json::parse(in);
    } catch (const json::exception& e) {
      fail("index file ", index_path.string(), " is not valid JSON (", e.what(), ")");
    }
    if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
      fail("index file ", index_path.string(), " has no \"weight_map\" object");
    std::map<std::string, std::size_t> file_of;
    for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) {
      if (!it.value().is_string())
        fail("index file ", index_path.string(), ": weight_map entry ", quote(it.key()), " is not a file name");
      auto shard = it.value().get<std::string>();
      if (shard.find('/') != std::string::npos || shard == ".." )
        fail("index file ", index_path.string(), ": shard name ", quote(shard), " must be a plain file name");
      auto [pos, added] = file_of.emplace(shard, ck.files_.size());
      if (added) ck.files_.push_back(safetensors_file::open(index_path.parent_path() / shard));
      const auto& file = ck.files_[pos->second];
      if (!file.contains(it.key()))
        fail("index file ", index_path.string(), " puts tensor ", quote(it.key()), " in ", shard,
             ", which does not contain it");
    }
  }
  for (std::size_t fi = 0; fi < ck.files_.size(); ++fi) {
    const auto& ts = ck.files_[fi].tensors();
    for (std::size_t ti = 0; ti < ts.size(); ++ti) {
      auto [it, added] = ck.where_.emplace(ts[ti].name, std::pair{fi, ti});
      if (!added && it->second.first != fi)
        fail("tensor ", quote(ts[ti].name), " appears in both ", ck.files_[it->second.first].source(),
             " and ", ck.files_[fi].source());
    }
  }
  return ck;
}

std::vector<std::string> safetensors_checkpoint::names() const {
  std::vector<std::string> out;
  out.reserve(where_.size());
  for (const auto& [name, _] : where_) out.push_back(name);
  return out;
}

const tensor_view* safetensors_checkpoint::find(std::string_view name) const {
  auto it = where_.find(name);
  if (it == where_.end()) return nullptr;
  return &files_[it->second.first].tensors()[it->second.second];
}

const tensor_view& safetensors_checkpoint::at(std::string_view name) const {
  if (auto* t = find(name)) return *t;
  fail("tensor ", quote(name), " not found in checkpoint ", path_.string());
}

}  // namespace lmms::io
