#!/usr/bin/env python3
"""Writes the tiny LLaVA-family models the llava_next / llava_interleave / llava_onevision
recipes fine-tune on the shapes data, random init (seed 2026), in Hugging Face format:

  tiny-llava-next-shapes        LlavaNextForConditionalGeneration: CLIP (56 px tiles, 14 px
                                patches) + Llama, llava-1.6's grid pinpoints scaled to 56 px
                                (a 64x64 picture: 5 tiles, 88 image tokens), the Llama-2-style
                                tokenizer of tiny-llava-shapes, the llava chat template
  tiny-llava-next-video-shapes  LlavaNextVideoForConditionalGeneration: the same as next, videos
                                as frames average-pooled 2x2 (a 64x64 frame: 4 tokens), the
                                llava-next-video template, <video> in the tokenizer
  tiny-llava-interleave-shapes  LlavaForConditionalGeneration with SigLIP (56 px, 16 tokens per
                                image) + Qwen2 (tied embeddings), a Qwen2-style tokenizer with
                                <image> and <video>
  tiny-llava-onevision-shapes   LlavaOnevisionForConditionalGeneration: SigLIP + Qwen2,
                                OneVision's 6x6 pinpoints scaled to 56 px, anyres_max_9

    python tools/gen/tiny_llava_family_shapes.py KIND [OUT_DIR]   (KIND: next, next-video, interleave, onevision)

The files are committed; this only reruns when they change.
"""
import json
import pathlib
import sys

import torch

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "reference"))

from families import common  # noqa: E402  (the tokenizer builders of the reference harness)
from families import tokenizers as tokenizer_kinds  # noqa: E402

TEMPLATES = ROOT / "tests" / "reference" / "templates"
TILE, PATCH = 56, 14


def shapes_texts() -> list[str]:
    texts = []
    for split in ("train", "eval"):
        for s in json.loads((ROOT / "example_data" / "shapes" / f"{split}.json").read_text()):
            texts += [t["value"].replace("<image>\n", "") for t in s["conversations"]]
    return sorted(set(texts))


def main() -> int:
    from transformers import (CLIPVisionConfig, LlamaConfig, LlamaTokenizer, LlavaConfig, LlavaForConditionalGeneration,
                              LlavaNextConfig, LlavaNextForConditionalGeneration, LlavaNextImageProcessorPil,
                              LlavaNextProcessor, LlavaNextVideoConfig, LlavaNextVideoForConditionalGeneration,
                              LlavaOnevisionConfig, LlavaOnevisionForConditionalGeneration,
                              LlavaOnevisionImageProcessorPil, LlavaProcessor, Qwen2Config, Qwen2TokenizerFast,
                              SiglipImageProcessorPil, SiglipVisionConfig)

    kind = sys.argv[1] if len(sys.argv) > 1 else ""
    if kind not in ("next", "next-video", "interleave", "onevision"):
        print(__doc__)
        return 2
    out = pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else ROOT / "example_data" / "models" / f"tiny-llava-{kind}-shapes")
    texts = shapes_texts()
    if kind in ("next", "next-video"):
        common.CORPUS = texts * 4 + common.CORPUS
        extra = ["<image>", "<pad>"] + (["<video>"] if kind == "next-video" else [])
        tok = common.llama_sentencepiece_bpe(extra_special=extra, vocab_size=400)
        tokenizer = LlamaTokenizer(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>", add_bos_token=True, add_eos_token=False, model_max_length=512)
        pinpoints = [[TILE, 2 * TILE], [2 * TILE, TILE], [2 * TILE, 2 * TILE], [3 * TILE, TILE], [TILE, 3 * TILE]]
        image_processor = LlavaNextImageProcessorPil(size={"shortest_edge": TILE}, crop_size={"height": TILE, "width": TILE},
                                                     image_grid_pinpoints=pinpoints)
        template = (TEMPLATES / ("llava-1.5.jinja" if kind == "next" else "llava-next-video.jinja")).read_text()
        processor = LlavaNextProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=PATCH,
                                       vision_feature_select_strategy="default", num_additional_image_tokens=1,
                                       chat_template=template)
        vision = CLIPVisionConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                                  image_size=TILE, patch_size=PATCH, projection_dim=64, hidden_act="quick_gelu")
        text = LlamaConfig(vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256, num_hidden_layers=4,
                           num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, rms_norm_eps=1e-5,
                           pad_token_id=tokenizer.pad_token_id, bos_token_id=1, eos_token_id=2, tie_word_embeddings=False)
        config = dict(vision_config=vision, text_config=text, image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
                      vision_feature_layer=-2, vision_feature_select_strategy="default", image_grid_pinpoints=pinpoints,
                      tie_word_embeddings=False)
        if kind == "next":
            config, model_class = LlavaNextConfig(**config), LlavaNextForConditionalGeneration
        else:  # LlavaNextVideoProcessor needs torchvision: the image processor and template are saved as for next
            config = LlavaNextVideoConfig(**config, video_token_index=tokenizer.convert_tokens_to_ids("<video>"),
                                          spatial_pool_mode="average", spatial_pool_stride=2)
            model_class = LlavaNextVideoForConditionalGeneration
    else:
        tokenizer_kinds.train_text = lambda seed=7: texts * 8 + ["system user assistant"] * 8
        tok = tokenizer_kinds.byte_level_tokenizer(tokenizer_kinds.QWEN2_PATTERN,
                                                   tokenizer_kinds.QWEN2_SPECIAL + ["<image>", "<video>"], 700,
                                                   ignore_merges=False, nfc=True, bos=None, trim_offsets=False)
        tokenizer = Qwen2TokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                       unk_token=None, bos_token=None, model_max_length=512)
        vision = SiglipVisionConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                                    image_size=TILE, patch_size=PATCH, vision_use_head=False)
        text = Qwen2Config(vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256, num_hidden_layers=4,
                           num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, rms_norm_eps=1e-6,
                           pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
                           tie_word_embeddings=True)
        image_id = tokenizer.convert_tokens_to_ids("<image>")
        if kind == "interleave":
            template = (TEMPLATES / "llava-interleave.lmms-finetune.jinja").read_text()
            image_processor = SiglipImageProcessorPil(size={"height": TILE, "width": TILE})
            processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=PATCH,
                                       vision_feature_select_strategy="full", num_additional_image_tokens=0,
                                       chat_template=template)
            config = LlavaConfig(vision_config=vision, text_config=text, image_token_index=image_id,
                                 vision_feature_layer=-1, vision_feature_select_strategy="full",
                                 image_seq_length=(TILE // PATCH) ** 2, tie_word_embeddings=True)
            model_class = LlavaForConditionalGeneration
        else:
            template = (TEMPLATES / "llava-onevision.lmms-finetune.jinja").read_text()
            pinpoints = [[TILE * i, TILE * j] for i in range(1, 7) for j in range(1, 7)]
            image_processor = LlavaOnevisionImageProcessorPil(size={"height": TILE, "width": TILE},
                                                              image_grid_pinpoints=pinpoints,
                                                              image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
            processor = None  # LlavaOnevisionProcessor needs its video processor (torchvision): files written below
            config = LlavaOnevisionConfig(vision_config=vision, text_config=text, image_token_index=image_id,
                                          video_token_index=tokenizer.convert_tokens_to_ids("<video>"),
                                          vision_feature_layer=-1, vision_feature_select_strategy="full",
                                          vision_aspect_ratio="anyres_max_9", image_grid_pinpoints=pinpoints,
                                          tie_word_embeddings=True)
            model_class = LlavaOnevisionForConditionalGeneration
    torch.manual_seed(2026)
    model = model_class(config).eval()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(out)
    if processor is not None:
        processor.save_pretrained(out)
    else:
        tokenizer.save_pretrained(out)
        image_processor.save_pretrained(out)
        (out / "chat_template.jinja").write_text(template)
    params = sum(p.numel() for p in model.parameters())
    print(f"wrote {out}: {params / 1e6:.2f} M parameters, vocabulary {len(tokenizer)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
