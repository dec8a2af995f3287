#!/usr/bin/env python3
"""`lmms generate --data` against transformers' generate(): greedy answers of the same model
(base, or base + PEFT adapter) to each sample's first user turn must be the same text (cut at
"USER", lmms's default stop string for the llava format). LLaVA-1.5 / NeXT / Interleave run
through their AutoProcessor; Qwen2-VL and LLaVA-OneVision through their tokenizer's chat
template, their PIL image processor and their processor's placeholder expansion (their
processors' video processors need torchvision, not installed). Phi-3-Vision (remote code on the
hub) runs through the harness's re-implementation (families/phi3_v_model.py): lmms's phi3-v
prompt (the chat template with <|image_k|> where the <image> placeholders are), Phi3VProcessor's
inputs and a greedy loop without cache that stops at <|end|> or <|endoftext|>. Qwen-VL-Chat (remote
code, model_type qwen) runs through families/qwen_vl_model.py: lmms's qwen-vl prompt (the optional
system turn and the user turn as families/chat.py's qwen_vl_reference renders them, each <image>
as "Picture k: <img>IMAGE_FOLDER/file</img>\n", then "<|im_start|>assistant\n"), the images read
from the paths in the ids as the remote code reads them, a greedy loop without cache that stops at
<|im_end|> or <|endoftext|>, and QWenTokenizer's decode (ids below <|endoftext|>).

    python tests/reference/check_generate.py LMMS_JSONL MODEL_DIR DATA_FILE IMAGE_FOLDER MAX_NEW [ADAPTER_DIR]
"""
import json
import pathlib
import sys

import torch
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor


class Qwen2VLInputs:
    """Qwen2VLProcessor's image path: chat template text, patches and grids, each <|image_pad|>
    repeated grid.prod() / merge**2 times, mm_token_type_ids (1 on image tokens)."""

    def __init__(self, model_dir: str):
        from transformers import AutoTokenizer, Qwen2VLImageProcessorPil
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.image_processor = Qwen2VLImageProcessorPil.from_pretrained(model_dir)

    def apply_chat_template(self, messages, **kwargs):
        return self.tokenizer.apply_chat_template(messages, **kwargs)

    def __call__(self, text, images=None, return_tensors="pt"):
        pad = self.tokenizer.convert_tokens_to_ids("<|image_pad|>")
        out, counts = {}, []
        if images:
            feats = self.image_processor(images, return_tensors="pt")
            out = {"pixel_values": feats["pixel_values"], "image_grid_thw": feats["image_grid_thw"]}
            counts = [int(g.prod()) // self.image_processor.merge_size ** 2 for g in feats["image_grid_thw"]]
        ids = []
        for t in self.tokenizer(text[0], add_special_tokens=False)["input_ids"]:
            ids += [pad] * counts.pop(0) if t == pad else [t]
        out["input_ids"] = torch.tensor([ids])
        out["attention_mask"] = torch.ones_like(out["input_ids"])
        out["mm_token_type_ids"] = (out["input_ids"] == pad).long()
        return out


class OnevisionInputs:
    """LlavaOnevisionProcessor's image path: chat template text, anyres tiles, each <image>
    repeated as its replace_image_token counts (the processor object is made without the video
    processor its constructor insists on)."""

    def __init__(self, model_dir: str):
        from transformers import AutoTokenizer, LlavaOnevisionImageProcessorPil, LlavaOnevisionProcessor
        config = json.loads((pathlib.Path(model_dir) / "config.json").read_text())
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.chat_template = (pathlib.Path(model_dir) / "chat_template.jinja").read_text()
        self.image_processor = LlavaOnevisionImageProcessorPil.from_pretrained(model_dir)
        p = LlavaOnevisionProcessor.__new__(LlavaOnevisionProcessor)
        p.image_processor, p.tokenizer = self.image_processor, self.tokenizer
        v = config["vision_config"]
        p.num_image_tokens = (v["image_size"] // v["patch_size"]) ** 2
        p.vision_feature_select_strategy = config.get("vision_feature_select_strategy", "full")
        p.vision_aspect_ratio = config.get("vision_aspect_ratio", "anyres_max_9")
        p.image_token, p.image_token_id = "<image>", config["image_token_index"]
        self.processor = p

    def apply_chat_template(self, messages, **kwargs):
        return self.tokenizer.apply_chat_template(messages, chat_template=self.chat_template, **kwargs)

    def __call__(self, text, images=None, return_tensors="pt"):
        image_id = self.processor.image_token_id
        out, counts = {}, []
        if images:
            feats = self.image_processor([images], return_tensors="pt")
            out = {k: feats[k] for k in ("pixel_values", "image_sizes")}
            out["batch_num_images"] = torch.tensor([len(images)])
            counts = [len(self.processor.replace_image_token(dict(feats), k)) // len("<image>") for k in range(len(images))]
        ids = []
        for t in self.tokenizer(text[0], add_special_tokens=False)["input_ids"]:
            ids += [image_id] * counts.pop(0) if t == image_id else [t]
        out["input_ids"] = torch.tensor([ids])
        out["attention_mask"] = torch.ones_like(out["input_ids"])
        return out


class MllamaInputs:
    """MllamaProcessor's path: lmms's Llama-3.2-Vision format (tests/reference/templates), tiles
    from MllamaImageProcessorPil, the cross-attention mask from processing_mllama's functions."""

    def __init__(self, model_dir: str):
        from transformers import AutoTokenizer, MllamaImageProcessorPil
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.image_processor = MllamaImageProcessorPil.from_pretrained(model_dir)
        self.template = (pathlib.Path(__file__).parent / "templates" / "llama-3.2-vision.lmms.jinja").read_text()

    def apply_chat_template(self, messages, **kwargs):
        return self.tokenizer.apply_chat_template(messages, chat_template=self.template, date_string="26 Jul 2024", **kwargs)

    def __call__(self, text, images=None, return_tensors="pt"):
        from transformers.models.mllama.processing_mllama import (convert_sparse_cross_attention_mask_to_dense,
                                                                  get_cross_attention_token_mask)
        ids = self.tokenizer(text[0], add_special_tokens=False)["input_ids"]
        out = {"input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, len(ids), dtype=torch.long)}
        if images:
            feats = self.image_processor([images], return_tensors="pt")
            out.update({k: feats[k] for k in ("pixel_values", "aspect_ratio_ids", "aspect_ratio_mask")})
            image_id = self.tokenizer.convert_tokens_to_ids("<|image|>")
            out["cross_attention_mask"] = torch.from_numpy(convert_sparse_cross_attention_mask_to_dense(
                [get_cross_attention_token_mask(ids, image_id)], feats["num_tiles"],
                max_num_tiles=self.image_processor.max_image_tiles, length=len(ids)))
        return out


class Phi3VInputs:
    """Phi3VProcessor (families/phi3_v_model.py, num_crops from preprocessor_config.json) and the
    tokenizer with its chat template (tokenizer_config.json)."""

    def __init__(self, model_dir: str):
        from transformers import AutoTokenizer

        import families.phi3_v_model  # noqa: F401  (registers phi3_v with AutoConfig)
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        processor_config = json.loads((pathlib.Path(model_dir) / "preprocessor_config.json").read_text())
        self.num_crops = processor_config.get("num_crops", 16)

    def prompt(self, sample: dict, question: str) -> str:
        """lmms's phi3-v format of the first user turn: <image> -> <|image_k|> in place."""
        k = 0
        while "<image>" in question:
            k += 1
            question = question.replace("<image>", f"<|image_{k}|>", 1)
        messages = ([{"role": "system", "content": sample["system_prompt"]}]
                    if sample.get("system_prompt") is not None else []) + [{"role": "user", "content": question}]
        return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    def __call__(self, text, images=None, return_tensors="pt"):
        from families.phi3_v_model import processor_inputs
        return processor_inputs(self.tokenizer, text[0], images or [], self.num_crops)


def qwen_vl_answer(model, enc, sample: dict, image_folder: str, max_new: int) -> str:
    """Greedy answer of Qwen-VL-Chat to the sample's first user turn in lmms's qwen-vl format."""
    import os

    from families.chat import qwen_vl_reference
    from families.qwen_vl_model import decode, greedy, pixel_values_from_ids
    from families.tokenizers import qwen_vl_encode
    question = sample["conversations"][0]["value"]
    files = sample.get("image", [])
    files = [files] if isinstance(files, str) else files
    paths = [os.path.join(image_folder, f) for f in files[:question.count("<image>")]]  # image_folder / file
    rendered = qwen_vl_reference(enc, {"system_prompt": sample.get("system_prompt"), "conversations": [question]},
                                 paths, True)
    ids = torch.tensor([rendered["input_ids"] + qwen_vl_encode(enc, "<|im_start|>assistant\n")])
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    pixels = pixel_values_from_ids(ids, model.config.visual["image_start_id"], model.config.visual["image_size"])
    if pixels is not None:
        batch["pixel_values"] = pixels
    stop = {enc.encode_single_token(t) for t in ("<|im_end|>", "<|endoftext|>")}
    return decode(enc, greedy(model, batch, max_new, stop)[0], skip_special_tokens=True)


def main() -> int:
    lmms_out, model_dir, data_file, image_folder, max_new = sys.argv[1:6]
    adapter = sys.argv[6] if len(sys.argv) > 6 else None
    model_type = json.loads((pathlib.Path(model_dir) / "config.json").read_text())["model_type"]
    if model_type == "qwen":  # Qwen-VL-Chat: no processor, a tiktoken tokenizer
        from families.qwen_vl_model import QWenLMHeadModel, load_tiktoken
        enc = load_tiktoken(pathlib.Path(model_dir) / "qwen.tiktoken")
        model = QWenLMHeadModel.from_pretrained(model_dir, dtype=torch.float32)
        if adapter:
            from peft import PeftModel
            model = PeftModel.from_pretrained(model, adapter)
        model.eval()
        samples = json.loads(pathlib.Path(data_file).read_text())
        answers = [json.loads(line) for line in pathlib.Path(lmms_out).read_text().splitlines() if line.strip()]
        failures = 0
        for got in answers:
            want = qwen_vl_answer(model, enc, samples[got["index"]], image_folder, int(max_new))
            if want != got["answer"]:
                print(f"FAIL sample {got['index']}: python {want!r}, lmms {got['answer']!r}")
                failures += 1
        print(f"{len(answers)} greedy answers compared with the Python model's" + (" (base + peft adapter)" if adapter else ""))
        print(f"{len(answers) - failures} passed, {failures} failed")
        return 1 if failures or not answers else 0
    qwen = model_type in ("qwen2_vl", "qwen2_5_vl")
    if qwen:
        processor = Qwen2VLInputs(model_dir)
    elif model_type == "llava_onevision":
        processor = OnevisionInputs(model_dir)
    elif model_type == "mllama":
        processor = MllamaInputs(model_dir)
    elif model_type == "phi3_v":
        processor = Phi3VInputs(model_dir)
    else:
        processor = AutoProcessor.from_pretrained(model_dir)
    if model_type == "phi3_v":
        from families.phi3_v_model import Phi3VForCausalLM, greedy
        model = Phi3VForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
        stop = {processor.tokenizer.convert_tokens_to_ids(t) for t in ("<|end|>", "<|endoftext|>")}
    else:
        model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32)
    if adapter:
        from peft import PeftModel
        model = PeftModel.from_pretrained(model, adapter)
    model.eval()
    samples = json.loads(pathlib.Path(data_file).read_text())
    answers = [json.loads(line) for line in pathlib.Path(lmms_out).read_text().splitlines() if line.strip()]
    failures = 0
    for got in answers:
        sample = samples[got["index"]]
        question = sample["conversations"][0]["value"]
        n_images = question.count("<image>")
        content = [{"type": "image"}] * n_images + [{"type": "text", "text": question.replace("<image>", "").strip()}]
        messages = ([{"role": "system", "content": [{"type": "text", "text": sample["system_prompt"]}]}]
                    if sample.get("system_prompt") else []) + [{"role": "user", "content": content}]
        if model_type == "phi3_v":
            prompt = processor.prompt(sample, question)
        else:
            prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        files = sample.get("image", [])
        files = [files] if isinstance(files, str) else files
        images = [Image.open(pathlib.Path(image_folder) / f).convert("RGB") for f in files[:n_images]]
        batch = processor(text=[prompt], images=images or None, return_tensors="pt")
        if model_type == "phi3_v":
            new_ids = greedy(model, batch, int(max_new), stop)[0]
        else:
            with torch.no_grad():
                out = model.generate(**batch, do_sample=False, max_new_tokens=int(max_new))
            new_ids = out[0, batch["input_ids"].shape[1]:]
        want = processor.tokenizer.decode(new_ids, skip_special_tokens=True)
        if model_type not in ("mllama", "phi3_v") and not qwen:
            want = want.split("USER")[0]  # lmms generate's default stop string for the llava format
        if want != got["answer"]:
            print(f"FAIL sample {got['index']}: transformers {want!r}, lmms {got['answer']!r}")
            failures += 1
    print(f"{len(answers)} greedy answers compared with transformers' generate()"
          + (" (base + peft adapter)" if adapter else ""))
    print(f"{len(answers) - failures} passed, {failures} failed")
    return 1 if failures or not answers else 0


if __name__ == "__main__":
    sys.exit(main())
