"""AdamW: Adam with decoupled weight decay, as in PyTorch and nanoGPT.

For each parameter w with gradient g, at step t:

    w = w * (1 - lr * weight_decay)          # decoupled decay: not part of the gradient
    m = beta1 * m + (1 - beta1) * g          # running mean of gradients
    v = beta2 * v + (1 - beta2) * g * g      # running mean of squared gradients
    w = w - lr * m_hat / (sqrt(v_hat) + eps) # m_hat, v_hat: m and v corrected for their zero start

Why not `mindspore.experimental.optim.AdamW`? It does the same in about a dozen
small ops per parameter, and on a CPU each op costs a launch: for the baby GPT
that was most of the optimizer's time. `ops.Adam` does the moment updates and
the step in one fused kernel per parameter, so this version needs one or two
launches per parameter. (The fused kernel folds the bias correction into the
learning rate, which moves eps by a factor sqrt(1 - beta2^t): a negligible change.)
"""

import mindspore as ms
from mindspore import Parameter, ParameterTuple, Tensor, nn, ops


class AdamW(nn.Cell):
    """AdamW over parameter groups `[{"params": [...], "weight_decay": wd}, ...]`.

    Call it inside the compiled train step as `optimizer(grads, lr)`: the learning
    rate is an input, so a schedule changes it without recompiling.
    """

    def __init__(self, groups, betas=(0.9, 0.999), eps=1e-8):
        super().__init__(auto_prefix=False)
        self.parameters = ParameterTuple([p for group in groups for p in group["params"]])
        self.weight_decay = tuple(float(group["weight_decay"]) for group in groups for _ in group["params"])
        self.exp_avg = self.parameters.clone(prefix="exp_avg", init="zeros")
        self.exp_avg_sq = self.parameters.clone(prefix="exp_avg_sq", init="zeros")
        self.beta1, self.beta2, self.eps = float(betas[0]), float(betas[1]), float(eps)
        # beta^t, kept as state so a resumed run continues the bias correction exactly.
        self.beta1_power = Parameter(Tensor(1.0, ms.float32), name="beta1_power", requires_grad=False)
        self.beta2_power = Parameter(Tensor(1.0, ms.float32), name="beta2_power", requires_grad=False)
        self.adam = ops.Adam()

    def construct(self, grads, lr):
        beta1_power = self.beta1_power * self.beta1
        beta2_power = self.beta2_power * self.beta2
        ops.assign(self.beta1_power, beta1_power)
        ops.assign(self.beta2_power, beta2_power)
        for i in range(len(self.parameters)):
            w = self.parameters[i]
            if self.weight_decay[i] > 0:
                ops.assign(w, w * (1.0 - lr * self.weight_decay[i]))
            self.adam(w, self.exp_avg[i], self.exp_avg_sq[i], beta1_power, beta2_power, lr,
                      self.beta1, self.beta2, self.eps, grads[i])
        return lr
