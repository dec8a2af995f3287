"""Tokenizers of every kind the supported models use, built with the `tokenizers` library to
the specification of the real ones, and what `tokenizers` makes of a 20,000-string corpus.

Writes, under out/text/:
  corpus.json                    the strings (many scripts, emoji, combining marks, whitespace
                                 runs, digits, code, special-token strings, very long words)
  <kind>/tokenizer.json          one tokenizer per kind (see KINDS)
  <kind>/expected.json           per string: ids (add_special_tokens=True), char offsets,
                                 decode(ids), decode(ids, skip_special_tokens=True)
"""
from __future__ import annotations

import json
import pathlib
import random

from families.common import llama_sentencepiece_bpe

QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
                 "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
                 "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"]
LLAMA3_SPECIAL = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                  "<|eot_id|>", "<|image|>", "<|python_tag|>"]
PHI3_SPECIAL = ["<|endoftext|>", "<|assistant|>", "<|system|>", "<|end|>", "<|user|>"]

SCRIPTS = {
    "latin": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZéèêëàâäôöûüçñßøåæœÆØÅ",
    "cyrillic": "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЭЮЯ",
    "greek": "αβγδεζηθικλμνξοπρστυφχψωΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩάέήίόύώ",
    "cjk": "的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出而要于就下得可你年生自会那后能对着事其里所去行过家十用发天如然作方成者多日都三小军二无同么经法当起与好看学进种将还分此心前面又定见只主没公从",
    "hiragana": "あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわをんがぎぐげご",
    "hangul": "가나다라마바사아자차카타파하각난닫랄맘밥삿앙잦찿캌탙팦핳한국어문장",
    "arabic": "ابتثجحخدذرزسشصضطظعغفقكلمنهويءآأؤإئة",
    "devanagari": "अआइईउऊऋएऐओऔकखगघङचछजझञटठडढणतथदधनपफबभमयरलवशषसह्ािीुूृेैोौंः",
    "thai": "กขฃคฅฆงจฉชซฌญฎฏฐฑฒณดตถทธนบปผฝพฟภมยรลวศษสหฬอฮะัาำิีึืุูเแโใไ่้๊๋",
    "hebrew": "אבגדהוזחטיכלמנסעפצקרשת",
}
EMOJI = ["🙂", "👍", "👍🏽", "👨‍👩‍👧", "👩🏿‍💻", "🏳️‍🌈", "❤️", "🇫🇷", "🤖", "🐍", "✨", "1️⃣", "🧑🏻‍🤝‍🧑🏾"]
COMBINING = ["e\u0301", "a\u0308", "o\u0303", "n\u0303", "\u0041\u030A", "i\u0307\u0301", "\u1100\u1161\u11A8",
             "u\u0308\u0304", "\u0915\u093C", "ǅ", "ﬁ", "Ⅻ", "①", "ｶﾀｶﾅ", "ℌ", "㎏"]
WHITESPACE = [" ", "  ", "   ", "\t", "\t\t", "\n", "\n\n", "\r\n", " \n ", "\u00a0", "\u3000", "\u2009", "\u180e",
              "\u200b", "\u2028", " \t \n", "\x0b", "\x0c", "\u0085", "\u202f"]
CODE = ["def f(x):\n    return x ** 2\n", "int main() { return 0; }", "for (auto& [k, v] : m) {}",
        "SELECT * FROM t WHERE a <> 'b';", "<div class=\"x\">&amp;</div>", "x = {'a': [1, 2.5e-3]}",
        "#include <vector>\n", "if a!=b && c||d: pass", "λx.x", "fn main() -> Result<(), E> {}"]
PUNCT = list(".,;:!?()[]{}<>\"'`~@#$%^&*-_=+/\\|") + ["...", "—", "–", "«", "»", "„", "“", "”", "‘", "’", "¿", "¡", "。", "、", "！", "？"]
CONTRACTIONS = ["don't", "I'LL", "we've", "she'd", "it's", "THEY'RE", "I'm", "'s", "o'clock", "rock'n'roll"]


def make_corpus(n: int, specials: list[str], seed: int = 20261125) -> list[str]:
    rng = random.Random(seed)

    def word() -> str:
        script = rng.choice(list(SCRIPTS))
        return "".join(rng.choice(SCRIPTS[script]) for _ in range(rng.randint(1, 9)))

    def piece() -> str:
        r = rng.random()
        if r < 0.40: return word()
        if r < 0.48: return rng.choice(WHITESPACE)
        if r < 0.54: return "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 25)))
        if r < 0.60: return rng.choice(EMOJI)
        if r < 0.66: return rng.choice(COMBINING)
        if r < 0.72: return rng.choice(PUNCT)
        if r < 0.76: return rng.choice(CODE)
        if r < 0.81: return rng.choice(specials)
        if r < 0.86: return rng.choice(CONTRACTIONS)
        if r < 0.90: return chr(rng.choice([rng.randint(0x20, 0x7e), rng.randint(0xa0, 0x2fff), rng.randint(0x3000, 0xd7ff),
                                            rng.randint(0xe000, 0xfffd), rng.randint(0x10000, 0x1faff)]))
        return rng.choice(["the", "a", "of", "and", "image", "picture", "Hello", "world", "USER:", "ASSISTANT:"])

    corpus = ["", " ", "  ", "\n", "a", "Hello world", "hello  world", " leading space", "trailing space ",
              "x" * 1500, "ab" * 700, "9" * 300, "🙂" * 50, "日本語" * 100, " ".join(specials),
              "".join(specials), "<s>" * 5, "e\u0301" * 20]
    while len(corpus) < n:
        k = rng.randint(1, 24)
        sep = rng.choice([" ", "", " ", "\n", " ", ""])
        corpus.append(sep.join(piece() for _ in range(k)))
    return corpus


def train_text(seed: int = 7) -> list[str]:
    """Text the tiny tokenizers learn their merges from (separate from the test corpus)."""
    rng = random.Random(seed)
    lines = []
    for _ in range(3000):
        script = rng.choice(list(SCRIPTS))
        words = ["".join(rng.choice(SCRIPTS[script][:20]) for _ in range(rng.randint(2, 6))) for _ in range(8)]
        lines.append(" ".join(words) + rng.choice([".", "!", "?", "\n", " 123", " the image"]))
    lines += CODE * 20 + [" ".join(CONTRACTIONS)] * 20
    return lines


def byte_level_tokenizer(pattern: str | None, specials: list[str], vocab_size: int, ignore_merges: bool,
                         nfc: bool, bos: str | None, trim_offsets: bool, add_prefix_space: bool = False):
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(ignore_merges=ignore_merges))
    if nfc:
        tok.normalizer = normalizers.NFC()
    if pattern is not None:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    else:  # GPT-2 style: the ByteLevel pre-tokenizer's own regex
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(train_text(), trainer)
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    byte_level_post = processors.ByteLevel(trim_offsets=trim_offsets, add_prefix_space=add_prefix_space)
    if bos:
        tok.post_processor = processors.Sequence([
            byte_level_post,
            processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos} $B",
                                          special_tokens=[(bos, tok.token_to_id(bos))])])
    else:
        tok.post_processor = byte_level_post
    return tok


def metaspace_tokenizer(specials: list[str], rstrip: tuple[str, ...] = ("<|end|>",), vocab_size: int = 600):
    """Phi-3 / Mistral style as transformers 5 writes Llama-family tokenizers: Metaspace
    pre-tokenizer (prepend_scheme 'first', no split), BPE with byte fallback, Metaspace decoder.
    The added tokens in `rstrip` swallow the whitespace after them."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

    base = llama_sentencepiece_bpe(extra_special=[], vocab_size=vocab_size)
    model = json.loads(base.to_str())["model"]
    tok = Tokenizer(models.BPE(vocab=model["vocab"], merges=[tuple(m) for m in model["merges"]], unk_token="<unk>",
                               byte_fallback=True, fuse_unk=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    tok.decoder = decoders.Sequence([decoders.Metaspace(replacement="▁", prepend_scheme="first", split=False),
                                     decoders.ByteFallback(), decoders.Fuse()])
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in ["<unk>", "<s>", "</s>"]])
    tok.add_tokens([AddedToken(s, special=True, normalized=False, rstrip=(s in rstrip)) for s in specials])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)])
    return tok


PHI3_RSTRIP = ("<|assistant|>", "<|system|>", "<|end|>", "<|user|>")


def phi3_v_tokenizer(vocab_size: int = 600):
    """Phi-3-Vision's tokenizer (microsoft/Phi-3-vision-128k-instruct): the phi3 kind with its
    added-token flags: <|assistant|>, <|system|>, <|end|>, <|user|> rstrip, <|endoftext|> not."""
    return metaspace_tokenizer(PHI3_SPECIAL, rstrip=PHI3_RSTRIP, vocab_size=vocab_size)


def kinds():
    return {
        # Llama-2 / Vicuna (llava-1.5, llava-1.6-vicuna, llava-next-video): sentencepiece BPE
        "llama2": (llama_sentencepiece_bpe(extra_special=["<image>", "<pad>", "<video>"]), ["<image>", "<s>", "</s>", "<video>"]),
        # Qwen2 (Qwen2-VL, Qwen2.5-VL, llava-interleave, llava-onevision): NFC + split regex + byte level
        "qwen2": (byte_level_tokenizer(QWEN2_PATTERN, QWEN2_SPECIAL, 3000, ignore_merges=False, nfc=True, bos=None,
                                       trim_offsets=False), QWEN2_SPECIAL),
        # Llama-3 (Llama-3.2-Vision): 1-3 digit groups, ignore_merges, BOS template
        "llama3": (byte_level_tokenizer(LLAMA3_PATTERN, LLAMA3_SPECIAL, 3000, ignore_merges=True, nfc=False,
                                        bos="<|begin_of_text|>", trim_offsets=False), LLAMA3_SPECIAL),
        # Phi-3 style: Metaspace pre-tokenizer, byte fallback, an rstrip added token
        "phi3": (metaspace_tokenizer(PHI3_SPECIAL), PHI3_SPECIAL + ["<s>"]),
        # Phi-3-Vision: the phi3 kind with the real checkpoint's added-token flags (the role tags and
        # <|end|> rstrip, <|endoftext|> does not), BOS "<s> $A"
        "phi3-v": (phi3_v_tokenizer(), PHI3_SPECIAL + ["<s>"]),
        # GPT-2 style byte level with its own regex, prefix space and offset trimming
        "gpt2": (byte_level_tokenizer(None, ["<|endoftext|>"], 2000, ignore_merges=False, nfc=False, bos=None,
                                      trim_offsets=True, add_prefix_space=True), ["<|endoftext|>"]),
    }


def qwen_vl_tiktoken(qwen2_tokenizer):
    """Qwen-VL-Chat's format: a tiktoken vocabulary (single bytes first, then every merge of the
    tiny Qwen2 tokenizer in order) with Qwen's regex and special tokens, and the encode of its
    Python tokenizer (NFC, all specials allowed, <img>path</img> as byte ids padded to 256)."""
    import tiktoken
    from tokenizers import pre_tokenizers

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    byte_of = {chr(c): b for b, c in zip(bs, cs)}
    assert set(byte_of) == set(alphabet)
    model = json.loads(qwen2_tokenizer.to_str())["model"]
    ranks = {bytes([b]): b for b in range(256)}
    for a, b in model["merges"]:
        tok = bytes(byte_of[c] for c in a + b)
        if tok not in ranks:
            ranks[tok] = len(ranks)
    specials = (["<|endoftext|>", "<|im_start|>", "<|im_end|>"] + [f"<|extra_{i}|>" for i in range(205)]
                + ["<ref>", "</ref>", "<box>", "</box>", "<quad>", "</quad>", "<img>", "</img>", "<imgpad>"])
    enc = tiktoken.Encoding("tiny-qwen-vl", pat_str=QWEN2_PATTERN, mergeable_ranks=ranks,
                            special_tokens={t: len(ranks) + i for i, t in enumerate(specials)})
    return enc, ranks


def qwen_vl_encode(enc, text: str) -> list[int]:
    import unicodedata
    ids = enc.encode(unicodedata.normalize("NFC", text), allowed_special="all", disallowed_special=())
    img, img_end, pad = (enc.encode_single_token(t) for t in ("<img>", "</img>", "<imgpad>"))
    out, i = [], 0
    while i < len(ids):
        if ids[i] == img and img_end in ids[i + 1:]:
            j = ids.index(img_end, i + 1)
            url = b"".join(enc.decode_single_token_bytes(t) for t in ids[i + 1:j])
            out += [img] + list(url) + [pad] * (256 - len(url)) + [img_end]
            i = j + 1
        else:
            out.append(ids[i])
            i += 1
    return out


def make(out: pathlib.Path, n: int = 20000) -> dict:
    text_dir = out / "text"
    text_dir.mkdir(parents=True, exist_ok=True)
    all_specials = sorted(set(QWEN2_SPECIAL + LLAMA3_SPECIAL + PHI3_SPECIAL + ["<image>", "<s>", "</s>", "<video>"]))
    corpus = make_corpus(n, all_specials)
    (text_dir / "corpus.json").write_text(json.dumps(corpus, ensure_ascii=False))
    summary = {"strings": len(corpus)}
    kinds_cache = kinds()
    for name, (tok, _) in kinds_cache.items():
        d = text_dir / name
        d.mkdir(exist_ok=True)
        tok.save(str(d / "tokenizer.json"))
        encs = tok.encode_batch(corpus, add_special_tokens=True)
        ids = [e.ids for e in encs]
        expected = {
            "ids": ids,
            "offsets": [[list(o) for o in e.offsets] for e in encs],
            "decoded": tok.decode_batch(ids, skip_special_tokens=False),
            "decoded_skip": tok.decode_batch(ids, skip_special_tokens=True),
        }
        (d / "expected.json").write_text(json.dumps(expected, ensure_ascii=False))
        summary[name] = {"vocab": tok.get_vocab_size(), "tokens": sum(len(i) for i in ids)}

    # Qwen-VL-Chat: qwen.tiktoken + the Python tokenizer's behaviour
    import base64
    enc, ranks = qwen_vl_tiktoken(kinds_cache["qwen2"][0])
    d = text_dir / "qwen-vl"
    d.mkdir(exist_ok=True)
    (d / "qwen.tiktoken").write_text("".join(f"{base64.b64encode(t).decode()} {r}\n" for t, r in ranks.items()))
    vl_corpus = corpus + ["<img>shapes/001.png</img>\nWhat is this?", "Picture 1: <img>/abs/path/ö.jpg</img>\n<ref>cat</ref>",
                          "<img></img>", "unclosed <img> tag", "</img> first"]
    ids = [qwen_vl_encode(enc, s) for s in vl_corpus]
    specials_start = len(ranks)
    expected = {"ids": ids, "decoded": [enc.decode(i, errors="replace") for i in ids],
                "decoded_skip": [enc.decode([t for t in i if t < specials_start], errors="replace") for i in ids]}
    (d / "corpus.json").write_text(json.dumps(vl_corpus, ensure_ascii=False))
    (d / "expected.json").write_text(json.dumps(expected, ensure_ascii=False))
    summary["qwen-vl"] = {"vocab": len(ranks), "tokens": sum(len(i) for i in ids)}
    return summary
