// lmms/media/resize.hpp: image resizing bit-compatible with PIL's Image.resize (Pillow's
// Resample.c) for 8-bit RGB: separable convolution, horizontal pass first, filter support
// scaled by the downscaling factor (antialiasing), coefficients normalized per output pixel
// and rounded to 22-bit fixed point, 8-bit intermediate between the passes. No torch.
#pragma once

#include "lmms/media/image.hpp"
#include "lmms/media/resize_kernels.hpp"

namespace lmms::media {

/// PIL's resampling filters (the values of PIL.Image.Resampling).
enum class resample { nearest = 0, lanczos = 1, bilinear = 2, bicubic = 3 };

/// Image.resize((width, height), filter) with reducing_gap=None, as the HF image processors call it.
rgb_image resize(const rgb_image& in, int width, int height, resample filter);

/// The window [x, x + w) x [y, y + h) of resize(in, width, height, filter), computing only that
/// window (what a center crop keeps): the same bytes as resizing, then cropping.
rgb_image resize_window(const rgb_image& in, int width, int height, resample filter, int x, int y, int w, int h);

/// The source pixels resize_window(in, width, height, filter, x, y, w, h) reads of an
/// in_width x in_height image (for load_image's part decoding): the rest may be anything.
pixel_rect resize_window_source(int in_width, int in_height, int width, int height, resample filter, int x, int y, int w,
                                int h);

/// The same image resized to each of `sizes` (width, height): the same bytes as resize() for
/// each, with the source transposed once for all their horizontal passes (LLaVA-NeXT's anyres
/// resizes every image twice: the base tile and the best resolution).
std::vector<rgb_image> resize_each(const rgb_image& in, const std::vector<std::pair<int, int>>& sizes, resample filter);

}  // namespace lmms::media

#ifdef LMMS_IMPLEMENTATION
#include <algorithm>
#include <cmath>
#include <cstring>

#include "lmms/core/error.hpp"

namespace lmms::media {

namespace {

constexpr int precision_bits = detail::resize_precision_bits;

double filter_value(resample f, double x) {
  switch (f) {
    case resample::bilinear:
      x = std::fabs(x);
      return x < 1.0 ? 1.0 - x : 0.0;
    case resample::bicubic: {
      constexpr double a = -0.5;
      x = std::fabs(x);
      if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
      if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
      return 0.0;
    }
    case resample::lanczos: {
      auto sinc = [](double v) {
        if (v == 0.0) return 1.0;
        v *= M_PI;
        return std::sin(v) / v;
      };
      if (-3.0 <= x && x < 3.0) return sinc(x) * sinc(x / 3.0);
      return 0.0;
    }
    case resample::nearest: break;
  }
  return 0.0;
}

double filter_support(resample f) {
  switch (f) {
    case resample::bilinear: return 1.0;
    case resample::bicubic: return 2.0;
    case resample::lanczos: return 3.0;
    case resample::nearest: return 0.0;
  }
  return 0.0;
}

struct coefficients {
  int ksize = 0;
  std::vector<int> bounds;   // per output: xmin, count
  std::vector<int> weights;  // per output: ksize fixed-point weights
};

// PIL's source range of output xx: [xmin, xmin + count), around its center (xx + 0.5) * scale.
struct tap_range {
  double scale, support;  // in_size / out_size; the filter's support times max(scale, 1)
  tap_range(int in_size, int out_size, resample f)
      : scale(static_cast<double>(in_size) / out_size), support(filter_support(f) * std::max(scale, 1.0)) {}
  std::pair<int, int> of(int xx, int in_size) const {  // (xmin, count)
    const double center = (xx + 0.5) * scale;
    const int xmin = std::max(0, static_cast<int>(center - support + 0.5));
    const int xmax = std::min(in_size, static_cast<int>(center + support + 0.5));
    return {xmin, xmax - xmin};
  }
};

coefficients precompute(int in_size, int out_size, resample f) {
  const tap_range range(in_size, out_size, f);
  const double scale = range.scale, filterscale = std::max(scale, 1.0), support = range.support;
  coefficients c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.bounds.resize(static_cast<std::size_t>(out_size) * 2);
  c.weights.assign(static_cast<std::size_t>(out_size) * c.ksize, 0);
  std::vector<double> k(static_cast<std::size_t>(c.ksize));
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale, ss = 1.0 / filterscale;
    const auto [xmin, xmax] = range.of(xx, in_size);  // (xmax: the count, as Resample.c names it)
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double w = filter_value(f, (x + xmin - center + 0.5) * ss);
      k[static_cast<std::size_t>(x)] = w;
      ww += w;
    }
    for (int x = 0; x < c.ksize; ++x) {
      double w = x < xmax ? (ww != 0.0 ? k[static_cast<std::size_t>(x)] / ww : k[static_cast<std::size_t>(x)]) : 0.0;
      c.weights[static_cast<std::size_t>(xx) * c.ksize + x] =
          static_cast<int>(w < 0 ? -0.5 + w * (1 << precision_bits) : 0.5 + w * (1 << precision_bits));
    }
    c.bounds[static_cast<std::size_t>(xx) * 2] = xmin;
    c.bounds[static_cast<std::size_t>(xx) * 2 + 1] = xmax;
  }
  return c;
}

// The source span [first, last) that outputs [out0, out0 + count) read.
std::pair<int, int> source_span(const coefficients& c, int out0, int count) {
  const std::size_t end = static_cast<std::size_t>(out0 + count - 1);
  return {c.bounds[static_cast<std::size_t>(out0) * 2], c.bounds[end * 2] + c.bounds[end * 2 + 1]};
}
// The same without the weights (for resize_window_source: bounds only, no filter evaluations).
std::pair<int, int> source_span(int in_size, int out_size, resample f, int out0, int count) {
  const tap_range range(in_size, out_size, f);
  const int first = range.of(out0, in_size).first;
  const auto [last_min, n1] = range.of(out0 + count - 1, in_size);
  return {first, last_min + n1};
}

// One output of the horizontal pass: output columns [out_x0, out_x0 + out_width) of a resize
// with coefficients c, into `out` (rows x out_width, sized by horizontal_strips).
struct horizontal_output {
  const coefficients* c;
  int out_x0, out_width;
  rgb_image* out;
};

// Rows [row0, row0 + rows) of `in` resized horizontally into each of `outputs`, 64 source rows
// at a time: the strip's source columns (those any output reads) transposed into a buffer that
// stays in the core's L2 cache, each output column summed from it (a weighted sum of whole
// transposed columns: contiguous, vectorized multiply-adds), the sums transposed back into the
// strip's output rows. Each strip is transposed once for all outputs (LLaVA-NeXT's anyres
// resizes every image to two sizes). Transposing every row first instead wrote and read back a
// buffer of megabytes, through the last-level cache or memory. Integer sums as PIL's.
void horizontal_strips(const rgb_image& in, int row0, int rows, const std::vector<horizontal_output>& outputs) {
  int first = in.width, last = 0, widest = 0;
  for (const auto& o : outputs) {
    const auto [f, l] = source_span(*o.c, o.out_x0, o.out_width);
    first = std::min(first, f);
    last = std::max(last, l);
    widest = std::max(widest, o.out_width);
    o.out->width = o.out_width;
    o.out->height = rows;
    o.out->data.resize(static_cast<std::size_t>(o.out_width) * rows * 3);
  }
  constexpr int strip = 64;  // 192 bytes a source column: three 64-byte vectors of sums
  lmms::buffer<std::uint8_t> t(static_cast<std::size_t>(last - first) * strip * 3);
  lmms::buffer<std::uint8_t> sums(static_cast<std::size_t>(widest) * strip * 3);
  const std::size_t row_bytes = static_cast<std::size_t>(in.width) * 3;
  for (int r0 = 0; r0 < rows; r0 += strip) {
    const int s = std::min(strip, rows - r0);
    const std::size_t column = static_cast<std::size_t>(s) * 3;  // one source column of the strip: s x RGB
    detail::transpose_rgb(in.data.data() + static_cast<std::size_t>(row0 + r0) * row_bytes + static_cast<std::size_t>(first) * 3,
                          row_bytes, t.data(), column, s, last - first);
    for (const auto& o : outputs) {
      const coefficients& c = *o.c;
      for (int j = 0; j < o.out_width; ++j) {
        const std::size_t at = static_cast<std::size_t>(j + o.out_x0);  // the output column in the whole resize
        const int xmin = c.bounds[at * 2], n = c.bounds[at * 2 + 1];
        detail::weighted_sums(t.data() + static_cast<std::size_t>(xmin - first) * column, column, &c.weights[at * c.ksize], n,
                              column, sums.data() + static_cast<std::size_t>(j) * column);
      }
      detail::transpose_rgb(sums.data(), column, o.out->data.data() + static_cast<std::size_t>(r0) * o.out_width * 3,
                            static_cast<std::size_t>(o.out_width) * 3, o.out_width, s);
    }
  }
}

rgb_image horizontal(const rgb_image& in, int row0, int rows, int out_x0, int out_width, const coefficients& c) {
  rgb_image out;
  horizontal_strips(in, row0, rows, {{&c, out_x0, out_width, &out}});
  return out;
}

// Vertical pass: each output row is a weighted sum of whole source rows (contiguous),
// accumulated in int32 as PIL does.
rgb_image vertical(const rgb_image& in, int out_y0, int out_height, const coefficients& c, int row_shift) {
  rgb_image out;
  out.width = in.width;
  out.height = out_height;
  const std::size_t row_values = static_cast<std::size_t>(in.width) * 3;
  out.data.resize(row_values * out_height);
  for (int yy = 0; yy < out_height; ++yy) {
    const std::size_t at = static_cast<std::size_t>(yy + out_y0);  // the output row in the whole resize
    const int ymin = c.bounds[at * 2] - row_shift, n = c.bounds[at * 2 + 1];
    detail::weighted_sums(in.data.data() + static_cast<std::size_t>(ymin) * row_values, row_values, &c.weights[at * c.ksize], n,
                  row_values, out.data.data() + static_cast<std::size_t>(yy) * row_values);
  }
  return out;
}

}  // namespace

rgb_image resize(const rgb_image& in, int width, int height, resample filter) {
  return resize_window(in, width, height, filter, 0, 0, width, height);
}

rgb_image resize_window(const rgb_image& in, int width, int height, resample filter, int wx, int wy, int ww, int wh) {
  if (width <= 0 || height <= 0) fail("cannot resize an image to ", width, "x", height);
  if (wx < 0 || wy < 0 || ww <= 0 || wh <= 0 || wx + ww > width || wy + wh > height)
    fail("the window ", ww, "x", wh, " at (", wx, ", ", wy, ") is not inside the ", width, "x", height, " resize");
  if (in.width <= 0 || in.height <= 0) fail("cannot resize an empty image");
  if (filter == resample::nearest) {  // PIL's nearest: source pixel at floor((x + 0.5) * scale)
    rgb_image out;
    out.width = ww;
    out.height = wh;
    out.data.resize(static_cast<std::size_t>(ww) * wh * 3);
    const double sx = static_cast<double>(in.width) / width, sy = static_cast<double>(in.height) / height;
    for (int y = 0; y < wh; ++y)
      for (int x = 0; x < ww; ++x) {
        const int ix = std::min(in.width - 1, static_cast<int>((x + wx + 0.5) * sx));
        const int iy = std::min(in.height - 1, static_cast<int>((y + wy + 0.5) * sy));
        for (int ch = 0; ch < 3; ++ch) out.data[(static_cast<std::size_t>(y) * ww + x) * 3 + ch] = in.at(ix, iy, ch);
      }
    return out;
  }
  const bool need_h = width != in.width, need_v = height != in.height;
  const bool whole = wx == 0 && wy == 0 && ww == width && wh == height;
  if (!need_h && !need_v && whole) return in;
  coefficients ch = need_h ? precompute(in.width, width, filter) : coefficients{};
  coefficients cv = need_v ? precompute(in.height, height, filter) : coefficients{};
  int row0 = wy, rows = wh;  // the source rows the vertical pass reads (the window's, without one)
  if (need_v) {
    const auto [first, last] = source_span(cv, wy, wh);
    row0 = first;
    rows = last - first;
  }
  rgb_image tmp;
  if (need_h) {
    tmp = horizontal(in, row0, rows, wx, ww, ch);
  } else {  // the window's columns of the source rows, as they are
    tmp.width = ww;
    tmp.height = rows;
    tmp.data.resize(static_cast<std::size_t>(ww) * rows * 3);
    for (int y = 0; y < rows; ++y)
      std::memcpy(&tmp.data[static_cast<std::size_t>(y) * ww * 3],
                  &in.data[(static_cast<std::size_t>(y + row0) * in.width + wx) * 3], static_cast<std::size_t>(ww) * 3);
  }
  if (!need_v) return tmp;
  return vertical(tmp, wy, wh, cv, row0);
}

pixel_rect resize_window_source(int in_width, int in_height, int width, int height, resample filter, int wx, int wy, int ww,
                                int wh) {
  const pixel_rect whole{0, 0, in_width, in_height};
  if (filter == resample::nearest || width <= 0 || height <= 0 || ww <= 0 || wh <= 0 || wx < 0 || wy < 0 ||
      wx + ww > width || wy + wh > height)
    return whole;  // (resize_window refuses the bad windows; nearest is not worth it)
  pixel_rect r{wx, wy, ww, wh};  // an axis without a pass: the window's own columns / rows
  if (width != in_width) {
    const auto [first, last] = source_span(in_width, width, filter, wx, ww);
    r.x = first;
    r.width = last - first;
  }
  if (height != in_height) {
    const auto [first, last] = source_span(in_height, height, filter, wy, wh);
    r.y = first;
    r.height = last - first;
  }
  return r;
}

std::vector<rgb_image> resize_each(const rgb_image& in, const std::vector<std::pair<int, int>>& sizes, resample filter) {
  std::vector<rgb_image> out;
  out.reserve(sizes.size());
  // shared strips when at least two sizes take a horizontal pass
  int horizontal_passes = 0;
  for (const auto& [w, h] : sizes) horizontal_passes += w != in.width;
  if (filter == resample::nearest || horizontal_passes < 2 || in.width <= 0 || in.height <= 0) {
    for (const auto& [w, h] : sizes) out.push_back(resize(in, w, h, filter));
    return out;
  }
  // every horizontal pass over all rows (the vertical pass picks), the strips transposed once for all
  std::vector<coefficients> across_c(sizes.size());
  std::vector<rgb_image> across(sizes.size());
  std::vector<horizontal_output> outputs;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const auto [w, h] = sizes[i];
    if (w == in.width) continue;
    if (w <= 0 || h <= 0) fail("cannot resize an image to ", w, "x", h);
    across_c[i] = precompute(in.width, w, filter);
    outputs.push_back({&across_c[i], 0, w, &across[i]});
  }
  horizontal_strips(in, 0, in.height, outputs);
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const auto [w, h] = sizes[i];
    if (w == in.width) {  // no horizontal pass: as resize() does it
      out.push_back(resize(in, w, h, filter));
    } else if (h == in.height) {
      out.push_back(std::move(across[i]));
    } else {
      const coefficients cv = precompute(in.height, h, filter);
      out.push_back(vertical(across[i], 0, h, cv, 0));
    }
  }
  return out;
}

}  // namespace lmms::media

#endif  // LMMS_IMPLEMENTATION
