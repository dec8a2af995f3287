#!/usr/bin/env python3
"""Images per second through decode + process: lmms vs the Hugging Face image processors.

    python bench/image_bench.py [--build build] [--repeats 3] [--images 24] [--rounds 3]

The same files (photo-like synthetic JPEGs and PNGs of common sizes, made here in
build/bench/images) go through three processors with real model settings: CLIP 336 px
(LLaVA-1.5), LLaVA-NeXT anyres (336 px tiles, 5 grid pinpoints) and Qwen2-VL (smart_resize,
max 12.8 M pixels). Both sides decode the file and produce the normalized pixel values, on one
thread (and lmms also on every core, spreading the images over threads as its data pipeline
does with a batch's images): lmms with libjpeg-turbo / stb_image and its processors
(build/bin/bench_images), HF with
`PIL.Image.open(f).convert("RGB")` and the image processor, timed both one image per call and
all images in one call (the faster counts). HF has two backends: the PIL one (`*ImageProcessorPil`,
what the tests compare with) and the torchvision one (the default when torchvision is installed);
if torchvision is missing it is installed with pip into build/bench/pylib (no other package is
touched). A checksum (the sum of every pixel value) shows both sides did the same work. Both
sides also run on every core: lmms with threads, HF (its faster backend) with a pool of that many
worker processes started before the clock, as a DataLoader with workers spreads images, one
image per task, largest file first like lmms; the two take turns for --rounds rounds (this
machine's speed drifts from minute to minute), each keeping its best, every round printed.
Prints a markdown table for docs/performance.md.
Best of --repeats runs each.
"""
import argparse
import json
import os
import pathlib
import platform
import subprocess
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

SIZES = [(640, 480), (480, 640), (1024, 768), (500, 375), (375, 500), (1920, 1080), (1280, 720), (800, 600),
         (333, 500), (1200, 1600), (224, 224), (2048, 1536)]
PINPOINTS = [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]]


def make_images(folder: pathlib.Path, count: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    files = []
    for i in range(count):
        w, h = SIZES[i % len(SIZES)]
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        img = np.stack([127 + 120 * np.sin(x / (17 + i) + c) * np.cos(y / (23 + 2 * i) - c) for c in range(3)], -1)
        img += rng.normal(0, 12, img.shape)  # texture, so JPEG has work to do
        for _ in range(6):  # a few flat shapes, as in photos of objects
            x0, y0 = rng.integers(0, w // 2), rng.integers(0, h // 2)
            img[y0:y0 + h // 4, x0:x0 + w // 4] = rng.integers(0, 255, 3)
        pil = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
        path = folder / (f"img{i:02d}.png" if i % 4 == 3 else f"img{i:02d}.jpg")
        if path.suffix == ".png":
            pil.save(path)
        else:
            pil.save(path, quality=90)
        files.append(str(path))
    return files


def processors(backend: str):
    import transformers as t
    suffix = "Pil" if backend == "pil" else ""
    clip = getattr(t, "CLIPImageProcessor" + suffix)(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336})
    anyres = getattr(t, "LlavaNextImageProcessor" + suffix)(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336},
                                                            image_grid_pinpoints=PINPOINTS)
    qwen = getattr(t, "Qwen2VLImageProcessor" + suffix)(min_pixels=56 * 56, max_pixels=28 * 28 * 16384)
    if backend == "torchvision":
        for p in (clip, anyres, qwen):
            assert "Pil" not in type(p).__name__, f"{type(p).__name__}: torchvision backend not available"
    return {"clip": clip, "anyres": anyres, "qwen2_vl": qwen}


def time_hf(proc, files: list[str], repeats: int) -> tuple[float, float]:
    import torch
    torch.set_num_threads(1)
    best = 1e30
    checksum = 0.0
    for _ in range(repeats):
        for batched in (False, True):
            t0 = time.perf_counter()
            if batched:
                out = proc(images=[Image.open(f).convert("RGB") for f in files], return_tensors="pt")
                s = float(out["pixel_values"].double().sum())
            else:
                s = 0.0
                for f in files:
                    out = proc(images=Image.open(f).convert("RGB"), return_tensors="pt")
                    s += float(out["pixel_values"].double().sum())
            best = min(best, time.perf_counter() - t0)
            checksum = s
    return best, checksum


_POOL_PROC = None


def _pool_one(f: str) -> float:
    out = _POOL_PROC(images=Image.open(f).convert("RGB"), return_tensors="pt")
    return float(out["pixel_values"].double().sum())


def time_hf_pool(proc, files: list[str], repeats: int, workers: int) -> tuple[float, float]:
    """The images spread over `workers` processes (forked with the processor), largest file first."""
    import multiprocessing
    global _POOL_PROC
    _POOL_PROC = proc
    order = sorted(files, key=lambda f: -os.path.getsize(f))
    best, checksum = 1e30, 0.0
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        pool.map(_pool_one, order[-workers:], chunksize=1)  # warm: workers up, imports done
        for _ in range(repeats):
            t0 = time.perf_counter()
            checksum = sum(pool.imap_unordered(_pool_one, order, chunksize=1))
            best = min(best, time.perf_counter() - t0)
    return best, checksum


def ensure_torchvision(pylib: pathlib.Path) -> bool:
    sys.path.insert(0, str(pylib))
    try:
        import torchvision  # noqa: F401
        return True
    except ImportError:
        pass
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(pylib), "torchvision"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(f"(torchvision could not be installed: {r.stderr.strip().splitlines()[-1:]}; PIL backend only)")
        return False
    import importlib
    importlib.invalidate_caches()
    import torchvision  # noqa: F401
    return True


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--build", default="build")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--images", type=int, default=24)
    p.add_argument("--rounds", type=int, default=3, help="alternating lmms / HF rounds on every core")
    a = p.parse_args()
    build = pathlib.Path(a.build).resolve()
    work = build / "bench"
    files = make_images(work / "images", a.images)
    (work / "images.json").write_text(json.dumps(files))
    pixels = sum(Image.open(f).size[0] * Image.open(f).size[1] for f in files) / 1e6
    have_tv = ensure_torchvision(work / "pylib")
    backends = ["pil"] + (["torchvision"] if have_tv else [])
    hf = {b: processors(b) for b in backends}
    print(f"{len(files)} images ({pixels:.1f} Mpixels; JPEG q90 and PNG, 224x224 to 2048x1536); machine: "
          f"{platform.machine()}, {os.cpu_count()} cores; one thread, best of {a.repeats}; decode + process")
    print()
    threads = os.cpu_count() or 1
    head = f"| processor | lmms images/s | lmms, {threads} threads |" + " HF PIL images/s |"
    head += " HF torchvision images/s |" if have_tv else ""
    head += f" lmms / faster HF (1 thread) | lmms {threads} threads / faster HF | HF {threads} processes images/s |"
    head += f" lmms {threads} threads / HF {threads} processes | rounds (lmms / HF images/s) | checksums (lmms, HF PIL) |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for kind in ("clip", "anyres", "qwen2_vl"):
        cfg = work / "processors" / kind
        cfg.mkdir(parents=True, exist_ok=True)
        hf["pil"][kind].to_json_file(str(cfg / "preprocessor_config.json"))
        def lmms(n: int) -> dict:
            out = subprocess.run([str(build / "bin" / "bench_images"), kind, str(cfg), str(work / "images.json"), str(a.repeats),
                                  str(n)], capture_output=True, text=True, check=True)
            return json.loads(out.stdout)
        mine = lmms(1)
        lmms_rate = len(files) / mine["seconds"]
        rates, sums = {}, {}
        for b in backends:
            seconds, sums[b] = time_hf(hf[b][kind], files, a.repeats)
            rates[b] = len(files) / seconds
        row = f"| {kind} | {lmms_rate:.1f} | {{many_rate:.1f}} | {rates['pil']:.1f} |"
        if have_tv:
            row += f" {rates['torchvision']:.1f} |"
        best_hf = max(rates.values())
        fastest = max(rates, key=rates.get)
        # every core: lmms's threads and HF's pool take turns, so a slow spell of this shared
        # machine hits both; each keeps its best round
        many_rate, pool_rate, per_round = 0.0, 0.0, []
        for _ in range(a.rounds):
            many = lmms(threads)
            assert abs(many["checksum"] - mine["checksum"]) <= 1e-9 * abs(mine["checksum"]), "threads changed the result"
            pool_seconds, pool_sum = time_hf_pool(hf[fastest][kind], files, a.repeats, threads)
            assert abs(pool_sum - sums[fastest]) <= 1e-6 * abs(sums[fastest]) + 1e-3, "the pool computed something else"
            round_many, round_pool = len(files) / many["seconds"], len(files) / pool_seconds
            per_round.append(f"{round_many:.0f} / {round_pool:.0f}")
            many_rate, pool_rate = max(many_rate, round_many), max(pool_rate, round_pool)
        row = row.format(many_rate=many_rate)
        row += f" {lmms_rate / best_hf:.2f}x | {many_rate / best_hf:.2f}x | {pool_rate:.1f} | {many_rate / pool_rate:.2f}x |"
        row += f" {', '.join(per_round)} | {mine['checksum']:.6g}, {sums['pil']:.6g} |"
        print(row, flush=True)


if __name__ == "__main__":
    main()
