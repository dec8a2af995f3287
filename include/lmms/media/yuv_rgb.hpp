// lmms/media/yuv_rgb.hpp: one decoded video frame -> rgb24, byte for byte as PyAV 18's
// frame.to_ndarray("rgb24") (FFmpeg 8's swscale, SWS_BILINEAR, same size), with the FFmpeg 5.1
// libswscale Debian 12 ships.
//
// The two FFmpeg versions agree on 4:2:0 frames of even height (the unscaled yuv -> rgb
// converter) and disagree on odd heights, where both take the general scaler: FFmpeg 5.1 gives
// each output row the nearer chroma row or the plain average of two, FFmpeg 8 interpolates the
// two chroma rows with swscale's bilinear weights. lmms reproduces FFmpeg 8 there:
//   - even width: the chroma rows are interpolated here as FFmpeg 8 does (12-bit weights from
//     swscale's initFilter, rounded), then FFmpeg 5.1 converts the resulting 4:2:2 frame,
//     whose chroma needs no vertical filtering (same tables, same code as FFmpeg 8's);
//   - odd width: swscale forces full horizontal chroma; the whole path (horizontal chroma
//     filter to 15 bits, vertical 2-tap, the "full" yuv -> rgb arithmetic) is computed here.
// Both were checked against PyAV on random planes of many sizes, four colour matrices and both
// ranges (tests/reference/families/videos.py, tests/unit/media/yuv_rgb_test.cpp).
//
// The frame's colour matrix (BT.601 / 709 / 2020...) and range (limited / full) are used as
// FFmpeg 8 uses them; untagged frames are BT.601 limited range, as in every FFmpeg.
#pragma once

#include <filesystem>

#include "lmms/media/image.hpp"

struct AVFrame;
struct SwsContext;

namespace lmms::media {

/// `frame` (any pixel format swscale reads) as rgb24. `sws` is a context cached between calls
/// (nullptr at first; the caller frees it with sws_freeContext). `file` names errors.
rgb_image frame_to_rgb(const AVFrame* frame, SwsContext*& sws, const std::filesystem::path& file);

}  // namespace lmms::media

#ifdef LMMS_IMPLEMENTATION
extern "C" {
#include <libavutil/frame.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "lmms/core/error.hpp"

namespace lmms::media {

namespace {

// swscale's initFilter for SWS_BILINEAR sizing `src` samples up to `dst` (dst >= src), both
// positioned at sample centres: for each output sample the first input index and `size`
// integer weights summing to `one`. Ported step by step (taps, shift-out of zero taps,
// alignment, border folding, error-diffused normalisation) because the exact weights decide
// the rounding of every pixel.
struct swscale_filter {
  int size = 1;
  std::vector<int> pos;
  std::vector<std::int64_t> weight;  // pos.size() * size
};

swscale_filter swscale_bilinear(int src, int dst, int one, int align) {
  swscale_filter f;
  const std::int64_t inc = ((static_cast<std::int64_t>(src) << 16) + (dst >> 1)) / dst;
  if (std::llabs(inc - 0x10000) < 10) {  // same size: identity
    for (int i = 0; i < dst; ++i) f.pos.push_back(i), f.weight.push_back(one);
    return f;
  }
  int size = inc <= (1 << 16) ? 3 : 1 + (2 * src + dst - 1) / dst;
  size = std::max(std::min(size, src - 2), 1);
  const std::int64_t fone = std::int64_t{1} << 54;  // src / dst == 0: no down-scaling here
  std::vector<int> pos(dst);
  std::vector<std::int64_t> taps(static_cast<std::size_t>(dst) * size);
  std::int64_t centre = ((128 * inc) >> 7) - ((128 * std::int64_t{0x10000}) >> 7);  // in 1/2^17 input samples
  for (int i = 0; i < dst; ++i) {
    int xx = static_cast<int>((centre - (size - 2) * (std::int64_t{1} << 16)) / (1 << 17));  // C truncation
    pos[i] = xx;
    for (int j = 0; j < size; ++j, ++xx) {
      std::int64_t d = std::llabs(static_cast<std::int64_t>(xx) * (1 << 17) - centre) << 13;
      if (inc > 1 << 16) d = d * dst / src;
      const std::int64_t c = std::max<std::int64_t>((std::int64_t{1} << 30) - d, 0);
      taps[static_cast<std::size_t>(i) * size + j] = c * (fone >> 30);
    }
    centre += 2 * inc;
  }
  // drop near-zero taps: shift them out on the left, count them on the right
  int min_size = 0;
  for (int i = dst - 1; i >= 0; --i) {
    std::int64_t* t = &taps[static_cast<std::size_t>(i) * size];
    int keep = size;
    std::int64_t cut = 0;
    for (int j = 0; j < size; ++j) {
      cut += std::llabs(t[0]);
      if (static_cast<double>(cut) > 0.002 * static_cast<double>(fone)) break;
      if (i < dst - 1 && pos[i] >= pos[i + 1]) break;
      for (int k = 1; k < size; ++k) t[k - 1] = t[k];
      t[size - 1] = 0;
      ++pos[i];
    }
    cut = 0;
    for (int j = size - 1; j > 0; --j) {
      cut += std::llabs(t[j]);
      if (static_cast<double>(cut) > 0.002 * static_cast<double>(fone)) break;
      --keep;
    }
    min_size = std::max(min_size, keep);
  }
  f.size = (min_size + align - 1) & ~(align - 1);
  f.pos = pos;
  f.weight.assign(static_cast<std::size_t>(dst) * f.size, 0);
  for (int i = 0; i < dst; ++i)
    for (int j = 0; j < std::min(size, f.size); ++j)
      f.weight[static_cast<std::size_t>(i) * f.size + j] = taps[static_cast<std::size_t>(i) * size + j];
  // fold taps outside the input onto its first / last sample
  for (int i = 0; i < dst; ++i) {
    std::int64_t* w = &f.weight[static_cast<std::size_t>(i) * f.size];
    int& p = f.pos[i];
    if (p < 0) {
      for (int j = 1; j < f.size; ++j) {
        const int left = std::max(j + p, 0);
        w[left] += w[j];
        w[j] = 0;
      }
      p = 0;
    }
    if (p + f.size > src) {
      const int shift = p + std::min(f.size - src, 0);
      std::int64_t acc = 0;
      for (int j = f.size - 1; j >= 0; --j)
        if (p + j >= src) acc += w[j], w[j] = 0;
      for (int j = f.size - 1; j >= 0; --j) w[j] = j < shift ? 0 : w[j - shift];
      p -= shift;
      w[src - 1 - p] += acc;
    }
  }
  // normalise to `one`, carrying each weight's rounding error into the next
  for (int i = 0; i < dst; ++i) {
    std::int64_t* w = &f.weight[static_cast<std::size_t>(i) * f.size];
    std::int64_t sum = 0, error = 0;
    for (int j = 0; j < f.size; ++j) sum += w[j];
    sum = std::max<std::int64_t>((sum + one / 2) / one, 1);
    for (int j = 0; j < f.size; ++j) {
      const std::int64_t v = w[j] + error;
      const std::int64_t rounded = v >= 0 ? (v + sum / 2) / sum : (v - sum / 2) / sum;
      w[j] = rounded;
      error = v - rounded * sum;
    }
  }
  return f;
}

bool full_range(const AVFrame* f) {
  return f->color_range == AVCOL_RANGE_JPEG || f->format == AV_PIX_FMT_YUVJ420P || f->format == AV_PIX_FMT_YUVJ422P ||
         f->format == AV_PIX_FMT_YUVJ444P;
}

// swscale's integer yuv -> rgb coefficients for the "full chroma" output (ff_yuv2rgb_c_init_tables)
struct full_chroma_coefficients {
  std::int64_t y_offset, y_coeff, v2r, v2g, u2g, u2b;
};

full_chroma_coefficients coefficients_for(const AVFrame* f) {
  const int* inv = sws_getCoefficients(f->colorspace);
  std::int64_t crv = inv[0], cbu = inv[1], cgu = -inv[2], cgv = -inv[3], cy = 1 << 16, oy = 0;
  if (!full_range(f)) {
    cy = cy * 255 / 219;
    oy = 16 << 16;
  } else {
    crv = crv * 224 / 255, cbu = cbu * 224 / 255, cgu = cgu * 224 / 255, cgv = cgv * 224 / 255;
  }
  auto round16 = [](std::int64_t x) -> std::int64_t {
    return std::clamp<std::int64_t>((x + (1 << 15)) >> 16, -0x8000, 0x7FFF);
  };
  return {round16(oy * (1 << 9)), round16(cy * (1 << 13)), round16(crv * (1 << 13)),
          round16(cgv * (1 << 13)), round16(cgu * (1 << 13)), round16(cbu * (1 << 13))};
}

std::vector<std::uint8_t> plane_rows(const AVFrame* f, int p, int w, int h) {
  std::vector<std::uint8_t> out(static_cast<std::size_t>(w) * h);
  for (int y = 0; y < h; ++y)
    std::memcpy(&out[static_cast<std::size_t>(y) * w], f->data[p] + static_cast<std::ptrdiff_t>(y) * f->linesize[p],
                static_cast<std::size_t>(w));
  return out;
}

// 4:2:0, odd width and odd height: FFmpeg 8's general scaler with full horizontal chroma
rgb_image odd_size_420_to_rgb(const AVFrame* f) {
  const int w = f->width, h = f->height, cw = (w + 1) / 2, ch = (h + 1) / 2;
  const swscale_filter across = swscale_bilinear(cw, w, 1 << 14, 4), down = swscale_bilinear(ch, h, 1 << 12, 2);
  const full_chroma_coefficients k = coefficients_for(f);
  // chroma rows widened to w samples of 15 bits (hScale8To15)
  std::vector<std::int32_t> wide[2];
  for (int c = 0; c < 2; ++c) {
    const std::vector<std::uint8_t> plane = plane_rows(f, c + 1, cw, ch);
    wide[c].resize(static_cast<std::size_t>(w) * ch);
    for (int y = 0; y < ch; ++y)
      for (int x = 0; x < w; ++x) {
        const std::uint8_t* s = &plane[static_cast<std::size_t>(y) * cw + across.pos[x]];
        const std::int64_t* wt = &across.weight[static_cast<std::size_t>(x) * across.size];
        std::int64_t acc = 0;
        for (int j = 0; j < across.size; ++j)
          if (wt[j]) acc += s[j] * wt[j];
        wide[c][static_cast<std::size_t>(y) * w + x] = static_cast<std::int32_t>(std::min<std::int64_t>(acc >> 7, (1 << 15) - 1));
      }
  }
  rgb_image out;
  out.width = w;
  out.height = h;
  out.data.resize(static_cast<std::size_t>(w) * h * 3);
  auto clip30 = [](std::int64_t v) {  // swscale adds as unsigned 32-bit, then clips to 30 bits
    const auto wrapped = static_cast<std::int32_t>(static_cast<std::uint32_t>(v));
    return static_cast<std::uint8_t>(std::clamp<std::int32_t>(wrapped, 0, (1 << 30) - 1) >> 22);
  };
  for (int y = 0; y < h; ++y) {
    const std::uint8_t* luma = f->data[0] + static_cast<std::ptrdiff_t>(y) * f->linesize[0];
    const std::int64_t* wt = &down.weight[static_cast<std::size_t>(y) * down.size];
    std::uint8_t* o = &out.data[static_cast<std::size_t>(y) * w * 3];
    for (int x = 0; x < w; ++x) {
      std::int64_t u = -(std::int64_t{128} << 19), v = u;
      for (int j = 0; j < down.size; ++j) {
        const std::size_t at = static_cast<std::size_t>(down.pos[y] + j) * w + x;
        if (wt[j]) u += wide[0][at] * wt[j], v += wide[1][at] * wt[j];
      }
      u >>= 10, v >>= 10;
      const std::int64_t Y = (std::int64_t{luma[x]} * 512 - k.y_offset) * k.y_coeff + (1 << 21);
      o[3 * x + 0] = clip30(Y + v * k.v2r);
      o[3 * x + 1] = clip30(Y + v * k.v2g + u * k.u2g);
      o[3 * x + 2] = clip30(Y + u * k.u2b);
    }
  }
  return out;
}

// 4:2:0, even width and odd height: the chroma rows interpolated to h rows as FFmpeg 8 does,
// written into `u` and `v` (planes of stride `stride`), for a 4:2:2 conversion by swscale.
void interpolate_chroma_rows(const AVFrame* f, int stride, std::vector<std::uint8_t>& u, std::vector<std::uint8_t>& v) {
  const int w = f->width, h = f->height, cw = (w + 1) / 2, ch = (h + 1) / 2;
  const swscale_filter down = swscale_bilinear(ch, h, 1 << 12, 2);
  for (int c = 0; c < 2; ++c) {
    std::vector<std::uint8_t>& plane = c == 0 ? u : v;
    plane.assign(static_cast<std::size_t>(stride) * h, 0);
    for (int y = 0; y < h; ++y) {
      const std::int64_t* wt = &down.weight[static_cast<std::size_t>(y) * down.size];
      std::uint8_t* o = &plane[static_cast<std::size_t>(y) * stride];
      for (int x = 0; x < cw; ++x) {
        std::int64_t acc = 1 << 18;
        for (int j = 0; j < down.size; ++j)
          if (wt[j]) acc += std::int64_t{f->data[c + 1][static_cast<std::ptrdiff_t>(down.pos[y] + j) * f->linesize[c + 1] + x]} * 128 * wt[j];
        o[x] = static_cast<std::uint8_t>(std::clamp<std::int64_t>(acc >> 19, 0, 255));
      }
      std::memset(o + cw, o[cw - 1], static_cast<std::size_t>(stride - cw));
    }
  }
}

}  // namespace

// Planes are copied into a width padded to 32 (edge replicated): FFmpeg 5.1's SIMD yuv420p
// converter leaves the last (width % 16) columns unwritten, and with one chroma sample per two
// pixels the padding never changes a real pixel.
rgb_image frame_to_rgb(const AVFrame* f, SwsContext*& sws, const std::filesystem::path& file) {
  const int w = f->width, h = f->height, padded = (w + 31) & ~31;
  auto format = static_cast<AVPixelFormat>(f->format);
  const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(format);
  if (!d) fail("video ", file.string(), ": unknown pixel format ", f->format);
  const bool is_420 = format == AV_PIX_FMT_YUV420P || format == AV_PIX_FMT_YUVJ420P;
  if (is_420 && (h & 1) && (w & 1)) return odd_size_420_to_rgb(f);
  const int planes = av_pix_fmt_count_planes(format);
  std::vector<std::uint8_t> copy[4];
  const std::uint8_t* src[4] = {nullptr, nullptr, nullptr, nullptr};
  int src_stride[4] = {0, 0, 0, 0};
  const bool planar_8bit = (d->flags & AV_PIX_FMT_FLAG_PLANAR) && d->comp[0].depth == 8 && !(d->flags & AV_PIX_FMT_FLAG_RGB);
  const bool rows_interpolated = is_420 && (h & 1);
  if (rows_interpolated) {
    interpolate_chroma_rows(f, padded / 2, copy[1], copy[2]);
    format = AV_PIX_FMT_YUV422P;
    src[1] = copy[1].data(), src[2] = copy[2].data();
    src_stride[1] = src_stride[2] = padded / 2;
  }
  for (int p = 0; p < planes; ++p) {
    if (!planar_8bit) {  // packed or high-bit-depth formats: as they are
      src[p] = f->data[p];
      src_stride[p] = f->linesize[p];
      continue;
    }
    const bool chroma = p == 1 || p == 2;
    if (chroma && rows_interpolated) continue;
    const int pw = chroma ? -((-w) >> d->log2_chroma_w) : w, ph = chroma ? -((-h) >> d->log2_chroma_h) : h;
    const int stride = chroma ? padded >> d->log2_chroma_w : padded;
    copy[p].resize(static_cast<std::size_t>(stride) * ph);
    for (int y = 0; y < ph; ++y) {
      std::uint8_t* row = &copy[p][static_cast<std::size_t>(y) * stride];
      std::memcpy(row, f->data[p] + static_cast<std::ptrdiff_t>(y) * f->linesize[p], static_cast<std::size_t>(pw));
      std::memset(row + pw, row[pw - 1], static_cast<std::size_t>(stride - pw));
    }
    src[p] = copy[p].data();
    src_stride[p] = stride;
  }
  const int cw = planar_8bit ? padded : w;
  // FFmpeg's deprecated full-range "J" formats: the plain format, full range set below
  if (format == AV_PIX_FMT_YUVJ420P) format = AV_PIX_FMT_YUV420P;
  if (format == AV_PIX_FMT_YUVJ422P) format = AV_PIX_FMT_YUV422P;
  if (format == AV_PIX_FMT_YUVJ444P) format = AV_PIX_FMT_YUV444P;
  sws = sws_getCachedContext(sws, cw, h, format, cw, h, AV_PIX_FMT_RGB24, SWS_BILINEAR, nullptr, nullptr, nullptr);
  if (!sws) fail("video ", file.string(), ": cannot convert pixel format ", d->name, " to RGB");
  // the frame's colour matrix and range, as FFmpeg 8 takes them from the frame; the rgb side
  // as swscale set it up
  int *in_table = nullptr, *out_table = nullptr, in_range = 0, out_range = 0, brightness = 0, contrast = 0, saturation = 0;
  sws_getColorspaceDetails(sws, &in_table, &in_range, &out_table, &out_range, &brightness, &contrast, &saturation);
  sws_setColorspaceDetails(sws, sws_getCoefficients(f->colorspace), full_range(f) ? 1 : 0, out_table, out_range, 0,
                           1 << 16, 1 << 16);
  std::vector<std::uint8_t> rgb(static_cast<std::size_t>(cw) * h * 3);
  std::uint8_t* dst[4] = {rgb.data(), nullptr, nullptr, nullptr};
  int dst_stride[4] = {cw * 3, 0, 0, 0};
  sws_scale(sws, src, src_stride, 0, h, dst, dst_stride);
  rgb_image out;
  out.width = w;
  out.height = h;
  out.data.resize(static_cast<std::size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y)
    std::memcpy(&out.data[static_cast<std::size_t>(y) * w * 3], &rgb[static_cast<std::size_t>(y) * cw * 3],
                static_cast<std::size_t>(w) * 3);
  return out;
}

}  // namespace lmms::media
#endif  // LMMS_IMPLEMENTATION
