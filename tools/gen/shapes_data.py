#!/usr/bin/env python3
"""Writes example_data/shapes: small synthetic pictures (one coloured shape on a grey
background) and LLaVA-style conversations asking for the colour and the shape. A learnable
task with a known answer, for the main job, the CI training tests and the benchmarks.

    python tools/gen/shapes_data.py [OUT_DIR]      (default example_data/shapes)

Deterministic (fixed seed); the files are committed, so this only reruns when they change.
"""
import json
import pathlib
import random
import sys

from PIL import Image, ImageDraw

COLOURS = {"red": (220, 30, 30), "green": (30, 170, 40), "blue": (30, 60, 220), "yellow": (235, 210, 20)}
SHAPES = ["square", "circle", "triangle"]
QUESTIONS = ["What colour is the shape?", "Which colour does the shape have?", "Name the colour of the shape."]


def picture(rng: random.Random, colour: str, shape: str, size: int = 64) -> Image.Image:
    grey = rng.randint(90, 160)
    img = Image.new("RGB", (size, size), (grey, grey, grey))
    d = ImageDraw.Draw(img)
    w = rng.randint(size // 3, size // 2)
    x, y = rng.randint(2, size - w - 2), rng.randint(2, size - w - 2)
    fill = COLOURS[colour]
    if shape == "square":
        d.rectangle([x, y, x + w, y + w], fill=fill)
    elif shape == "circle":
        d.ellipse([x, y, x + w, y + w], fill=fill)
    else:
        d.polygon([(x + w // 2, y), (x, y + w), (x + w, y + w)], fill=fill)
    return img


def main() -> int:
    out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "example_data/shapes")
    (out / "images").mkdir(parents=True, exist_ok=True)
    rng = random.Random(2026)
    splits = {"train": 96, "eval": 24}
    for split, n in splits.items():
        samples = []
        for i in range(n):
            colour, shape = rng.choice(list(COLOURS)), rng.choice(SHAPES)
            name = f"{split}_{i:03d}.png"
            picture(rng, colour, shape).save(out / "images" / name, optimize=True)
            turns = [{"from": "human", "value": "<image>\n" + rng.choice(QUESTIONS)},
                     {"from": "gpt", "value": f"{colour.capitalize()}."}]
            if i % 2 == 0:  # half the samples have a second turn about the shape
                turns += [{"from": "human", "value": "And its shape?"}, {"from": "gpt", "value": f"A {shape}."}]
            samples.append({"id": f"{split}-{i}", "image": name, "conversations": turns})
        (out / f"{split}.json").write_text(json.dumps(samples, indent=1) + "\n")
    print(f"wrote {sum(splits.values())} pictures and {', '.join(splits)} conversations to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
