"""LayerNorm, attention's softmax, GELU and the document mask, with fused CPU kernels.

Why: a profile of the chat model's training step on a CPU (docs/performance.md,
"Fused CPU kernels") found a third of it in MindSpore 2.10 kernels that do little
arithmetic but run slowly: LayerNorm's backward took 6.6 ms for a (3072, 128)
input, exact GELU about 15 ms a layer in a dozen small ops, the softmax's backward
a sum along the last axis at 12 ms, the document mask four (B, T, T) ops. Each is a
loop that a C++ compiler makes fast, so `kernels.cc` holds them as MindSpore "aot"
custom operators (`mindspore.ops.Custom`), each with its backward pass;
tests/test_kernels.py checks them against MindSpore's own ops.

How: the first time a model is built on a CPU, g++ compiles kernels.cc into
minigpt/_build/ (`make` does it when it installs), and the library is reused until
kernels.cc changes. On Ascend and GPU, where MindSpore's kernels are the fast ones,
without a compiler, or with MINIGPT_KERNELS=0, the cells below use MindSpore's ops
(the same maths) and, on a CPU, say so once.
"""

import ctypes
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import mindspore as ms
import numpy as np
from mindspore import nn, ops

SOURCE = Path(__file__).with_name("kernels.cc")
BUILD_DIR = Path(__file__).with_name("_build")
# -fno-math-errno lets GCC vectorise erff and expf; -fopenmp-simd reads the loops'
# "omp simd" hints (no OpenMP threads: see parallel_for in kernels.cc).
FLAGS = ["-O3", "-fno-math-errno", "-fopenmp-simd", "-pthread", "-shared", "-fPIC"]
_library = None  # (path or None, why not)


def library_path():
    """Where the compiled kernels for this source and these flags live."""
    key = hashlib.sha256(SOURCE.read_bytes() + " ".join(FLAGS).encode()).hexdigest()[:12]
    return BUILD_DIR / f"kernels-{key}.so"


def build(quiet=False):
    """Compile kernels.cc (if not already compiled); return the library's path, or raise RuntimeError."""
    path = library_path()
    if path.exists():
        return path
    BUILD_DIR.mkdir(exist_ok=True)
    # Compile to a temporary name, then rename: processes building at once never see half a file.
    fd, partial = tempfile.mkstemp(suffix=".so", dir=BUILD_DIR)
    os.close(fd)
    try:
        done = subprocess.run(["g++", *FLAGS, str(SOURCE), "-o", partial], capture_output=True, text=True)
    except OSError as error:
        os.unlink(partial)
        raise RuntimeError(f"no C++ compiler ({error.strerror}: g++)") from None
    if done.returncode:
        os.unlink(partial)
        first = next((line for line in done.stderr.splitlines() if "error" in line), done.stderr.strip()[:200])
        raise RuntimeError(f"g++ failed: {first}")
    os.replace(partial, path)
    for stale in BUILD_DIR.glob("kernels-*.so"):  # built from an earlier kernels.cc
        if stale != path:
            stale.unlink(missing_ok=True)
    if not quiet:
        print(f"minigpt: compiled the fused CPU kernels into {path}", file=sys.stderr)
    return path


def _load():
    """The kernels' library path, or None with the reason, decided once per process."""
    global _library
    if _library is None:
        if os.environ.get("MINIGPT_KERNELS", "1") == "0":
            _library = (None, "MINIGPT_KERNELS=0")
        elif ms.get_context("device_target") != "CPU":
            _library = (None, "not on a CPU")
        else:
            try:
                path = build()
                handle = ctypes.CDLL(str(path))  # fails here, not inside a graph, if the library is broken
                from minigpt.device import cpu_threads
                handle.SetThreads(cpu_threads() or 0)
                _library = (path, "")
            except (RuntimeError, OSError) as error:
                _library = (None, str(error))
                print(f"minigpt: fused CPU kernels unavailable ({error}); using MindSpore's slower ops",
                      file=sys.stderr)
    return _library[0]


def fused_available():
    """Whether the cells below run their fused kernels in this process."""
    return _load() is not None


def _op(name, out_shape, out_dtype, bprop=None):
    return ops.Custom(f"{_load()}:{name}", out_shape=out_shape, out_dtype=out_dtype, func_type="aot", bprop=bprop)


def _same(*args):
    return args[0]


class LayerNorm(nn.Cell):
    """Layer normalisation over the last axis, as `mindspore.nn.LayerNorm` (same parameter names)."""

    def __init__(self, n, eps=1e-5, fused=None):
        super().__init__()
        self.gamma = ms.Parameter(ms.Tensor(np.ones(n, np.float32)), name="gamma")
        self.beta = ms.Parameter(ms.Tensor(np.zeros(n, np.float32)), name="beta")
        self.fused = fused_available() if fused is None else fused
        if self.fused:
            if eps != 1e-5:
                raise ValueError("the fused LayerNorm kernel uses eps 1e-5")
            backward = _op("LayerNormBackward", lambda dy, x, g, m, r: (x, g, g), lambda dy, x, g, m, r: (x, g, g))

            def bprop(x, gamma, beta, out, dout):
                _, mean, rstd = out
                return backward(dout[0], x, gamma, mean, rstd)

            row = lambda x, g, b: x[:-1] + [1]  # noqa: E731
            self.forward = _op("LayerNormForward", lambda x, g, b: (x, row(x, g, b), row(x, g, b)),
                               lambda x, g, b: (x, x, x), bprop)
        else:
            self.forward = ops.LayerNorm(begin_norm_axis=-1, begin_params_axis=-1, epsilon=eps)

    def construct(self, x):
        return self.forward(x, self.gamma, self.beta)[0]


class MaskedSoftmax(nn.Cell):
    """softmax(scores + mask) over the last axis: attention's weights.

    `mask` is 0 where a query may see a key and -inf where not, shaped (Q, K) or
    (B or 1, 1, Q, K) for scores (B, H, Q, K). Adding it, rather than `masked_fill`,
    costs the backward pass nothing: a sum's gradient passes through unchanged.
    """

    def __init__(self, fused=None):
        super().__init__()
        self.fused = fused_available() if fused is None else fused
        if self.fused:
            backward = _op("MaskedSoftmaxBackward", _same, _same)

            def bprop(scores, mask, weights, dweights):
                return backward(weights, dweights, mask), ops.zeros_like(mask)

            self.forward = _op("MaskedSoftmaxForward", _same, _same, bprop)

    def construct(self, scores, mask):
        if self.fused:
            return self.forward(scores, mask)
        return ops.softmax(scores + mask, axis=-1)


class GELU(nn.Cell):
    """Exact GELU, x * Phi(x) (Phi the standard normal CDF), as GPT-2 and `ops.gelu(approximate="none")`."""

    def __init__(self, fused=None):
        super().__init__()
        self.fused = fused_available() if fused is None else fused
        if self.fused:
            backward = _op("GeluBackward", _same, _same)

            def bprop(x, y, dy):
                return (backward(x, dy),)

            self.forward = _op("GeluForward", _same, _same, bprop)

    def construct(self, x):
        if self.fused:
            return self.forward(x)
        return ops.gelu(x, approximate="none")


class DocumentMask(nn.Cell):
    """Token ids (B, T) -> the mask to add to attention scores, (B, 1, T, T).

    Every `bos_id` starts a new document, and position i sees position j only if
    j <= i and both are in the same document: 0 there, -inf elsewhere.
    """

    def __init__(self, bos_id, block_size, fused=None):
        super().__init__()
        self.fused = fused_available() if fused is None else fused
        self.bos = ms.Tensor([bos_id], ms.int32)
        self.causal = ms.Tensor(np.tril(np.ones((block_size, block_size), dtype=bool)))
        if self.fused:
            self.forward = _op("DocumentMask", lambda idx, bos: [idx[0], 1, idx[1], idx[1]],
                               lambda idx, bos: ms.float32)

    def construct(self, idx):
        if self.fused:
            return self.forward(idx, self.bos)
        T = idx.shape[1]
        document = ops.cumsum((idx == self.bos).astype(ms.int32), axis=1)  # (B, T): bos seen so far
        same_document = document.expand_dims(2) == document.expand_dims(1)  # (B, T, T)
        allowed = ops.logical_and(self.causal[:T, :T], same_document).expand_dims(1)
        return ops.zeros(allowed.shape, ms.float32).masked_fill(ops.logical_not(allowed), float("-inf"))


if __name__ == "__main__":  # `make` builds the kernels when it installs: python -m minigpt.kernels
    try:
        print(f"fused CPU kernels: {build(quiet=True)}")
    except RuntimeError as error:
        print(f"fused CPU kernels not built ({error}); minigpt will use MindSpore's slower ops")
