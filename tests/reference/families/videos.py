"""Short synthetic videos in the containers and codecs lmms reads (mp4/H.264, webm/VP9, mkv/H.264,
avi/MPEG-4, a 5-frame mp4 shorter than the frames asked for, a VP9 webm of odd size), encoded
with PyAV, and the frames lmms-finetune's loader samples from each, decoded with PyAV:

  total   = container.streams.video[0].frames, or (webm, mkv: 0 there, where lmms-finetune
            fails) the number of the stream's packets
  indices = np.arange(0, total, total / num_frames).astype(int)  (repeated to num_frames when
            the video is shorter, where lmms-finetune returns fewer frames)
  frames  = frame.to_ndarray(format="rgb24") of those frames, decoding from the first

Writes out/videos/<name> and outputs/videos.safetensors with <name>.frames (N, H, W, 3) uint8,
<name>.indices, <name>.total; and bad inputs for the error tests: an empty file, a text file
named .mp4, an mp4 cut in half.
"""
from __future__ import annotations

import json
import pathlib

import numpy as np
import torch

from families.common import save_outputs

# name: (codec, width, height, frames, num_frames sampled)
VIDEOS = {
    "moving.mp4": ("libx264", 70, 50, 23, 8),
    "moving.webm": ("libvpx-vp9", 72, 50, 17, 8),
    "odd.webm": ("libvpx-vp9", 71, 51, 9, 4),
    "moving.mkv": ("libx264", 64, 48, 20, 6),
    "moving.avi": ("mpeg4", 80, 60, 12, 4),
    "short.mp4": ("libx264", 48, 32, 5, 8),
}


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
    stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
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
    # bad inputs
    (video_dir / "empty.mp4").write_bytes(b"")
    (video_dir / "not_a_video.mp4").write_text("this is not a video\n")
    data = (video_dir / "moving.mp4").read_bytes()
    (video_dir / "truncated.mp4").write_bytes(data[: len(data) // 2])
    save_outputs(out / "outputs" / "videos.safetensors", tensors, {"videos": json.dumps(summary)})
    return summary
