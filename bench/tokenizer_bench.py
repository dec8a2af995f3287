#!/usr/bin/env python3
"""Tokenizer encode throughput, lmms vs Hugging Face `tokenizers`, single thread, same corpus.

    python bench/tokenizer_bench.py [--build build] [--reference build/reference] [--repeats 3]

Uses the tokenizers and the 20,000-string corpus of the reference harness
(tests/reference/families/tokenizers.py). HF runs `encode_batch` with one Rayon thread (the
fastest single-thread path from Python) and, for reference, a plain `encode` loop. Prints a
markdown table for docs/performance.md. Best of --repeats runs each.
"""
import argparse
import json
import os
import pathlib
import platform
import subprocess
import time

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
from tokenizers import Tokenizer  # noqa: E402

KINDS = ["llama2", "qwen2", "llama3", "phi3", "gpt2"]


def hf(tokenizer_json: pathlib.Path, corpus: list[str], repeats: int) -> tuple[float, float, int]:
    best_batch = best_loop = 1e30
    tokens = 0
    for _ in range(repeats):
        tok = Tokenizer.from_file(str(tokenizer_json))  # cold word cache, as for lmms
        t0 = time.perf_counter()
        encs = tok.encode_batch(corpus, add_special_tokens=True)
        best_batch = min(best_batch, time.perf_counter() - t0)
        tokens = sum(len(e.ids) for e in encs)
        tok = Tokenizer.from_file(str(tokenizer_json))
        t0 = time.perf_counter()
        for s in corpus:
            tok.encode(s, add_special_tokens=True)
        best_loop = min(best_loop, time.perf_counter() - t0)
    return best_batch, best_loop, tokens


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--build", default="build")
    p.add_argument("--reference", default=None)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    ref = pathlib.Path(a.reference or pathlib.Path(a.build) / "reference") / "text"
    corpus_path = ref / "corpus.json"
    corpus = json.loads(corpus_path.read_text())
    mb = sum(len(s.encode()) for s in corpus) / 1e6
    print(f"corpus: {len(corpus)} strings, {mb:.2f} MB; machine: {platform.machine()}, {os.cpu_count()} cores; "
          f"single thread, best of {a.repeats}")
    print()
    print("| tokenizer | lmms MB/s | HF encode_batch MB/s | HF encode loop MB/s | lmms / faster HF | tokens equal |")
    print("|---|---|---|---|---|---|")
    for kind in KINDS:
        tj = ref / kind / "tokenizer.json"
        out = subprocess.run([str(pathlib.Path(a.build) / "bin" / "bench_tokenizer"), str(tj), str(corpus_path),
                              str(a.repeats)], check=True, capture_output=True, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"}).stdout
        mine = json.loads(out)
        batch, loop, tokens = hf(tj, corpus, a.repeats)
        print(f"| {kind} | {mb / mine['seconds']:.2f} | {mb / batch:.2f} | {mb / loop:.2f} | "
              f"{min(batch, loop) / mine['seconds']:.2f}x | {tokens == mine['tokens']} |")


if __name__ == "__main__":
    main()
