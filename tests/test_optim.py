"""AdamW against a NumPy reference written from the formulas."""

import numpy as np
import pytest
import mindspore as ms
from mindspore import Parameter, Tensor

from minigpt.optim import AdamW


def reference_adamw(w, grads, lrs, weight_decay, betas=(0.9, 0.99), eps=1e-8):
    m, v = np.zeros_like(w), np.zeros_like(w)
    for t, (g, lr) in enumerate(zip(grads, lrs), start=1):
        w = w * (1 - lr * weight_decay)
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g * g
        w = w - lr * (m / (1 - betas[0] ** t)) / (np.sqrt(v / (1 - betas[1] ** t)) + eps)
    return w


def test_adamw_matches_the_reference_with_and_without_weight_decay():
    rng = np.random.default_rng(0)
    w0, b0 = rng.normal(size=(3, 2)), rng.normal(size=2)
    w, b = Parameter(Tensor(w0, ms.float32), name="w"), Parameter(Tensor(b0, ms.float32), name="b")
    optimizer = AdamW([{"params": [w], "weight_decay": 0.1}, {"params": [b], "weight_decay": 0.0}], betas=(0.9, 0.99))
    grads = [(rng.normal(size=(3, 2)), rng.normal(size=2)) for _ in range(6)]
    lrs = [0.01, 0.02, 0.03, 0.02, 0.01, 0.005]  # a changing learning rate, as a schedule gives

    @ms.jit
    def step(gw, gb, lr):
        return optimizer((gw, gb), lr)

    for (gw, gb), lr in zip(grads, lrs):
        step(Tensor(gw, ms.float32), Tensor(gb, ms.float32), Tensor(lr, ms.float32))
    np.testing.assert_allclose(w.asnumpy(), reference_adamw(w0, [g for g, _ in grads], lrs, 0.1), atol=1e-5)
    np.testing.assert_allclose(b.asnumpy(), reference_adamw(b0, [g for _, g in grads], lrs, 0.0), atol=1e-5)
    assert float(optimizer.beta1_power.asnumpy()) == pytest.approx(0.9 ** 6, rel=1e-6)
