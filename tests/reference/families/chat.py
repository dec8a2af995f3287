"""The reference pipeline for chat rendering: LLaVA-style samples -> input ids and labels, as
lmms-finetune's collators compute them (before vision-token expansion, padding and
truncation), with the bugs lmms fixes fixed (docs/dataset.md lists them).

Template families run the real chat templates (tests/reference/templates/) through
transformers' own `render_jinja_template` with generation spans, tokenize with HF `tokenizers`
and build the assistant mask exactly as `apply_chat_template(return_assistant_tokens_mask=True)`
does; the llava family adds BOS / EOS (lmms-finetune's add_eos_token + add_special_tokens
monkey patch) and labels the final token. Qwen2-VL is chatml built by hand in lmms-finetune;
here each sample's text is also rendered by the official Qwen2-VL chat template to check that
lmms produces the format the model was trained with.

Phi-3-Vision ("phi3-v") is lmms-finetune's per-turn processor calls (phi3_v_reference).

Writes out/text/chat/<format>.json: [{sample, mask_question_tokens, text, input_ids, labels}].
Needs the tokenizers family (out/text/<kind>/tokenizer.json).
"""
from __future__ import annotations

import json
import pathlib
import re

from tokenizers import AddedToken, Tokenizer, processors
from transformers.utils.chat_template_utils import render_jinja_template

TEMPLATES = pathlib.Path(__file__).resolve().parent.parent / "templates"
IGNORE = -100

SAMPLES = [
    {"system_prompt": None, "conversations": ["<image>\nWhat shape is this?", "A red circle."]},
    {"system_prompt": "You describe pictures briefly.", "conversations": ["What is in <image> the picture?", "Two squares."]},
    {"system_prompt": None, "conversations": ["<image>\n<image>\nCompare the two images.", "The first is larger.",
                                              "  Which one is blue?  ", "The second one."]},
    {"system_prompt": "Be brief.", "conversations": ["Hello!", "Hi, how can I help?", "Count to three.", "1, 2, 3."]},
    {"system_prompt": None, "conversations": ["<video>\nWhat happens in the video?", "A ball bounces."]},
    {"system_prompt": None, "conversations": ["<image>\n<video>\nIs the object in the image in the video?", "Yes."]},
    {"system_prompt": None, "conversations": ["<image>Describe. 日本語 ok?", "はい、大丈夫です 👍", "<image>\nAnd this one?", "Ein Dreieck."]},
    {"system_prompt": "Système: réponds en français.", "conversations": ["\tQuelle couleur ?\n", "Vert.\n"]},
]
# more for Llama-3.2-Vision, where a system prompt and an image never meet
LLAMA3_VISION_SAMPLES = [
    {"system_prompt": None, "conversations": ["Look: <image> and <image>\nwhich is bigger?", "The left one.",
                                              "Why?", " Its side is longer. "]},
    {"system_prompt": "  You answer in one word.  ", "conversations": ["Capital of France?", "Paris"]},
]
FORMATS = {
    # format: (tokenizer kind, template file, add BOS/EOS + label last, sample filter)
    "llava": ("llama2", "llava-next-video.jinja", True, lambda s: True),
    "llava-interleave": ("qwen2-llava", "llava-interleave.lmms-finetune.jinja", False,
                         lambda s: not any("<video>" in t for t in s["conversations"])),
    "llava-onevision": ("qwen2-llava", "llava-onevision.lmms-finetune.jinja", False, lambda s: True),
}


def hf_messages(sample: dict) -> list[dict]:
    """lmms-finetune's message list: placeholders counted, removed, text stripped."""
    messages = []
    if sample["system_prompt"] is not None:
        messages.append({"role": "system", "content": [{"type": "text", "text": sample["system_prompt"]}]})
    for i, text in enumerate(sample["conversations"]):
        if i % 2 == 0:
            n_img = len(re.findall("<image>", text))
            n_vid = len(re.findall("<video>", text))
            text = text.replace("<image>", "").replace("<video>", "").strip()
            messages.append({"role": "user", "content": [{"type": "text", "text": text}] + [{"type": "image"}] * n_img
                             + [{"type": "video"}] * n_vid})
        else:
            messages.append({"role": "assistant", "content": [{"type": "text", "text": text}]})
    return messages


def template_reference(tok: Tokenizer, template: str, with_special: bool, sample: dict, mask_questions: bool) -> dict:
    rendered, generation_indices = render_jinja_template(
        conversations=[hf_messages(sample)], chat_template=template, return_assistant_tokens_mask=True)
    text = rendered[0]
    enc = tok.encode(text, add_special_tokens=with_special)
    ids = enc.ids
    mask = [0] * len(ids)
    for start_char, end_char in generation_indices[0]:  # as transformers' apply_chat_template
        start_token = enc.char_to_token(start_char)
        end_token = enc.char_to_token(end_char - 1)
        if start_token is None:
            break
        for t in range(start_token, end_token + 1 if end_token else len(ids)):
            mask[t] = 1
    if with_special:
        mask[-1] = 1  # lmms-finetune's "dirty hack": the final EOS is a label
    labels = [i if (m or not mask_questions) else IGNORE for i, m in zip(ids, mask)]
    return {"text": text, "input_ids": ids, "labels": labels}


def qwen2_vl_reference(tok: Tokenizer, sample: dict, mask_questions: bool) -> dict:
    system = sample["system_prompt"] if sample["system_prompt"] is not None else "You are a helpful assistant."
    segments = [(f"<|im_start|>system\n{system}<|im_end|>\n", False)]
    conv = sample["conversations"]
    for i in range(0, len(conv), 2):
        user = conv[i].replace("<image>\n", "<image>").replace("<video>\n", "<video>")
        user = user.replace("<image>", "<|vision_start|><|image_pad|><|vision_end|>")
        user = user.replace("<video>", "<|vision_start|><|video_pad|><|vision_end|>")
        segments.append((f"<|im_start|>user\n{user}<|im_end|>\n", False))
        segments.append((f"<|im_start|>assistant\n{conv[i + 1]}<|im_end|>\n", True))
    ids, labels = [], []
    for text, supervised in segments:
        seg = tok.encode(text, add_special_tokens=False).ids
        ids += seg
        labels += seg if (supervised or not mask_questions) else [IGNORE] * len(seg)
    text = "".join(s for s, _ in segments)
    # The same conversation through the official Qwen2-VL chat template must give the same text.
    messages = [{"role": "system", "content": system}] + [
        {"role": "user" if i % 2 == 0 else "assistant",
         "content": t.replace("<image>\n", "<image>").replace("<video>\n", "<video>")
                     .replace("<image>", "<|vision_start|><|image_pad|><|vision_end|>")
                     .replace("<video>", "<|vision_start|><|video_pad|><|vision_end|>")}
        for i, t in enumerate(conv)]
    official, _ = render_jinja_template(conversations=[messages], chat_template=(TEMPLATES / "qwen2-vl.jinja").read_text())
    assert official[0] == text, f"lmms Qwen2-VL text differs from the official template:\n{official[0]!r}\n{text!r}"
    return {"text": text, "input_ids": ids, "labels": labels}


def qwen_vl_reference(enc, sample: dict, image_paths: list[str], mask_questions: bool) -> dict:
    """lmms-finetune's Qwen-VL collator (labels as Qwen's finetune.py), with its tokenizer calls
    done by the Qwen-VL tokenizer behaviour of families/tokenizers.py."""
    from families.tokenizers import qwen_vl_encode
    tok = lambda s: qwen_vl_encode(enc, s)  # noqa: E731
    im_start, im_end = enc.encode_single_token("<|im_start|>"), enc.encode_single_token("<|im_end|>")
    nl = tok("\n")
    ids, labels, text_out = [], [], ""
    if sample["system_prompt"] is not None:
        system = [im_start] + tok("system") + nl + tok(sample["system_prompt"]) + [im_end] + nl
        ids += system
        labels += [im_start] + [IGNORE] * (len(system) - 3) + [im_end] + nl
        text_out += f"<|im_start|>system\n{sample['system_prompt']}<|im_end|>\n"
    image = 0
    for i, text in enumerate(sample["conversations"]):
        while "<image>" in text:
            at = text.index("<image>")
            text = text[:at] + f"Picture {image + 1}: <img>{image_paths[image]}</img>\n" + text[at + len("<image>"):]
            image += 1
        role = "<|im_start|>user" if i % 2 == 0 else "<|im_start|>assistant"
        seq = tok(role) + nl + tok(text) + [im_end] + nl
        ids += seq
        if i % 2 == 0:
            labels += [im_start] + [IGNORE] * (len(seq) - 3) + [im_end] + nl
        else:
            labels += [im_start] + [IGNORE] * len(tok(role)) + seq[len(tok(role)) + 1:-2] + [im_end] + nl
        text_out += role + "\n" + text + "<|im_end|>\n"
    assert image == len(image_paths)
    if not mask_questions:
        labels = ids[:]
    return {"text": text_out, "input_ids": ids, "labels": labels}


def llama3_vision_messages(sample: dict) -> list[dict]:
    """lmms's Llama-3.2-Vision messages: user text with "<image>\\n" / "<image>" as image parts
    where they are (stripped as a whole), assistant answers as they are."""
    messages = []
    if sample["system_prompt"] is not None:
        messages.append({"role": "system", "content": sample["system_prompt"]})
    for i, text in enumerate(sample["conversations"]):
        if i % 2:
            messages.append({"role": "assistant", "content": text})
            continue
        text = text.replace("<image>\n", "<image>").strip()
        parts = []
        for k, piece in enumerate(text.split("<image>")):
            if k:
                parts.append({"type": "image"})
            if piece:
                parts.append({"type": "text", "text": piece})
        messages.append({"role": "user", "content": parts})
    return messages


def llama3_vision_reference(tok: Tokenizer, sample: dict, mask_questions: bool) -> dict:
    rendered, generation_indices = render_jinja_template(
        conversations=[llama3_vision_messages(sample)], return_assistant_tokens_mask=True,
        chat_template=(TEMPLATES / "llama-3.2-vision.lmms.jinja").read_text(), bos_token="<|begin_of_text|>",
        date_string="26 Jul 2024")
    text = rendered[0]
    enc = tok.encode(text, add_special_tokens=False)
    mask = [0] * len(enc.ids)
    for start_char, end_char in generation_indices[0]:
        for t in range(enc.char_to_token(start_char), enc.char_to_token(end_char - 1) + 1):
            mask[t] = 1
    labels = [i if (m or not mask_questions) else IGNORE for i, m in zip(enc.ids, mask)]
    return {"text": text, "input_ids": enc.ids, "labels": labels}


PHI3_V_IMAGE_TAG = r"<\|image_\d+\|>"


def phi3_v_reference(tok: Tokenizer, sample: dict, mask_questions: bool) -> dict:
    """lmms's Phi-3-Vision format ("phi3-v"), as lmms-finetune's collator builds it with the bugs
    fixed: images numbered 1, 2, ... over the whole sample, each <image> replaced in place by
    <|image_k|>; each user turn rendered by the Phi-3-V chat template with the generation prompt
    (the system message before turn 0) and tokenized as Phi3VProcessor does (split at the image
    tags, every chunk with BOS, one id -k per tag here, before the expansion to num_img_tokens);
    each answer + "<|end|>\\n<|endoftext|>" without special tokens, every token a label. Prompt
    tokens are labels only with mask_questions False, image ids never."""
    template = (TEMPLATES / "phi3-v.jinja").read_text()
    ids: list[int] = []
    labels: list[int] = []
    texts: list[str] = []
    image = 0
    conv = sample["conversations"]
    for i in range(0, len(conv), 2):
        user = conv[i]
        while "<image>" in user:
            image += 1
            user = user.replace("<image>", f"<|image_{image}|>", 1)
        messages = [{"role": "user", "content": user}]
        if i == 0 and sample["system_prompt"] is not None:
            messages.insert(0, {"role": "system", "content": sample["system_prompt"]})
        rendered, _ = render_jinja_template(conversations=[messages], chat_template=template, add_generation_prompt=True)
        prompt = rendered[0]
        chunks = re.split(PHI3_V_IMAGE_TAG, prompt)
        tags = [int(t) for t in re.findall(r"<\|image_(\d+)\|>", prompt)]
        segment: list[int] = []
        for j, chunk in enumerate(chunks):
            segment += tok.encode(chunk, add_special_tokens=True).ids
            if j < len(tags):
                segment.append(-tags[j])
        ids += segment
        labels += [IGNORE if (mask_questions or t < 0) else t for t in segment]
        answer = conv[i + 1] + "<|end|>\n<|endoftext|>"
        answer_ids = tok.encode(answer, add_special_tokens=False).ids
        ids += answer_ids
        labels += answer_ids
        texts += [prompt, answer]
    return {"text": "".join(texts), "input_ids": ids, "labels": labels}


def make(out: pathlib.Path) -> dict:
    text_dir = out / "text"
    chat_dir = text_dir / "chat"
    chat_dir.mkdir(parents=True, exist_ok=True)
    # llava-interleave / onevision: the Qwen2 tokenizer plus their <image> and <video> tokens
    qwen2_llava = Tokenizer.from_file(str(text_dir / "qwen2" / "tokenizer.json"))
    qwen2_llava.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in ("<image>", "<video>")])
    (text_dir / "qwen2-llava").mkdir(exist_ok=True)
    qwen2_llava.save(str(text_dir / "qwen2-llava" / "tokenizer.json"))
    summary = {}
    for name, (kind, template_file, special, keep) in FORMATS.items():
        tok = Tokenizer.from_file(str(text_dir / kind / "tokenizer.json"))
        if special:  # add_eos_token=True: "<s> $A </s>"
            tok.post_processor = processors.TemplateProcessing(
                single="<s> $A </s>", special_tokens=[("<s>", tok.token_to_id("<s>")), ("</s>", tok.token_to_id("</s>"))])
        template = (TEMPLATES / template_file).read_text()
        cases = [{"sample": s, "mask_question_tokens": m, **template_reference(tok, template, special, s, m)}
                 for s in SAMPLES if keep(s) for m in (True, False)]
        (chat_dir / f"{name}.json").write_text(json.dumps({"tokenizer": kind, "cases": cases}, ensure_ascii=False, indent=1))
        summary[name] = len(cases)
    tok = Tokenizer.from_file(str(text_dir / "qwen2" / "tokenizer.json"))
    cases = [{"sample": s, "mask_question_tokens": m, **qwen2_vl_reference(tok, s, m)} for s in SAMPLES for m in (True, False)]
    (chat_dir / "qwen2-vl.json").write_text(json.dumps({"tokenizer": "qwen2", "cases": cases}, ensure_ascii=False, indent=1))
    summary["qwen2-vl"] = len(cases)

    from families.tokenizers import qwen_vl_tiktoken
    enc, _ = qwen_vl_tiktoken(Tokenizer.from_file(str(text_dir / "qwen2" / "tokenizer.json")))
    cases = []
    for s in SAMPLES:
        if any("<video>" in t for t in s["conversations"]):
            continue
        n = sum(t.count("<image>") for t in s["conversations"])
        paths = [f"images/{k}.png" for k in range(n)]
        for m in (True, False):
            cases.append({"sample": {**s, "image": paths}, "mask_question_tokens": m,
                          **qwen_vl_reference(enc, s, paths, m)})
    (chat_dir / "qwen-vl.json").write_text(json.dumps({"tokenizer": "qwen-vl", "cases": cases}, ensure_ascii=False, indent=1))
    summary["qwen-vl"] = len(cases)

    # Llama-3.2-Vision: no video; a system prompt with images is refused (tested in C++)
    tok = Tokenizer.from_file(str(text_dir / "llama3" / "tokenizer.json"))
    keep = [s for s in SAMPLES + LLAMA3_VISION_SAMPLES if not any("<video>" in t for t in s["conversations"])
            and not (s["system_prompt"] and any("<image>" in t for t in s["conversations"]))]
    cases = [{"sample": s, "mask_question_tokens": m, **llama3_vision_reference(tok, s, m)} for s in keep for m in (True, False)]
    (chat_dir / "llama-3.2-vision.json").write_text(
        json.dumps({"tokenizer": "llama3", "cases": cases}, ensure_ascii=False, indent=1))
    summary["llama-3.2-vision"] = len(cases)

    # Phi-3-Vision: the phi3-v test tokenizer (made by the tokenizers family); no video
    tok = Tokenizer.from_file(str(text_dir / "phi3-v" / "tokenizer.json"))
    cases = [{"sample": s, "mask_question_tokens": m, **phi3_v_reference(tok, s, m)}
             for s in SAMPLES if not any("<video>" in t for t in s["conversations"]) for m in (True, False)]
    (chat_dir / "phi3-v.json").write_text(json.dumps({"tokenizer": "phi3-v", "cases": cases}, ensure_ascii=False, indent=1))
    summary["phi3-v"] = len(cases)
    return summary
