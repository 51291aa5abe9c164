"""Export the torch graphs in this folder (run by hand, not by the tests; needs torch).

    python3.11 -m venv /tmp/torch-venv
    /tmp/torch-venv/bin/pip install torch torchvision onnx onnxscript
    /tmp/torch-venv/bin/python tests/data/onnx_torch/make.py [--flops] [NAME ...]

Every model is exported at batch 1, in eval mode, twice: by the TorchScript exporter
(``dynamo=False``, opset 17, files ``<name>.ts17.onnx``) and by the dynamo exporter
(``dynamo=True``, opset 18, files ``<name>.dy18.onnx``). Weights are random (no download).

To keep the files small, every initializer of more than 64 elements that is not int64 is
*stripped*: its dims are kept and its data removed (``tests/test_onnx_torch.py`` refills it with
zeros before loading: the importer reads shapes only). Integer initializers (Reshape targets,
Slice starts) are kept whole, and the dynamo exporter's per-node metadata (stack traces) is
dropped.

``--flops`` prints torch.utils.flop_counter.FlopCounterMode's count per model (MACs = FLOPs/2:
every op it counts, mm/addmm/bmm/convolution/attention, is multiply-add), the independent count
``tests/test_onnx_torch.py`` records.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import onnx
import torch
import torch.nn.functional as F
from torch import nn

HERE = Path(__file__).parent
KEEP = 64   # float initializers up to this many elements keep their data


# ----------------------------------------------------------------------------- hand-written blocks

class GPT2Block(nn.Module):
    """GPT-2's block as Hugging Face writes it: LayerNorm, packed c_attn, split, causal mask by a
    tril buffer and masked_fill, softmax, c_proj, LayerNorm, MLP with tanh-GELU."""

    def __init__(self, d=768, heads=12, seq=128):
        super().__init__()
        self.h, self.dh = heads, d // heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.c_attn, self.c_proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc, self.proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.register_buffer("bias", torch.tril(torch.ones(seq, seq, dtype=torch.bool)))

    def forward(self, x):
        b, s, d = x.shape
        q, k, v = self.c_attn(self.ln1(x)).split(d, dim=2)
        q = q.view(b, s, self.h, self.dh).transpose(1, 2)
        k = k.view(b, s, self.h, self.dh).transpose(1, 2)
        v = v.view(b, s, self.h, self.dh).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(self.dh)
        att = att.masked_fill(~self.bias[:s, :s], float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(b, s, d)
        x = x + self.c_proj(y)
        return x + self.proj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class CausalSDPA(nn.Module):
    """nanoGPT's attention: packed qkv, split, F.scaled_dot_product_attention(is_causal=True)
    (the TorchScript exporter decomposes it with Trilu, Where and Expand on shapes)."""

    def __init__(self, d=64, heads=4):
        super().__init__()
        self.h = heads
        self.qkv, self.o = nn.Linear(d, 3 * d), nn.Linear(d, d)

    def forward(self, x):
        b, s, d = x.shape
        q, k, v = (z.view(b, s, self.h, d // self.h).transpose(1, 2)
                   for z in self.qkv(x).split(d, dim=2))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.o(y.transpose(1, 2).contiguous().view(b, s, d))


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.w, self.eps = nn.Parameter(torch.ones(d)), eps

    def forward(self, x):
        return self.w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


class LlamaBlock(nn.Module):
    """A Llama decoder layer in plain torch: RMSNorm, rotary by slice/cat, grouped-query heads
    by repeat_interleave, causal SDPA-free attention, SiLU-gated MLP."""

    def __init__(self, d=2048, heads=32, kv=4, ff=5632, seq=512):
        super().__init__()
        self.h, self.kv, self.dh = heads, kv, d // heads
        self.n1, self.n2 = RMSNorm(d), RMSNorm(d)
        self.q = nn.Linear(d, d, bias=False)
        self.k = nn.Linear(d, kv * self.dh, bias=False)
        self.v = nn.Linear(d, kv * self.dh, bias=False)
        self.o = nn.Linear(d, d, bias=False)
        self.gate = nn.Linear(d, ff, bias=False)
        self.up = nn.Linear(d, ff, bias=False)
        self.down = nn.Linear(ff, d, bias=False)
        inv = 1.0 / (10000 ** (torch.arange(0, self.dh, 2).float() / self.dh))
        ang = torch.outer(torch.arange(seq).float(), inv)
        emb = torch.cat((ang, ang), dim=-1)
        self.register_buffer("cos", emb.cos())
        self.register_buffer("sin", emb.sin())
        self.register_buffer("mask", torch.full((seq, seq), float("-inf")).triu(1))

    def forward(self, x):
        b, s, _ = x.shape
        h = self.n1(x)
        q = self.q(h).view(b, s, self.h, self.dh).transpose(1, 2)
        k = self.k(h).view(b, s, self.kv, self.dh).transpose(1, 2)
        v = self.v(h).view(b, s, self.kv, self.dh).transpose(1, 2)
        q = q * self.cos + rotate_half(q) * self.sin
        k = k * self.cos + rotate_half(k) * self.sin
        k = k.repeat_interleave(self.h // self.kv, dim=1)
        v = v.repeat_interleave(self.h // self.kv, dim=1)
        att = q @ k.transpose(2, 3) / math.sqrt(self.dh) + self.mask
        y = (F.softmax(att, dim=-1) @ v).transpose(1, 2).reshape(b, s, -1)
        x = x + self.o(y)
        h = self.n2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class TCN(nn.Module):
    """An LSTM-free sequence model: embedding, dilated causal 1-D convs with GELU, a head."""

    def __init__(self, vocab=1000, d=128, layers=4, seq=256):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.convs = nn.ModuleList(nn.Conv1d(d, d, 3, dilation=2 ** i) for i in range(layers))
        self.head = nn.Linear(d, vocab)

    def forward(self, tokens):
        x = self.emb(tokens).transpose(1, 2)
        for i, c in enumerate(self.convs):
            x = x + F.gelu(c(F.pad(x, (2 * 2 ** i, 0))))
        return self.head(x.transpose(1, 2))


class Encoder(nn.Module):
    """nn.TransformerEncoderLayer called with ``is_causal=False`` spelled out: called with the
    default, the TorchScript exporter of torch 2.14 fails (``scaled_dot_product_attention():
    argument 'is_causal' must be bool, not Tensor``)."""

    def __init__(self, *args, **kw):
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(*args, **kw)

    def forward(self, x):
        return self.layer(x, is_causal=False)


# ------------------------------------------------------------------------------------ the list

def models():
    """name -> (module, example input)."""
    import torchvision
    tv = torchvision.models
    tel = dict(batch_first=True, dropout=0.0)
    return {
        "resnet18": (lambda: tv.resnet18(), lambda: torch.randn(1, 3, 224, 224)),
        "mobilenet_v2": (lambda: tv.mobilenet_v2(), lambda: torch.randn(1, 3, 224, 224)),
        "vit_b_16": (lambda: tv.vit_b_16(), lambda: torch.randn(1, 3, 224, 224)),
        "encoder_small": (lambda: Encoder(64, 4, 128, **tel),
                          lambda: torch.randn(1, 16, 64)),
        "encoder_base": (lambda: Encoder(768, 12, 3072, activation="gelu", **tel),
                         lambda: torch.randn(1, 128, 768)),
        "sdpa_causal": (lambda: CausalSDPA(), lambda: torch.randn(1, 16, 64)),
        "gpt2_block": (lambda: GPT2Block(), lambda: torch.randn(1, 128, 768)),
        "llama_block": (lambda: LlamaBlock(), lambda: torch.randn(1, 512, 2048)),
        "tcn": (lambda: TCN(), lambda: torch.randint(0, 1000, (1, 256))),
        # exported with symbolic batch and seq (dynamic_axes / dynamic_shapes): the causal
        # mask is sliced to [:seq, :seq] by a Slice whose ends are computed from Shape
        "gpt2_tiny_dynamic": (lambda: GPT2Block(64, 4, 32), lambda: torch.randn(1, 16, 64)),
    }


def strip(path: Path) -> None:
    """Remove the data of every float initializer over KEEP elements, keeping its dims."""
    m = onnx.load(str(path))
    for t in m.graph.initializer:
        if t.data_type != onnx.TensorProto.INT64 and math.prod(t.dims) > KEEP:
            t.ClearField("raw_data")
            t.ClearField("float_data")
            t.ClearField("external_data")
            t.data_location = onnx.TensorProto.DEFAULT
    for n in m.graph.node:     # the dynamo exporter's stack traces and scopes (most of a file)
        n.ClearField("metadata_props")
    for vi in m.graph.value_info:
        vi.ClearField("metadata_props")
    onnx.save(m, str(path))


def export(name: str, make, inp, dynamo: bool) -> Path:
    torch.manual_seed(0)
    model = make().eval()
    x = inp()
    # without this, eval-mode nn.MultiheadAttention / TransformerEncoderLayer take a fused
    # "fast path" (aten::_native_multi_head_attention) the TorchScript exporter cannot export
    torch.backends.mha.set_fastpath_enabled(False)
    path = HERE / f"{name}.{'dy18' if dynamo else 'ts17'}.onnx"
    kw = {}
    if name.endswith("_dynamic"):
        from torch.export import Dim
        kw = ({"dynamic_shapes": ({1: Dim("seq", max=32)},)} if dynamo else
              {"dynamic_axes": {"x": {0: "batch", 1: "seq"}}})
    with torch.no_grad():
        torch.onnx.export(model, (x,), str(path), dynamo=dynamo, opset_version=18 if dynamo else 17,
                          input_names=["x"], output_names=["y"], external_data=False, **kw)
    strip(path)
    return path


def macs(make, inp) -> int:
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode
    torch.backends.mha.set_fastpath_enabled(False)   # the fused fast path is not counted
    torch.manual_seed(0)
    model = make().eval()
    # the math backend of scaled_dot_product_attention is bmm's, which FlopCounterMode counts;
    # the CPU flash kernel it would pick otherwise is not counted (0 FLOPs for attention)
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as fc:
        model(inp())
    per_op = {str(k): v // 2 for k, v in fc.get_flop_counts()["Global"].items()}
    print(f"  MACs per op: {per_op}", file=sys.stderr)
    return fc.get_total_flops() // 2


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*")
    ap.add_argument("--flops", action="store_true", help="print FlopCounterMode MACs only")
    args = ap.parse_args(argv)
    table = models()
    for name in args.names or table:
        make, inp = table[name]
        if args.flops:
            print(f"{name}: {macs(make, inp)}")
            continue
        for dynamo in (False, True):
            try:
                p = export(name, make, inp, dynamo)
                print(f"{p.name}: {p.stat().st_size} bytes", flush=True)
            except Exception as err:  # noqa: BLE001 - report and go on
                print(f"{name} dynamo={dynamo}: FAILED {type(err).__name__}: {err}"[:400],
                      flush=True)
    print("torch", torch.__version__, "onnx", onnx.__version__, file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
