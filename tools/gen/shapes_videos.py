#!/usr/bin/env python3
"""Writes example_data/shapes/videos: short synthetic videos (64x64, 12 frames at 6 fps, H.264
in mp4) of one coloured shape moving across a grey background, and LLaVA-style conversations
asking which way it moves (and, in half the samples, its colour): train_video.json (48) and
eval_video.json (12). A learnable video task with known answers for the CI training tests.

    python tools/gen/shapes_videos.py [OUT_DIR]      (default example_data/shapes)

Drawn frame by frame with PIL and encoded with PyAV (libx264, yuv420p). Deterministic (fixed
seed); the files are committed, so this only reruns when they change.
"""
import json
import pathlib
import random
import sys

import numpy as np
from PIL import Image, ImageDraw

COLOURS = {"red": (220, 30, 30), "green": (30, 170, 40), "blue": (30, 60, 220), "yellow": (235, 210, 20)}
DIRECTIONS = {"right": "From left to right.", "left": "From right to left.", "down": "From top to bottom.",
              "up": "From bottom to top."}
QUESTIONS = ["Which way does the shape move?", "In which direction does the shape go?"]
SIZE, FRAMES = 64, 12


def frames(rng: random.Random, colour: str, direction: str) -> list[np.ndarray]:
    grey = rng.randint(90, 160)
    w = rng.randint(12, 18)
    fixed = rng.randint(4, SIZE - w - 4)
    out = []
    for k in range(FRAMES):
        moving = 2 + (SIZE - w - 4) * k // (FRAMES - 1)
        if direction in ("left", "up"):
            moving = SIZE - w - 2 - (moving - 2)
        x, y = (moving, fixed) if direction in ("left", "right") else (fixed, moving)
        img = Image.new("RGB", (SIZE, SIZE), (grey, grey, grey))
        ImageDraw.Draw(img).ellipse([x, y, x + w, y + w], fill=COLOURS[colour])
        out.append(np.asarray(img))
    return out


def encode(path: pathlib.Path, pictures: list[np.ndarray]) -> None:
    import av
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=6)
    stream.width, stream.height, stream.pix_fmt = SIZE, SIZE, "yuv420p"
    stream.options = {"crf": "18"}
    for p in pictures:
        for packet in stream.encode(av.VideoFrame.from_ndarray(p, format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()


def main() -> int:
    out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "example_data/shapes")
    (out / "videos").mkdir(parents=True, exist_ok=True)
    rng = random.Random(2027)
    for split, count in (("train", 48), ("eval", 12)):
        samples = []
        for i in range(count):
            colour = rng.choice(list(COLOURS))
            direction = list(DIRECTIONS)[i % 4]
            name = f"{split}_{i:03d}.mp4"
            encode(out / "videos" / name, frames(rng, colour, direction))
            conv = [{"from": "human", "value": "<video>\n" + rng.choice(QUESTIONS)},
                    {"from": "gpt", "value": DIRECTIONS[direction]}]
            if i % 2 == 0:
                conv += [{"from": "human", "value": "And its colour?"}, {"from": "gpt", "value": colour.capitalize() + "."}]
            samples.append({"id": f"{split}-video-{i}", "video": name, "conversations": conv})
        (out / f"{split}_video.json").write_text(json.dumps(samples, indent=1) + "\n")
    print(f"wrote {out}/videos and {out}/train_video.json, eval_video.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
