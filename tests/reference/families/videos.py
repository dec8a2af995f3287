"""Short synthetic videos in the containers and codecs lmms reads (mp4/H.264, webm/VP9, mkv/H.264,
avi/MPEG-4, a 5-frame mp4 shorter than the frames asked for, VP9 webms of odd sizes, H.264
tagged BT.709 limited and full range), encoded with PyAV, and the frames lmms-finetune's loader
samples from each, decoded with PyAV:

  total   = container.streams.video[0].frames, or (webm, mkv: 0 there, where lmms-finetune
            fails) the number of the stream's packets
  indices = np.arange(0, total, total / num_frames).astype(int)  (repeated to num_frames when
            the video is shorter, where lmms-finetune returns fewer frames)
  frames  = frame.to_ndarray(format="rgb24") of those frames, decoding from the first

Writes out/videos/<name> and outputs/videos.safetensors with <name>.frames (N, H, W, 3) uint8,
<name>.indices, <name>.total; and bad inputs for the error tests: an empty file, a text file
named .mp4, an mp4 cut in half.

Also random yuv420p planes of many sizes (odd and even, 1xN, Nx1) with colour tags, and PyAV's
rgb24 of each (frame.to_ndarray), for the converter alone: planes.<k>.y/.u/.v/.rgb and
planes.<k>.info = [width, height, colorspace, color_range].
"""
from __future__ import annotations

import json
import pathlib

import numpy as np
import torch

from families.common import save_outputs

# name: (codec, width, height, frames, num_frames sampled)
# colour tags written into the stream (colorspace, color_range), where not untagged
TAGS = {"bt709.mp4": (1, 1), "bt709_full.mp4": (1, 2)}
# random planes: (width, height); colour tags cycle through PLANE_TAGS
PLANE_SIZES = [(64, 21), (100, 75), (71, 51), (33, 17), (255, 33), (71, 50), (70, 50), (64, 48), (3, 3), (2, 1),
               (1, 1), (5, 1), (1, 5), (2, 3), (16, 3), (47, 2), (1, 64), (130, 31), (31, 130)]
PLANE_TAGS = [(2, 0), (1, 1), (1, 2), (9, 1), (5, 2), (6, 1)]
PLANE10_SIZES = [(64, 48), (71, 51), (64, 45), (65, 48), (1, 1), (3, 5), (2, 1), (130, 31)]
VIDEOS = {
    "moving.mp4": ("libx264", 70, 50, 23, 8),
    "moving.webm": ("libvpx-vp9", 72, 50, 17, 8),
    "odd.webm": ("libvpx-vp9", 71, 51, 9, 4),
    "odd_rows.webm": ("libvpx-vp9", 64, 45, 6, 3),
    "odd_cols.webm": ("libvpx-vp9", 65, 48, 6, 3),
    "bt709.mp4": ("libx264", 64, 48, 6, 3),
    "bt709_full.mp4": ("libx264", 66, 46, 6, 3),
    "moving.mkv": ("libx264", 64, 48, 20, 6),
    "moving.avi": ("mpeg4", 80, 60, 12, 4),
    "short.mp4": ("libx264", 48, 32, 5, 8),
    "yuv444.mp4": ("libx264", 64, 48, 6, 3),
    "yuv422.mp4": ("libx264", 66, 46, 6, 3),
    "yuv420p10.mp4": ("libx264", 64, 48, 6, 3),
    "yuv422p10.mp4": ("libx264", 66, 46, 6, 3),
    "yuv444p10.mp4": ("libx264", 64, 48, 6, 3),
    "yuv444_odd.webm": ("libvpx-vp9", 71, 51, 6, 3),
}
# pixel formats other than 8-bit 4:2:0 (the encoders' own choice elsewhere: yuv420p)
PIX_FMTS = {"yuv444.mp4": "yuv444p", "yuv422.mp4": "yuv422p", "yuv420p10.mp4": "yuv420p10le",
            "yuv422p10.mp4": "yuv422p10le", "yuv444p10.mp4": "yuv444p10le",
            "yuv444_odd.webm": "yuv444p"}


def draw(k: int, n: int, w: int, h: int) -> np.ndarray:
    """Frame k of n: a gradient whose blue level changes, a red box moving left to right."""
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 // (w - 1), y * 255 // (h - 1), np.full_like(x, (k * 23) % 256)], -1).astype(np.uint8)
    x0 = int(k * (w - 12) / max(1, n - 1))
    img[h // 3:h // 3 + 12, x0:x0 + 12] = [230, 20, 20]
    return img


def encode(path: pathlib.Path, codec: str, w: int, h: int, n: int) -> None:
    import av
    container = av.open(str(path), "w")
    stream = container.add_stream(codec, rate=10)
    stream.width, stream.height, stream.pix_fmt = w, h, PIX_FMTS.get(path.name, "yuv420p")
    if path.name in TAGS:
        stream.codec_context.colorspace, stream.codec_context.color_range = TAGS[path.name]
    for k in range(n):
        for packet in stream.encode(av.VideoFrame.from_ndarray(draw(k, n, w, h), format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()


def sample(path: pathlib.Path, num_frames: int) -> tuple[np.ndarray, np.ndarray, int]:
    import av
    container = av.open(str(path))
    total = container.streams.video[0].frames
    if total == 0:
        total = sum(1 for p in container.demux(video=0) if p.size > 0)
        container.seek(0)
        container = av.open(str(path))
    indices = np.arange(0, total, total / num_frames).astype(int)
    indices = np.concatenate([indices, np.full(num_frames - len(indices), indices[-1])]) if len(indices) < num_frames \
        else indices[:num_frames]
    wanted = set(indices.tolist())
    frames = {}
    for i, frame in enumerate(container.decode(video=0)):
        if i > indices[-1]:
            break
        if i in wanted:
            frames[i] = frame.to_ndarray(format="rgb24")
    return np.stack([frames[i] for i in indices]), indices, total


def yuv420p_to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray, colorspace: int, color_range: int,
                   fmt: str = "yuv420p") -> np.ndarray:
    """PyAV's rgb24 of a yuv420p (or yuv420p10le: uint16 planes) frame with these planes and colour tags."""
    import av
    h, w = y.shape
    frame = av.VideoFrame(w, h, fmt)
    for plane, arr in zip(frame.planes, (y, u, v)):
        rows = np.zeros((arr.shape[0], plane.line_size // arr.itemsize), arr.dtype)
        rows[:, :arr.shape[1]] = arr
        plane.update(rows.tobytes()[: plane.buffer_size])
    frame.colorspace, frame.color_range = colorspace, color_range
    return frame.to_ndarray(format="rgb24")


def make(out: pathlib.Path) -> dict:
    video_dir = out / "videos"
    video_dir.mkdir(parents=True, exist_ok=True)
    tensors, summary = {}, {}
    for name, (codec, w, h, n, num_frames) in VIDEOS.items():
        encode(video_dir / name, codec, w, h, n)
        frames, indices, total = sample(video_dir / name, num_frames)
        tensors[f"{name}.frames"] = torch.from_numpy(frames)
        tensors[f"{name}.indices"] = torch.from_numpy(indices.astype(np.int64))
        tensors[f"{name}.total"] = torch.tensor(total, dtype=torch.int64)
        summary[name] = {"codec": codec, "size": [w, h], "frames": n, "sampled": indices.tolist()}
    rng = np.random.default_rng(6)
    for k, (w, h) in enumerate(PLANE_SIZES):
        for t, (colorspace, color_range) in enumerate(PLANE_TAGS if (w, h) in [(71, 51), (64, 21), (70, 50)]
                                                    else [PLANE_TAGS[k % len(PLANE_TAGS)]]):
            name = f"planes.{k}.{t}"
            y = rng.integers(0, 256, (h, w), dtype=np.uint8)
            u = rng.integers(0, 256, ((h + 1) // 2, (w + 1) // 2), dtype=np.uint8)
            v = rng.integers(0, 256, ((h + 1) // 2, (w + 1) // 2), dtype=np.uint8)
            rgb = yuv420p_to_rgb(y, u, v, colorspace, color_range)
            for key, arr in (("y", y), ("u", u), ("v", v), ("rgb", rgb)):
                tensors[f"{name}.{key}"] = torch.from_numpy(np.ascontiguousarray(arr))
            tensors[f"{name}.info"] = torch.tensor([w, h, colorspace, color_range], dtype=torch.int64)
    # 10-bit 4:2:0 planes (values 0-1023): the high-bit-depth path at odd and even sizes
    for k, (w, h) in enumerate(PLANE10_SIZES):
        for t, (colorspace, color_range) in enumerate(PLANE_TAGS if (w, h) == (71, 51)
                                                    else [PLANE_TAGS[k % len(PLANE_TAGS)]]):
            name = f"planes10.{k}.{t}"
            y = rng.integers(0, 1024, (h, w)).astype(np.uint16)
            u = rng.integers(0, 1024, ((h + 1) // 2, (w + 1) // 2)).astype(np.uint16)
            v = rng.integers(0, 1024, ((h + 1) // 2, (w + 1) // 2)).astype(np.uint16)
            rgb = yuv420p_to_rgb(y, u, v, colorspace, color_range, "yuv420p10le")
            for key, arr in (("y", y.astype(np.int16)), ("u", u.astype(np.int16)), ("v", v.astype(np.int16)), ("rgb", rgb)):
                tensors[f"{name}.{key}"] = torch.from_numpy(np.ascontiguousarray(arr))
            tensors[f"{name}.info"] = torch.tensor([w, h, colorspace, color_range], dtype=torch.int64)
    # bad inputs
    (video_dir / "empty.mp4").write_bytes(b"")
    (video_dir / "not_a_video.mp4").write_text("this is not a video\n")
    data = (video_dir / "moving.mp4").read_bytes()
    (video_dir / "truncated.mp4").write_bytes(data[: len(data) // 2])
    save_outputs(out / "outputs" / "videos.safetensors", tensors, {"videos": json.dumps(summary)})
    return summary
