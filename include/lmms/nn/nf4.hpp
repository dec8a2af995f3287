// lmms/nn/nf4.hpp: 4-bit NormalFloat (NF4) weights with double quantization, in the layout
// bitsandbytes uses for QLoRA (Params4bit + QuantState), bit for bit:
//   packed   uint8 (numel / 2, 1): two 4-bit codes per byte, the first in the high nibble;
//            codes index the 16 NF4 values; one absmax per block of 64 weights
//   absmax   uint8 (blocks): the block absmax minus `offset`, quantized blockwise (256) with
//            bitsandbytes' signed 8-bit dynamic map (code2), scale absmax2 per 256 blocks
//   offset   the mean of the block absmax values
// dequantize: NF4[code] * (code2[absmax] * absmax2 + offset), in float32.
#pragma once

#include <array>
#include <vector>

#include "lmms/torch.hpp"

namespace lmms::nn {

struct nf4_tensor {
  at::Tensor packed;      // uint8 (n / 2, 1)
  at::Tensor absmax;      // uint8 (blocks)
  at::Tensor absmax2;     // float32 (ceil(blocks / 256))
  at::Tensor code2;       // float32 (256)
  double offset = 0;      // stored as float32 by bitsandbytes
  std::vector<std::int64_t> shape;
  std::int64_t blocksize = 64;
};

/// The 16 NF4 values (QLoRA paper, as bitsandbytes stores them).
const std::array<float, 16>& nf4_values();
/// bitsandbytes' create_dynamic_map(signed=True): the 256-entry 8-bit code of the absmax.
at::Tensor dynamic_map_signed();

nf4_tensor nf4_quantize(const at::Tensor& weight, std::int64_t blocksize = 64);
at::Tensor nf4_dequantize(const nf4_tensor& q, at::ScalarType dtype = at::kFloat);

}  // namespace lmms::nn

#ifdef LMMS_IMPLEMENTATION
#include <algorithm>
#include <cmath>

#include "lmms/core/error.hpp"

namespace lmms::nn {

const std::array<float, 16>& nf4_values() {
  static const std::array<float, 16> v = {
      -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f, -0.28444138169288635f,
      -0.18477343022823334f, -0.09105003625154495f, 0.0f, 0.07958029955625534f, 0.16093020141124725f,
      0.24611230194568634f, 0.33791524171829224f, 0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};
  return v;
}

at::Tensor dynamic_map_signed() {
  // Dynamic exponent + fraction (Dettmers 2016), 8 bits, up to 7 exponent bits, signed:
  // for exponent e = 0..6, the midpoints of linspace(0.1, 1, 2^e + 1) scaled by 10^(e - 6), both
  // signs; then 0 and 1; sorted.
  std::vector<float> data;
  const int max_exponent_bits = 7, non_sign_bits = 7;
  for (int i = 0; i < max_exponent_bits; ++i) {
    const auto items = static_cast<std::int64_t>(std::pow(2, i + non_sign_bits - max_exponent_bits)) + 1;
    at::Tensor b = at::linspace(0.1, 1.0, items, at::kFloat);
    at::Tensor means = (b.slice(0, 0, items - 1) + b.slice(0, 1, items)) / 2.0;
    const double scale = std::pow(10.0, -(max_exponent_bits - 1) + i);
    at::Tensor pos = means * scale, neg = means * -scale;
    for (std::int64_t k = 0; k < means.numel(); ++k) data.push_back(pos[k].item<float>());
    for (std::int64_t k = 0; k < means.numel(); ++k) data.push_back(neg[k].item<float>());
  }
  data.push_back(0.0f);
  data.push_back(1.0f);
  if (data.size() != 256) fail("internal: the dynamic map has ", data.size(), " entries");
  std::sort(data.begin(), data.end());
  return at::tensor(data, at::kFloat);
}

namespace {
// bitsandbytes' CPU blockwise 8-bit quantizer: nearest code through a 65536-entry table.
std::vector<std::uint8_t> code_table(const float* code) {
  float mid[255];
  for (int i = 0; i < 255; ++i) mid[i] = 0.5f * (code[i] + code[i + 1]);
  std::vector<std::uint8_t> lut(65536);
  int c = 0;
  for (int i = 0; i < 65536; ++i) {
    float v = -1.0f + (2.0f * static_cast<float>(i)) / 65535.0f;
    while (c < 255 && mid[c] < v) ++c;
    lut[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(c);
  }
  return lut;
}

void quantize_blockwise_8bit(const float* x, std::int64_t n, std::int64_t blocksize, const float* code,
                             std::uint8_t* out, float* absmax) {
  static const std::vector<std::uint8_t> lut = code_table(code);  // code is always dynamic_map_signed()
  for (std::int64_t b = 0; b * blocksize < n; ++b) {
    const std::int64_t begin = b * blocksize, end = std::min(n, begin + blocksize);
    float m = 0.0f;
    for (std::int64_t i = begin; i < end; ++i) m = std::max(m, std::fabs(x[i]));
    absmax[b] = m;
    if (m == 0.0f) {
      for (std::int64_t i = begin; i < end; ++i) out[i] = 0;
      continue;
    }
    const float inv = 1.0f / m;
    for (std::int64_t i = begin; i < end; ++i) {
      float v = std::clamp(x[i] * inv, -1.0f, 1.0f);
      out[i] = lut[static_cast<std::uint16_t>((v + 1.0f) * 0.5f * 65535.0f + 0.5f)];
    }
  }
}
}  // namespace

nf4_tensor nf4_quantize(const at::Tensor& weight, std::int64_t blocksize) {
  nf4_tensor q;
  q.blocksize = blocksize;
  q.shape.assign(weight.sizes().begin(), weight.sizes().end());
  at::Tensor flat = weight.detach().reshape(-1).to(at::kFloat).contiguous();
  const std::int64_t n = flat.numel(), blocks = (n + blocksize - 1) / blocksize;
  const float* x = flat.data_ptr<float>();
  // first level: NF4 codes per block of `blocksize`, by bucketizing x / absmax at the midpoints
  const auto& v = nf4_values();
  float mid[15];
  for (int i = 0; i < 15; ++i) mid[i] = (v[i] + v[i + 1]) / 2.0f;
  std::vector<float> absmax(static_cast<std::size_t>(blocks));
  std::vector<std::uint8_t> codes(static_cast<std::size_t>(n + (n % 2)), 0);
  for (std::int64_t b = 0; b < blocks; ++b) {
    const std::int64_t begin = b * blocksize, end = std::min(n, begin + blocksize);
    float m = 0.0f;
    for (std::int64_t i = begin; i < end; ++i) m = std::max(m, std::fabs(x[i]));
    absmax[static_cast<std::size_t>(b)] = m;
    const float inv = 1.0f / std::max(m, 1e-38f);
    for (std::int64_t i = begin; i < end; ++i) {
      float s = std::clamp(x[i] * inv, -1.0f, 1.0f);
      int code = 0;
      while (code < 15 && mid[code] < s) ++code;  // torch.bucketize(right=False)
      codes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(code);
    }
  }
  if (n % 2) {  // a padded last value quantizes 0.0, as bitsandbytes pads with zeros
    int code = 0;
    while (code < 15 && mid[code] < 0.0f) ++code;
    codes.back() = static_cast<std::uint8_t>(code);
  }
  q.packed = at::empty({(n + 1) / 2, 1}, at::kByte);
  auto* p = q.packed.data_ptr<std::uint8_t>();
  for (std::int64_t i = 0; i < (n + 1) / 2; ++i) p[i] = static_cast<std::uint8_t>((codes[2 * i] << 4) | codes[2 * i + 1]);
  // second level: absmax - mean, 8-bit blockwise (256) with the dynamic map
  double sum = 0;
  at::Tensor am = at::from_blob(absmax.data(), {blocks}, at::kFloat).clone();
  sum = am.mean().item<double>();  // torch's mean, as bitsandbytes computes it
  q.offset = static_cast<double>(static_cast<float>(sum));
  at::Tensor centred = (am - am.mean()).contiguous();
  q.code2 = dynamic_map_signed();
  q.absmax = at::empty({blocks}, at::kByte);
  q.absmax2 = at::empty({(blocks + 255) / 256}, at::kFloat);
  quantize_blockwise_8bit(centred.data_ptr<float>(), blocks, 256, q.code2.data_ptr<float>(), q.absmax.data_ptr<std::uint8_t>(),
                          q.absmax2.data_ptr<float>());
  return q;
}

at::Tensor nf4_dequantize(const nf4_tensor& q, at::ScalarType dtype) {
  std::int64_t n = 1;
  for (auto d : q.shape) n *= d;
  const auto blocks = q.absmax.numel();
  const float* code2 = q.code2.data_ptr<float>();
  const float* a2 = q.absmax2.data_ptr<float>();
  const std::uint8_t* a = q.absmax.data_ptr<std::uint8_t>();
  std::vector<float> absmax(static_cast<std::size_t>(blocks));
  const float offset = static_cast<float>(q.offset);
  for (std::int64_t b = 0; b < blocks; ++b) absmax[static_cast<std::size_t>(b)] = code2[a[b]] * a2[b / 256] + offset;
  at::Tensor out = at::empty({n}, at::kFloat);
  float* o = out.data_ptr<float>();
  const std::uint8_t* p = q.packed.data_ptr<std::uint8_t>();
  const auto& v = nf4_values();
  for (std::int64_t i = 0; i < n; ++i) {
    const std::uint8_t byte = p[i / 2];
    const int code = (i % 2 == 0) ? (byte >> 4) : (byte & 0xF);
    o[i] = v[static_cast<std::size_t>(code)] * absmax[static_cast<std::size_t>(i / q.blocksize)];
  }
  return out.reshape(q.shape).to(dtype);
}

}  // namespace lmms::nn
#endif  // LMMS_IMPLEMENTATION
