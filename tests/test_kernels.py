"""The fused CPU kernels (minigpt/kernels.cc) against MindSpore's own ops, forward and backward."""

import numpy as np
import pytest
import mindspore as ms
from mindspore import ops

from minigpt import kernels
from minigpt.kernels import GELU, DocumentMask, LayerNorm, MaskedSoftmax

pytestmark = pytest.mark.skipif(not kernels.fused_available(), reason="the fused kernels did not build here")

rng = np.random.default_rng(0)


def tensor(*shape, scale=1.0):
    return ms.Tensor((rng.normal(size=shape) * scale).astype(np.float32))


def gradients(cell, x, upstream):
    """The gradients of sum(cell(x) * upstream) with respect to x and to the cell's weights."""
    loss = lambda a: (cell(a) * upstream).sum()  # noqa: E731
    found = [ms.grad(loss)(x)]
    if cell.trainable_params():
        found += ms.grad(loss, grad_position=None, weights=cell.trainable_params())(x)
    return [g.asnumpy() for g in found]


def assert_same(fused, plain, x, upstream, atol):
    np.testing.assert_allclose(fused(x).asnumpy(), plain(x).asnumpy(), atol=atol)
    for got, expected in zip(gradients(fused, x, upstream), gradients(plain, x, upstream), strict=True):
        assert np.abs(expected).max() > 1e-3  # a gradient that is there to compare
        np.testing.assert_allclose(got, expected, atol=atol * max(1.0, np.abs(expected).max()))


def test_layer_norm_matches_mindspores_with_its_gradients():
    x = tensor(3, 50, 24, scale=3.0) + 2.0
    fused, plain = LayerNorm(24, fused=True), LayerNorm(24, fused=False)
    for cell in (fused, plain):  # the same non-trivial weights in both
        cell.gamma.set_data(ms.Tensor(np.linspace(0.5, 1.5, 24, dtype=np.float32)))
        cell.beta.set_data(ms.Tensor(np.linspace(-1, 1, 24, dtype=np.float32)))
    assert_same(fused, plain, x, tensor(3, 50, 24), atol=2e-6)
    assert [p.name for p in fused.trainable_params()] == ["gamma", "beta"]  # as nn.LayerNorm: checkpoints load


@pytest.mark.parametrize("mask_shape", ["causal (T, T)", "per row (B, 1, T, T)", "one row of keys (B, 1, 1, T)"])
def test_masked_softmax_matches_mindspores_with_its_gradient(mask_shape):
    B, H, T = 3, 2, 17
    allowed = np.tril(np.ones((T, T), bool))
    if mask_shape.startswith("per row"):
        allowed = np.stack([allowed & (np.arange(T) >= start)[None, :] | np.eye(T, dtype=bool) for start in (0, 5, 9)])
        allowed = allowed[:, None]
    scores = tensor(B, H, T, T, scale=4.0)
    if mask_shape.startswith("one row"):  # generation: one query per row, keys up to its position
        allowed = (np.arange(T)[None, :] <= np.array([[3], [16], [0]]))[:, None, None, :]
        scores = tensor(B, H, 1, T, scale=4.0)
    mask = ms.Tensor(np.where(allowed, 0.0, -np.inf).astype(np.float32))
    weights = MaskedSoftmax(fused=True)(scores, mask).asnumpy()
    assert (weights[~np.broadcast_to(allowed, weights.shape)] == 0).all()
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-6)
    fused, plain = MaskedSoftmax(fused=True), MaskedSoftmax(fused=False)
    np.testing.assert_allclose(weights, plain(scores, mask).asnumpy(), atol=1e-6)
    upstream = tensor(*scores.shape)
    got = ms.grad(lambda s: (fused(s, mask) * upstream).sum())(scores).asnumpy()
    expected = ms.grad(lambda s: (plain(s, mask) * upstream).sum())(scores).asnumpy()
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_gelu_matches_mindspores_exact_gelu_with_its_gradient():
    x = tensor(4, 33, 40, scale=3.0)
    assert_same(GELU(fused=True), GELU(fused=False), x, tensor(4, 33, 40), atol=2e-6)


def test_document_mask_matches_the_cumulative_sum_rule():
    bos, T = 1, 40
    idx = rng.integers(0, 6, (5, T)).astype(np.int32)  # bos here and there, twice in a row too
    idx[0, :] = 4  # no bos at all: one document
    idx[1, 0] = bos
    fused = DocumentMask(bos, T, fused=True)(ms.Tensor(idx)).asnumpy()
    plain = DocumentMask(bos, T, fused=False)(ms.Tensor(idx)).asnumpy()
    assert fused.shape == (5, 1, T, T)
    np.testing.assert_array_equal(fused, plain)
    document = np.cumsum(idx == bos, axis=1)
    allowed = np.tril(np.ones((T, T), bool)) & (document[:, :, None] == document[:, None, :])
    np.testing.assert_array_equal(fused[:, 0] == 0, allowed)
    assert np.isneginf(fused[:, 0][~allowed]).all()


def test_a_model_with_the_kernels_trains_like_one_without(tiny_config):
    """Same weights and batch: the same loss and gradients, fused kernels or MindSpore's."""
    from dataclasses import replace
    from minigpt.device import seed_everything
    from minigpt.model import GPT, cross_entropy_loss

    config = replace(tiny_config, positions="rotary", document_mask=True)
    x = rng.integers(0, config.vocab_size, (2, config.block_size)).astype(np.int32)
    x[:, [0, 9]] = config.bos_id
    x, y = ms.Tensor(x), ms.Tensor(np.roll(x, -1, axis=1))
    results = []
    for fused in (True, False):
        kernels._library = None if fused else (None, "switched off for this test")
        try:
            seed_everything(0)
            model = GPT(config)
            loss_fn = lambda a, b: cross_entropy_loss(model(a), b)  # noqa: E731
            loss, grads = ms.value_and_grad(loss_fn, None, model.trainable_params())(x, y)
            results.append((float(loss.asnumpy()), [g.asnumpy() for g in grads]))
        finally:
            kernels._library = None
    (fused_loss, fused_grads), (plain_loss, plain_grads) = results
    assert fused_loss == pytest.approx(plain_loss, rel=1e-6)
    for got, expected in zip(fused_grads, plain_grads, strict=True):
        np.testing.assert_allclose(got, expected, atol=2e-6)


def test_without_a_compiler_the_cells_fall_back_with_one_note(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(kernels, "BUILD_DIR", tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))  # no g++ to be found
    monkeypatch.setattr(kernels, "_library", None)
    assert not kernels.fused_available()
    assert not LayerNorm(8).fused and not GELU().fused
    note = capsys.readouterr().err.strip().splitlines()
    assert len(note) == 1 and "fused CPU kernels unavailable" in note[0] and "g++" in note[0]
    x = tensor(2, 3, 8)
    np.testing.assert_allclose(GELU()(x).asnumpy(), ops.gelu(x, approximate="none").asnumpy())
