"""Images of many sizes and aspect ratios (PNG, lossless), what PIL's Image.resize makes of
them with each filter, and the pixel_values of transformers' CLIPImageProcessor (PIL backend).

Writes images/<name>.png and outputs/images.safetensors:
  resize.<name>.<filter>.<w>x<h>   uint8 (h, w, 3) from PIL
  clip.<name>.<shortest>           float32 (3, crop, crop) from CLIPImageProcessorPil
  clipcrop.<name>                  float32 (3, 40, 33): its center crop alone (do_resize False), zero-padded
  mllama.<name>.<tile>.<max>       float32 (tiles, 3, tile, tile) from MllamaImageProcessorPil, with
  mllama.<name>.<tile>.<max>.ids   int64 (2,): aspect_ratio_id, number of tiles set in aspect_ratio_mask
and images/jpeg/<name>.jpg (JPEG variants: chroma subsampling 4:2:0 / 4:2:2 / 4:4:4,
progressive, optimized Huffman tables, greyscale, odd sizes, restart markers) with
  jpeg.<name>                      uint8 (h, w, 3): PIL's Image.open(f).convert("RGB")
"""
from __future__ import annotations

import pathlib

import numpy as np
import torch
from PIL import Image

from families.common import save_outputs

SIZES = {"tiny": (1, 1), "tall": (3, 500), "wide": (500, 3), "odd": (17, 23), "small": (80, 64),
         "square": (224, 224), "photo": (640, 480), "big_odd": (333, 777), "thin": (1, 37)}
CLIP_MEAN, CLIP_STD = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]  # Llama-3.2-Vision's
FILTERS = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS}


def picture(w: int, h: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([(x * 255) // max(1, w - 1), (y * 255) // max(1, h - 1), ((x + y) * 7) % 256], -1)
    noise = rng.integers(0, 256, size=(h, w, 3))
    mix = np.where(rng.random((h, w, 1)) < 0.3, noise, base)  # sharp edges stress the filters
    return Image.fromarray(mix.astype(np.uint8), "RGB")


def write_png_all_filters(path: pathlib.Path, pixels: np.ndarray, color_type: int) -> None:
    """An 8-bit PNG whose row y uses filter y % 5 (PIL's encoder uses only Sub and Up on these)."""
    import struct
    import zlib
    h, w = pixels.shape[:2]
    bpp = 1 if pixels.ndim == 2 else pixels.shape[2]
    rows = pixels.reshape(h, w * bpp).astype(np.int32)
    raw = bytearray()
    for y in range(h):
        x, prior = rows[y], rows[y - 1] if y else np.zeros_like(rows[0])
        a = np.concatenate([np.zeros(bpp, np.int32), x[:-bpp]])
        c = np.concatenate([np.zeros(bpp, np.int32), prior[:-bpp]])
        f = y % 5
        if f == 0:
            pred = np.zeros_like(x)
        elif f == 1:
            pred = a
        elif f == 2:
            pred = prior
        elif f == 3:
            pred = (a + prior) // 2
        else:
            p = a + prior - c
            pa, pb, pc = np.abs(p - a), np.abs(p - prior), np.abs(p - c)
            pred = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, prior, c))
        raw.append(f)
        raw += ((x - pred) % 256).astype(np.uint8).tobytes()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(raw), 6))
                     + chunk(b"IEND", b""))


def make(out: pathlib.Path) -> dict:
    from transformers import CLIPImageProcessorPil, MllamaImageProcessorPil
    img_dir = out / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for i, (name, (w, h)) in enumerate(SIZES.items()):
        img = picture(w, h, seed=i)
        img.save(img_dir / f"{name}.png")
        img = Image.open(img_dir / f"{name}.png").convert("RGB")
        for fname, f in FILTERS.items():
            for tw, th in ((max(1, w // 3), max(1, h // 2)), (w * 2 + 1, h + 5), (56, 56), (7, 300)):
                tensors[f"resize.{name}.{fname}.{tw}x{th}"] = torch.from_numpy(np.asarray(img.resize((tw, th), f)).copy())
        for shortest in (56, 224, 336):
            proc = CLIPImageProcessorPil(size={"shortest_edge": shortest}, crop_size={"height": shortest, "width": shortest})
            tensors[f"clip.{name}.{shortest}"] = torch.from_numpy(np.asarray(proc(img)["pixel_values"][0]).copy())
        # center crop alone (no resize): zero padding where the image is smaller than the crop
        proc = CLIPImageProcessorPil(do_resize=False, crop_size={"height": 40, "width": 33})
        tensors[f"clipcrop.{name}"] = torch.from_numpy(np.asarray(proc(img)["pixel_values"][0]).copy())
        # Llama-3.2-Vision's tiling (the real checkpoints: 560 px tiles, at most 4), at small tiles
        for tile, max_tiles in ((56, 4), (112, 6), (28, 1)):
            proc = MllamaImageProcessorPil(size={"height": tile, "width": tile}, max_image_tiles=max_tiles,
                                           image_mean=CLIP_MEAN, image_std=CLIP_STD)
            res = proc([[img]])
            n = res["num_tiles"][0][0]
            key = f"mllama.{name}.{tile}.{max_tiles}"
            tensors[key] = torch.from_numpy(np.asarray(res["pixel_values"][0, 0, :n]).copy())
            mask = np.asarray(res["aspect_ratio_mask"][0, 0])
            assert mask[:n].all() and not mask[n:].any()
            tensors[key + ".ids"] = torch.tensor([int(res["aspect_ratio_ids"][0, 0]), int(mask.sum())], dtype=torch.int64)
    jpeg_dir = img_dir / "jpeg"
    jpeg_dir.mkdir(exist_ok=True)
    photo = picture(640, 480, seed=40)
    odd = picture(333, 777, seed=41)
    variants = {
        "q90_420": (photo, dict(quality=90)),
        "q75_422": (photo, dict(quality=75, subsampling=1)),
        "q95_444": (photo, dict(quality=95, subsampling=0)),
        "progressive": (photo, dict(quality=85, progressive=True)),
        "optimized": (photo, dict(quality=80, optimize=True)),
        "restarts": (photo, dict(quality=90, restart_marker_blocks=4)),
        "grey": (photo.convert("L"), dict(quality=90)),
        "odd_420": (odd, dict(quality=90)),
        "odd_progressive": (odd, dict(quality=70, progressive=True)),
        "tiny": (picture(1, 1, seed=42), dict(quality=90)),
        "thin": (picture(3, 500, seed=43), dict(quality=90)),
    }
    for name, (img, options) in variants.items():
        path = jpeg_dir / f"{name}.jpg"
        img.save(path, "JPEG", **options)
        tensors[f"jpeg.{name}"] = torch.from_numpy(np.asarray(Image.open(path).convert("RGB")).copy())
    # PNG kinds (lmms decodes 8-bit grey / grey+alpha / RGB / RGBA with its own inflate + unfilter,
    # the rest with stb_image): PIL's convert("RGB") of each
    png_dir = img_dir / "png"
    png_dir.mkdir(exist_ok=True)
    rgba = photo.copy()
    rgba.putalpha(Image.linear_gradient("L").resize(photo.size))
    pngs = {
        "rgb": (photo, {}),
        "rgb_level0": (photo, dict(compress_level=0)),
        "rgb_optimized": (odd, dict(optimize=True)),
        "rgba": (rgba, {}),
        "grey": (photo.convert("L"), {}),
        "grey_alpha": (rgba.convert("LA"), {}),
        "palette": (photo.convert("P", palette=Image.Palette.ADAPTIVE, colors=64), {}),
        "tiny": (picture(1, 1, seed=44), {}),
        "thin": (picture(3, 500, seed=45), {}),
        "wide": (picture(700, 2, seed=46), {}),
    }
    for name, (img, options) in pngs.items():
        path = png_dir / f"{name}.png"
        img.save(path, "PNG", **options)
        tensors[f"png.{name}"] = torch.from_numpy(np.asarray(Image.open(path).convert("RGB")).copy())
    for name, img in (("filters_rgb", odd), ("filters_rgba", rgba), ("filters_grey", photo.convert("L"))):
        path = png_dir / f"{name}.png"  # every row filter (None, Sub, Up, Average, Paeth) in turn
        write_png_all_filters(path, np.asarray(img), {"RGB": 2, "RGBA": 6, "L": 0}[img.mode])
        assert np.array_equal(np.asarray(Image.open(path)), np.asarray(img)), "the hand-written PNG does not round-trip"
        tensors[f"png.{name}"] = torch.from_numpy(np.asarray(Image.open(path).convert("RGB")).copy())
    save_outputs(out / "outputs" / "images.safetensors", tensors, {})
    return {"images": len(SIZES), "tensors": len(tensors)}
