"""Helpers shared by the family modules: corpora, tokenizers built to each family's real
specification, synthetic images, and saving reference outputs."""
from __future__ import annotations

import pathlib

import numpy as np
import torch
from PIL import Image

# A small multilingual corpus for training tiny tokenizers. The tokenizer tests of the text
# issue use a much larger corpus; here we only need a plausible vocabulary.
CORPUS = [
    "A red circle is on the left of a blue square.",
    "How many triangles are in the picture? There are three triangles.",
    "What colour is the shape in the top right corner? It is green.",
    "The quick brown fox jumps over the lazy dog 1234567890 times.",
    "def train(model, data):\n    for step, batch in enumerate(data):\n        loss = model(batch)\n",
    "Les modèles multimodaux apprennent à décrire des images.",
    "多模态模型可以描述图像。这是一个测试句子。",
    "Мультимодальные модели описывают изображения.",
    "النماذج متعددة الوسائط تصف الصور.",
    "🙂 emoji 👍🏽 and 👨‍👩‍👧 families",
    "USER: <image>\nWhat is shown? ASSISTANT: A yellow star below a purple hexagon.",
] * 4


def llama_sentencepiece_bpe(extra_special: list[str], vocab_size: int = 600):
    """A tokenizer.json to the specification of Llama-2 / Vicuna (llava-1.5, llava-1.6-vicuna):
    BPE with byte fallback and fuse_unk, <unk>=0 <s>=1 </s>=2, <0x00>..<0xFF> = 3..258,
    normalizer Prepend('▁') + Replace(' ', '▁'), no pre-tokenizer, decoder
    Replace('▁', ' ') + ByteFallback + Fuse + Strip(' ', 1, 0), post-processor BOS.
    Merges are learned from CORPUS (never across a '▁' word start)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    # 1. learn merges on words (Metaspace split), as sentencepiece never merges across words
    learner = Tokenizer(models.BPE(unk_token="<unk>"))
    learner.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    learner.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never", split=True)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<unk>"], show_progress=False,
                                  initial_alphabet=sorted(set("".join(CORPUS).replace(" ", "▁"))))
    learner.train_from_iterator(CORPUS, trainer)
    learned = learner.model
    import json as _json
    model_json = _json.loads(learner.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model_json["merges"]]
    learned_vocab = sorted(model_json["vocab"].items(), key=lambda kv: kv[1])

    # 2. the Llama layout: specials, 256 byte tokens, then the learned pieces
    vocab: dict[str, int] = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for piece, _ in learned_vocab:
        if piece not in vocab:
            vocab[piece] = len(vocab)
    del learned
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.pre_tokenizer = None
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in ["<unk>", "<s>", "</s>"]])
    tok.add_tokens([AddedToken(t, special=True, normalized=False) for t in extra_special])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                       special_tokens=[("<s>", 1)])
    return tok


def shapes_image(width: int, height: int, seed: int) -> Image.Image:
    """A deterministic synthetic RGB picture: a gradient background with a filled rectangle."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    img = np.stack([(x * 255 // max(1, width - 1)), (y * 255 // max(1, height - 1)),
                    np.full_like(x, int(rng.integers(0, 256)))], axis=-1).astype(np.uint8)
    x0, y0 = int(rng.integers(0, width // 2)), int(rng.integers(0, height // 2))
    img[y0:y0 + height // 3, x0:x0 + width // 3] = rng.integers(0, 256, size=3, dtype=np.uint8)
    return Image.fromarray(img, "RGB")


def save_outputs(path: pathlib.Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    from safetensors.torch import save_file
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous() for k, v in tensors.items()}, str(path),
              metadata={"format": "pt", **metadata})
