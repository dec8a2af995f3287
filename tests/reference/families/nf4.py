"""bitsandbytes NF4 with double quantization (QLoRA's storage) on reference tensors: what
lmms's nn/nf4.hpp must reproduce bit for bit.

Writes outputs/nf4.safetensors: for each case <c>: <c>.weight, <c>.packed, <c>.absmax (uint8),
<c>.absmax2, <c>.code2, <c>.offset, <c>.dequantized.
"""
from __future__ import annotations

import pathlib

import torch

from families.common import save_outputs


def make(out: pathlib.Path) -> dict:
    import logging
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    from bitsandbytes.backends.default.ops import _dequantize_4bit_compute
    from bitsandbytes.backends.utils import _get_4bit_code
    from bitsandbytes.functional import dequantize_blockwise, quantize_4bit

    g = torch.Generator().manual_seed(99)
    cases = {
        "linear": torch.randn(64, 128, generator=g) * 0.05,
        "wide": torch.randn(40, 300, generator=g),
        "odd": torch.randn(7, 9, generator=g) * 3,                  # numel not a multiple of 2 or 64
        "many_blocks": torch.randn(256, 80, generator=g) * 0.02,    # more than 256 blocks: two absmax2
        "zeros": torch.cat([torch.zeros(64), torch.randn(64, generator=g)]).reshape(2, 64),
    }
    tensors = {}
    for name, w in cases.items():
        q, st = quantize_4bit(w, blocksize=64, quant_type="nf4", compress_statistics=True)
        tensors[f"{name}.weight"] = w
        tensors[f"{name}.packed"] = q
        tensors[f"{name}.absmax"] = st.absmax
        tensors[f"{name}.absmax2"] = st.state2.absmax
        tensors[f"{name}.code2"] = st.state2.code
        tensors[f"{name}.offset"] = st.offset.reshape(())
        # bitsandbytes' reference dequantization (its default backend, which "matches C++ / CUDA
        # behavior"). Its native CPU kernel (0.50.2) gets rows that are not a multiple of the
        # block size wrong (the many_blocks case: 4x the error), so it is not the reference here.
        absmax = dequantize_blockwise(st.absmax, st.state2) + st.offset
        tensors[f"{name}.dequantized"] = _dequantize_4bit_compute(q.reshape(-1), absmax, _get_4bit_code("nf4", q.device),
                                                                  64, w.shape, torch.float32)
    save_outputs(out / "outputs" / "nf4.safetensors", tensors, {"blocksize": "64"})
    return {"cases": list(cases)}
