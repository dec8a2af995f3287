// lmms/media/yuv_rgb.hpp: one decoded video frame -> rgb24, byte for byte as PyAV 18's
// frame.to_ndarray("rgb24") (FFmpeg 8's swscale, SWS_BILINEAR, same size), with the FFmpeg 5.1
// libswscale Debian 12 ships.
//
// The two FFmpeg versions agree on 8-bit 4:2:0 frames of even height (the unscaled yuv -> rgb
// converter) and on 4:2:2 / 4:4:4 frames, and disagree on the 4:2:0 frames both send through the
// general scaler (8-bit of odd height, and all of 9-16 bits: 10-bit HEVC / H.264 phone clips):
// FFmpeg 5.1 gives each output row the nearer chroma row or the plain average of two, FFmpeg 8
// interpolates the two with swscale's bilinear weights. lmms reproduces FFmpeg 8 there:
//   - even width: FFmpeg 8's 8-bit chroma per output row is computed here (planes read to 15
//     bits, chroma filtered across with the frame's siting, 12-bit row weights from a port of
//     swscale's initFilter, rounded as FFmpeg 8), and carried in a 16-bit 4:2:2 frame that
//     FFmpeg 5.1 converts without filtering, with the same output stage;
//   - odd width: swscale forces full horizontal chroma; the whole path (horizontal chroma
//     filter to 15 bits, vertical 2-tap, the "full" yuv -> rgb arithmetic) is computed here.
// The general scaler also uses the frame's chroma siting (H.264 / HEVC decode as "left": chroma
// filtered across by a quarter sample), as FFmpeg 8 takes it from the frame; lmms does too, and
// passes it to FFmpeg 5.1 for the formats it converts itself (10-bit 4:2:2, ...).
// Checked against PyAV on clips of each kind and on random 8- and 10-bit planes of many sizes,
// four colour matrices and both ranges (tests/reference/families/videos.py,
// tests/unit/media/video_reference_test.cpp).
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
#include <libavutil/opt.h>
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

// src_pos / dst_pos: the chroma sample positions in swscale's local units (get_local_pos; 128:
// centred, the default).
swscale_filter swscale_bilinear(int src, int dst, int one, int align, int src_pos = 128, int dst_pos = 128) {
  swscale_filter f;
  const std::int64_t inc = ((static_cast<std::int64_t>(src) << 16) + (dst >> 1)) / dst;
  if (std::llabs(inc - 0x10000) < 10 && src_pos == dst_pos) {  // same size and siting: identity
    for (int i = 0; i < dst; ++i) f.pos.push_back(i), f.weight.push_back(one);
    return f;
  }
  int size = inc <= (1 << 16) ? 3 : 1 + (2 * src + dst - 1) / dst;
  size = std::max(std::min(size, src - 2), 1);
  const std::int64_t fone = std::int64_t{1} << 54;  // src / dst == 0: no down-scaling here
  std::vector<int> pos(dst);
  std::vector<std::int64_t> taps(static_cast<std::size_t>(dst) * size);
  std::int64_t centre = ((dst_pos * inc) >> 7) - ((src_pos * std::int64_t{0x10000}) >> 7);  // in 1/2^17 input samples
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

// The frame's chroma siting as FFmpeg 8's swscale graph takes it (get_chroma_pos): unspecified
// is centred; horizontal and vertical positions in 1/256 of a chroma sample distance, for a
// subsampled direction (-513, swscale's "default", otherwise).
std::pair<int, int> chroma_positions(const AVFrame* f, const AVPixFmtDescriptor* d) {
  int x = 128, y = 128;  // centre (AVCHROMA_LOC_CENTER, and unspecified)
  switch (f->chroma_location) {
    case AVCHROMA_LOC_LEFT: x = 0, y = 128; break;
    case AVCHROMA_LOC_TOPLEFT: x = 0, y = 0; break;
    case AVCHROMA_LOC_TOP: x = 128, y = 0; break;
    case AVCHROMA_LOC_BOTTOMLEFT: x = 0, y = 256; break;
    case AVCHROMA_LOC_BOTTOM: x = 128, y = 256; break;
    default: break;
  }
  x *= (1 << d->log2_chroma_w) - 1;
  y *= (1 << d->log2_chroma_h) - 1;
  return {d->log2_chroma_w ? x : -513, d->log2_chroma_h ? y : -513};
}

// swscale's get_local_pos: a position for a plane subsampled by 2^sub, in that plane's units
int local_position(int sub, int pos) {
  if (pos == -1 || pos <= -513) pos = (128 << sub) - 128;
  return (pos + 128) >> sub;
}

// Sample (x, y) of plane p: a byte, or a native-endian 16-bit word for 9-16 bit formats
std::int64_t sample_at(const AVFrame* f, int p, int x, int y, int depth) {
  const std::uint8_t* row = f->data[p] + static_cast<std::ptrdiff_t>(y) * f->linesize[p];
  if (depth == 8) return row[x];
  std::uint16_t v = 0;
  std::memcpy(&v, row + 2 * x, 2);
  return v;
}

// 4:2:0 through FFmpeg 8's general scaler with full horizontal chroma (what it does for odd
// widths): 8-bit frames of odd width and height, 9-16 bit frames of odd width. Planes read to 15 bits (hScale8To15 /
// hScale16To15), chroma widened to w samples with the frame's siting, two chroma rows
// interpolated with 12-bit weights, the "full" integer yuv -> rgb (yuv2rgb_full_2).
rgb_image full_chroma_420_to_rgb(const AVFrame* f, const AVPixFmtDescriptor* d) {
  const int w = f->width, h = f->height, cw = (w + 1) / 2, ch = (h + 1) / 2;
  const int depth = d->comp[0].depth, shift = depth > 8 ? depth - 1 : 7;
  const auto [h_pos, v_pos] = chroma_positions(f, d);
  const swscale_filter across = swscale_bilinear(cw, w, 1 << 14, 4, local_position(1, h_pos), local_position(0, -513));
  const swscale_filter down = swscale_bilinear(ch, h, 1 << 12, 2, local_position(1, v_pos), local_position(0, -513));
  const full_chroma_coefficients k = coefficients_for(f);
  auto sample = [f, depth](int p, int x, int y) { return sample_at(f, p, x, y, depth); };
  // chroma rows widened to w samples of 15 bits
  std::vector<std::int32_t> wide[2];
  for (int c = 0; c < 2; ++c) {
    wide[c].resize(static_cast<std::size_t>(w) * ch);
    for (int y = 0; y < ch; ++y)
      for (int x = 0; x < w; ++x) {
        const std::int64_t* wt = &across.weight[static_cast<std::size_t>(x) * across.size];
        std::int64_t acc = 0;
        for (int j = 0; j < across.size; ++j)
          if (wt[j]) acc += sample(c + 1, across.pos[x] + j, y) * wt[j];
        wide[c][static_cast<std::size_t>(y) * w + x] = static_cast<std::int32_t>(std::min<std::int64_t>(acc >> shift, (1 << 15) - 1));
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
    const std::int64_t* wt = &down.weight[static_cast<std::size_t>(y) * down.size];
    std::uint8_t* o = &out.data[static_cast<std::size_t>(y) * w * 3];
    for (int x = 0; x < w; ++x) {
      std::int64_t u = -(std::int64_t{128} << 19), v = u;
      for (int j = 0; j < down.size; ++j) {
        const std::size_t at = static_cast<std::size_t>(down.pos[y] + j) * w + x;
        if (wt[j]) u += wide[0][at] * wt[j], v += wide[1][at] * wt[j];
      }
      u >>= 10, v >>= 10;
      const std::int64_t luma15 = std::min<std::int64_t>((sample(0, x, y) << 14) >> (depth > 8 ? shift : 7), (1 << 15) - 1);
      const std::int64_t Y = (luma15 * 4 - k.y_offset) * k.y_coeff + (1 << 21);
      o[3 * x + 0] = clip30(Y + v * k.v2r);
      o[3 * x + 1] = clip30(Y + v * k.v2g + u * k.u2g);
      o[3 * x + 2] = clip30(Y + u * k.u2b);
    }
  }
  return out;
}

// A bilinear rgb24 context for these source settings: `sws` when it has them, else a new one
// (the old one freed). Chroma positions go through AVOptions (sws_getCachedContext takes none).
SwsContext* cached_context(SwsContext* sws, int w, int h, AVPixelFormat format, int h_pos, int v_pos) {
  if (sws) {
    std::int64_t v[5] = {0, 0, 0, 0, 0};
    const char* names[5] = {"srcw", "srch", "src_format", "src_h_chr_pos", "src_v_chr_pos"};
    for (int i = 0; i < 5; ++i) av_opt_get_int(sws, names[i], 0, &v[i]);
    if (v[0] == w && v[1] == h && v[2] == format && v[3] == h_pos && v[4] == v_pos) return sws;
    sws_freeContext(sws);
  }
  sws = sws_alloc_context();
  if (!sws) return nullptr;
  av_opt_set_int(sws, "srcw", w, 0);
  av_opt_set_int(sws, "srch", h, 0);
  av_opt_set_int(sws, "src_format", format, 0);
  av_opt_set_int(sws, "dstw", w, 0);
  av_opt_set_int(sws, "dsth", h, 0);
  av_opt_set_int(sws, "dst_format", AV_PIX_FMT_RGB24, 0);
  av_opt_set_int(sws, "sws_flags", SWS_BILINEAR, 0);
  av_opt_set_int(sws, "src_h_chr_pos", h_pos, 0);
  av_opt_set_int(sws, "src_v_chr_pos", v_pos, 0);
  if (sws_init_context(sws, nullptr, nullptr) < 0) {
    sws_freeContext(sws);
    return nullptr;
  }
  return sws;
}

// 4:2:0 frames FFmpeg takes through its general scaler (8-bit ones of odd height, all of 9 to
// 16 bits), even width, as FFmpeg 8 converts them: it reads the planes to 15 bits, filters
// chroma across with the frame's siting, and makes
// each output row's 8-bit chroma from the two nearest chroma rows with 12-bit weights,
// (c0 * w0 + c1 * w1 + 2^18) >> 19 (FFmpeg 5.1 takes the nearer row or the plain average).
// Here those 8-bit chroma values are computed, and written into a 16-bit 4:2:2 frame as
// value << 8 (luma scaled up to 16 bits), which FFmpeg 5.1 converts with no filtering (centred
// siting, no vertical filter) and the same output stage: the same bytes as FFmpeg 8.
// Planes: tightly packed, little-endian.
void scaled_420_to_422_16(const AVFrame* f, const AVPixFmtDescriptor* d, std::vector<std::uint8_t> planes[3]) {
  const int w = f->width, h = f->height, cw = w / 2, ch = (h + 1) / 2, depth = d->comp[0].depth;
  // hScale8To15 / hScale16To15: (sample * 14-bit filter) >> shift is 15 bits
  const int shift = depth > 8 ? depth - 1 : 7;
  auto sample = [f, depth](int p, int x, int y) { return sample_at(f, p, x, y, depth); };
  auto put = [](std::vector<std::uint8_t>& plane, std::size_t at, std::int64_t v) {
    const auto u = static_cast<std::uint16_t>(std::clamp<std::int64_t>(v, 0, 65535));
    std::memcpy(&plane[at * 2], &u, 2);
  };
  planes[0].assign(static_cast<std::size_t>(w) * h * 2, 0);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) put(planes[0], static_cast<std::size_t>(y) * w + x, sample(0, x, y) << (16 - depth));
  const auto [h_pos, v_pos] = chroma_positions(f, d);
  const swscale_filter across = swscale_bilinear(cw, cw, 1 << 14, 4, local_position(1, h_pos), local_position(1, -513));
  const swscale_filter down = swscale_bilinear(ch, h, 1 << 12, 2, local_position(1, v_pos), local_position(0, -513));
  std::vector<std::int64_t> rows(static_cast<std::size_t>(cw) * ch);  // chroma at 15 bits, filtered across
  for (int c = 0; c < 2; ++c) {
    for (int y = 0; y < ch; ++y)
      for (int x = 0; x < cw; ++x) {
        std::int64_t v = 0;
        for (int j = 0; j < across.size; ++j)
          if (const std::int64_t wt = across.weight[static_cast<std::size_t>(x) * across.size + j])
            v += sample(c + 1, across.pos[x] + j, y) * wt;
        rows[static_cast<std::size_t>(y) * cw + x] = std::min<std::int64_t>(v >> shift, (1 << 15) - 1);
      }
    planes[c + 1].assign(static_cast<std::size_t>(cw) * h * 2, 0);
    for (int y = 0; y < h; ++y) {
      const std::int64_t* wt = &down.weight[static_cast<std::size_t>(y) * down.size];
      for (int x = 0; x < cw; ++x) {
        std::int64_t acc = 1 << 18;
        for (int j = 0; j < down.size; ++j)
          if (wt[j]) acc += rows[static_cast<std::size_t>(down.pos[y] + j) * cw + x] * wt[j];
        const std::int64_t value = acc >> 19;  // 0..256; FFmpeg 5.1 reads 65535 as 32767 / 128 -> 256 too
        put(planes[c + 1], static_cast<std::size_t>(y) * cw + x, value >= 256 ? 65535 : value << 8);
      }
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
  const bool planar_yuv = (d->flags & AV_PIX_FMT_FLAG_PLANAR) && !(d->flags & AV_PIX_FMT_FLAG_RGB) && d->nb_components >= 3;
  const bool planar_8bit = planar_yuv && d->comp[0].depth == 8;
  // 9-16 bit 4:2:0, little-endian (the formats decoders give)
  const bool high_depth_420 = planar_yuv && d->comp[0].depth > 8 && d->log2_chroma_w == 1 && d->log2_chroma_h == 1 &&
                              !(d->flags & AV_PIX_FMT_FLAG_BE);
  // odd widths: swscale forces full horizontal chroma; computed here (8-bit: odd heights only)
  if ((is_420 && (h & 1) && (w & 1)) || (high_depth_420 && (w & 1))) return full_chroma_420_to_rgb(f, d);
  const int planes = av_pix_fmt_count_planes(format);
  std::vector<std::uint8_t> copy[4];
  const std::uint8_t* src[4] = {nullptr, nullptr, nullptr, nullptr};
  int src_stride[4] = {0, 0, 0, 0};
  // the 4:2:0 frames FFmpeg sends through its general scaler (the others: its unscaled converter)
  const bool scaled_420 = high_depth_420 || (is_420 && (h & 1));
  if (scaled_420) {
    scaled_420_to_422_16(f, d, copy);
    format = AV_PIX_FMT_YUV422P16LE;
    for (int p = 0; p < 3; ++p) src[p] = copy[p].data(), src_stride[p] = p ? (w + 1) / 2 * 2 : w * 2;
  }
  for (int p = 0; p < planes && !scaled_420; ++p) {
    if (!planar_8bit) {  // packed or high-bit-depth formats: as they are
      src[p] = f->data[p];
      src_stride[p] = f->linesize[p];
      continue;
    }
    const bool chroma = p == 1 || p == 2;
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
  const int cw = planar_8bit && !scaled_420 ? padded : w;
  // FFmpeg's deprecated full-range "J" formats: the plain format, full range set below
  if (format == AV_PIX_FMT_YUVJ420P) format = AV_PIX_FMT_YUV420P;
  if (format == AV_PIX_FMT_YUVJ422P) format = AV_PIX_FMT_YUV422P;
  if (format == AV_PIX_FMT_YUVJ444P) format = AV_PIX_FMT_YUV444P;
  // the frame's chroma siting, as FFmpeg 8 passes it to its scaler (8-bit frames and the ones
  // prepared above go through converters that do not filter chroma: siting does not apply)
  auto [h_pos, v_pos] = chroma_positions(f, d);
  if (planar_8bit || scaled_420) h_pos = v_pos = -513;  // (scaled_420: filtered above)
  sws = cached_context(sws, cw, h, format, h_pos, v_pos);
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
