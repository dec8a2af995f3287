// lmms/media/video.hpp: video files -> sampled RGB frames with FFmpeg (libavformat,
// libavcodec, libswscale), as lmms-finetune reads them with PyAV:
//
//   total   = the stream's frame count from the container (mp4, avi); when the container has
//             none (webm, mkv) lmms counts the stream's packets instead of failing
//   indices = numpy.arange(0, total, total / num_frames).astype(int)
//   frames  = decoded in order from the first, each kept frame converted to rgb24 as PyAV's
//             frame.to_ndarray("rgb24") does (swscale, SWS_BILINEAR)
//
// Unlike lmms-finetune, a video with fewer frames than num_frames still gives num_frames
// frames (the sampled indices repeat), so every video of a batch has the same count. A file
// that cannot be opened or decoded, has no video stream or no frames is an lmms::error naming
// it. Pixels are bit-identical to PyAV for yuv420p streams of any size and colour tags (H.264,
// VP9, MPEG-4; tested; lmms/media/yuv_rgb.hpp says how).
//
//   media::video_info info = media::probe_video("clip.mp4");        // size and frame count, no decoding
//   media::sampled_video v = media::load_video("clip.mp4", 8);        // 8 frames, v.indices
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "lmms/media/image.hpp"
#include "lmms/media/yuv_rgb.hpp"

namespace lmms::media {

struct video_info {
  int width = 0, height = 0;
  std::int64_t frames = 0;     // the container's count, or the packets counted when it has none
  bool counted = false;        // true: the container had no frame count
  double fps = 0;              // average frame rate (0 when unknown)
};

struct sampled_video {
  std::vector<rgb_image> frames;       // one per index, in order
  std::vector<std::int64_t> indices;   // which frames of the stream
  video_info info;
};

/// The video stream's size and frame count, from the container (no decoding).
video_info probe_video(const std::filesystem::path& file);
/// lmms-finetune's uniform sampling: arange(0, total, total / n) truncated to integers, as numpy
/// computes it; shorter videos repeat indices so that there are always n.
std::vector<std::int64_t> sample_frame_indices(std::int64_t total, int n);
/// Decodes the sampled frames of `file` (see above).
sampled_video load_video(const std::filesystem::path& file, int num_frames);

}  // namespace lmms::media

#ifdef LMMS_IMPLEMENTATION
extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
}

#include <cmath>
#include <cstring>
#include <memory>

#include "lmms/core/error.hpp"

namespace lmms::media {

namespace {

std::string av_message(int code) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(code, text, sizeof(text));
  return text;
}

// One open file: the demuxer, its best video stream and a decoder for it.
struct video_file {
  std::filesystem::path path;
  AVFormatContext* format = nullptr;
  AVCodecContext* decoder = nullptr;
  int stream = -1;

  explicit video_file(const std::filesystem::path& file, bool open_decoder) : path(file) {
    if (!std::filesystem::exists(file)) fail("video ", file.string(), " does not exist");
    if (int rc = avformat_open_input(&format, file.c_str(), nullptr, nullptr); rc < 0)
      fail("cannot open video ", file.string(), ": ", av_message(rc), " (not a video container FFmpeg reads?)");
    if (int rc = avformat_find_stream_info(format, nullptr); rc < 0)
      fail("cannot read video ", file.string(), ": ", av_message(rc), " (corrupt or truncated?)");
    const AVCodec* codec = nullptr;
    stream = av_find_best_stream(format, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (stream < 0) fail("video ", file.string(), " has no video stream");
    if (!open_decoder) return;
    if (!codec) fail("video ", file.string(), ": no decoder for its codec in this FFmpeg");
    decoder = avcodec_alloc_context3(codec);
    avcodec_parameters_to_context(decoder, format->streams[stream]->codecpar);
    decoder->thread_count = 1;  // frames in order, deterministic
    if (int rc = avcodec_open2(decoder, codec, nullptr); rc < 0)
      fail("cannot decode video ", file.string(), ": ", av_message(rc));
  }
  ~video_file() {
    if (decoder) avcodec_free_context(&decoder);
    if (format) avformat_close_input(&format);
  }
  video_file(const video_file&) = delete;
  video_file& operator=(const video_file&) = delete;

  video_info info() {
    AVStream* s = format->streams[stream];
    video_info v;
    v.width = s->codecpar->width;
    v.height = s->codecpar->height;
    v.frames = s->nb_frames;
    if (s->avg_frame_rate.num > 0 && s->avg_frame_rate.den > 0) v.fps = av_q2d(s->avg_frame_rate);
    if (v.frames <= 0) {  // webm, mkv: count the stream's packets (one frame each)
      v.counted = true;
      v.frames = 0;
      AVPacket* packet = av_packet_alloc();
      while (av_read_frame(format, packet) >= 0) {
        if (packet->stream_index == stream) ++v.frames;
        av_packet_unref(packet);
      }
      av_packet_free(&packet);
      av_seek_frame(format, stream, 0, AVSEEK_FLAG_BACKWARD);
    }
    return v;
  }
};

}  // namespace

video_info probe_video(const std::filesystem::path& file) {
  video_file v(file, false);
  return v.info();
}

std::vector<std::int64_t> sample_frame_indices(std::int64_t total, int n) {
  if (total <= 0) fail("a video with no frames cannot be sampled");
  if (n <= 0) fail("num_frames must be positive (got ", n, ")");
  // numpy.arange(0, total, step): ceil(total / step) values i * step, truncated by astype(int)
  const double step = static_cast<double>(total) / n;
  const auto count = static_cast<std::int64_t>(std::ceil(static_cast<double>(total) / step));
  std::vector<std::int64_t> out;
  for (std::int64_t i = 0; i < count && static_cast<int>(out.size()) < n; ++i)
    out.push_back(static_cast<std::int64_t>(static_cast<double>(i) * step));
  while (static_cast<int>(out.size()) < n) out.push_back(out.back());  // cannot happen for total >= 1; kept for safety
  return out;
}

sampled_video load_video(const std::filesystem::path& file, int num_frames) {
  video_file v(file, true);
  sampled_video out;
  out.info = v.info();
  if (out.info.frames <= 0) fail("video ", file.string(), " has no frames");
  out.indices = sample_frame_indices(out.info.frames, num_frames);
  const std::int64_t last = out.indices.back();
  std::size_t next = 0;  // the next index to fill
  std::int64_t index = 0;
  SwsContext* sws = nullptr;
  AVPacket* packet = av_packet_alloc();
  AVFrame* frame = av_frame_alloc();
  auto take = [&]() {
    while (next < out.indices.size() && out.indices[next] == index) {
      if (next > 0 && out.indices[next - 1] == index)
        out.frames.push_back(out.frames.back());
      else
        out.frames.push_back(frame_to_rgb(frame, sws, file));
      ++next;
    }
    ++index;
  };
  auto drain = [&]() {
    while (index <= last && avcodec_receive_frame(v.decoder, frame) == 0) take();
  };
  try {
    while (index <= last && av_read_frame(v.format, packet) >= 0) {
      if (packet->stream_index == v.stream) {
        int rc = avcodec_send_packet(v.decoder, packet);
        if (rc < 0 && rc != AVERROR(EAGAIN))
          fail("video ", file.string(), ": decoding frame ", index, " failed: ", av_message(rc), " (corrupt or truncated?)");
        drain();
      }
      av_packet_unref(packet);
    }
    if (index <= last) {  // flush the decoder's delayed frames
      avcodec_send_packet(v.decoder, nullptr);
      drain();
    }
  } catch (...) {
    av_packet_free(&packet);
    av_frame_free(&frame);
    sws_freeContext(sws);
    throw;
  }
  av_packet_free(&packet);
  av_frame_free(&frame);
  sws_freeContext(sws);
  if (out.frames.size() != out.indices.size()) {
    if (out.frames.empty()) fail("video ", file.string(), " has no decodable frames (corrupt or truncated?)");
    fail("video ", file.string(), " ends after ", index, " frames but its container says ", out.info.frames,
         " (truncated?)");
  }
  return out;
}

}  // namespace lmms::media
#endif  // LMMS_IMPLEMENTATION
