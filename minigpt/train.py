"""Training: AdamW, a warmup + cosine learning rate, clipping, accumulation, a time budget.

`Trainer` runs the loop a student would write by hand (sample a batch, compute
the loss and its gradients, update the weights), plus what makes long runs
practical: a compiled train step, periodic evaluation, a metrics log, a loss
curve, checkpoints (`minigpt.checkpoint`), exact resume, Ctrl-C that saves
before leaving, and a `TimeBudget` that fits the number of steps to the time
there is.
"""

import contextlib
import json
import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import mindspore as ms
from mindspore import ops
from tqdm.auto import tqdm

from minigpt.checkpoint import load_checkpoint, load_training_state, save_checkpoint
from minigpt.data import read_jsonl
from minigpt.distributed import SINGLE, GradientMean, agreed_min, replicas_agree
from minigpt.model import cross_entropy_loss
from minigpt.kernels import fused_available
from minigpt.optim import AdamW
from minigpt.options import option


@dataclass
class TrainConfig:
    iters: int = option(2000, "total updates")
    batch_size: int = option(12, "sequences per micro-batch")
    grad_accum: int = option(1, "micro-batches per update: a larger batch without more memory")
    lr: float = option(1e-3, "peak learning rate")
    min_lr: float = option(1e-4, "final learning rate")
    warmup_iters: int = option(100, "linear warmup steps")
    lr_decay_iters: int = option(0, "cosine decay ends here (0: at the last iteration)")
    weight_decay: float = option(0.1, "AdamW weight decay on the matrices")
    beta1: float = option(0.9, "AdamW beta1")
    beta2: float = option(0.99, "AdamW beta2")
    grad_clip: float = option(1.0, "global gradient norm limit, 0 = off")
    eval_interval: int = option(250, "evaluate every N updates")
    eval_iters: int = option(20, "batches per evaluation")
    checkpoint_interval: int = option(500, "save every N updates (also at the end and on Ctrl-C)")
    seed: int = option(1337, "random seed")
    # Each block's activations recomputed in the backward pass instead of kept from the
    # forward pass: compute traded for memory (docs/performance.md, "Memory").
    recompute: bool = option(False, "recompute each block's activations in the backward pass: less memory, "
                                    "a slower step")
    # Seconds this run may take (0: no limit). If `iters` would take longer, the
    # trainer plans fewer, measured on the first steps: see `TimeBudget`.
    time_budget_s: float = option(0.0, "minutes the run may take; fewer iterations if needed (0 = no limit)",
                                  flag="time_budget", scale=60)

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if value < 0 or (f.name in ("iters", "batch_size", "grad_accum", "eval_iters") and value < 1):
                raise ValueError(f"{f.name} must be {'positive' if f.name != 'iters' else 'at least 1'}, got {value!r}")
        if self.min_lr > self.lr:
            raise ValueError(f"min_lr ({self.min_lr}) must not exceed lr ({self.lr})")


def lr_at(step, cfg, iters=None):
    """Learning rate for `step`: linear warmup, then cosine decay to min_lr (as nanoGPT).

    The decay ends at `cfg.lr_decay_iters`, else at the run's last iteration:
    `iters` if a time budget planned fewer than `cfg.iters`.
    """
    decay_iters = cfg.lr_decay_iters or iters or cfg.iters
    if step < cfg.warmup_iters:
        return cfg.lr * (step + 1) / (cfg.warmup_iters + 1)
    if step >= decay_iters:
        return cfg.min_lr
    progress = (step - cfg.warmup_iters) / max(1, decay_iters - cfg.warmup_iters)
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (cfg.lr - cfg.min_lr)


def parameter_groups(model, weight_decay):
    """Decay the weight matrices and embeddings; leave biases and LayerNorm gains alone.

    Weight decay pulls weights toward zero. That regularises matrices, but a
    bias or a LayerNorm scale is a single offset or gain per feature, and
    pulling it to zero only hurts.
    """
    params = model.trainable_params()
    return [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]


def loss_function(model):
    """loss(x, y) for `model`: what gradients are taken of, and what evaluation reports."""

    def loss(x, y):
        return cross_entropy_loss(model(x), y)

    return loss


def mean_loss(loss_fn, data, split, batch_size, block_size, batches, seed):
    """Mean of `loss_fn` over `batches` batches of one split, drawn from `seed`.

    The same seed gives the same batches, so numbers from different steps (or
    different models) compare like with like.
    """
    rng = np.random.default_rng(seed)
    losses = []
    for _ in range(batches):
        x, y = data.batch(split, batch_size, block_size, rng)
        losses.append(float(loss_fn(ms.Tensor(x), ms.Tensor(y)).asnumpy()))
    return float(np.mean(losses))


class TimeBudget:
    """How many iterations fit into `seconds`, measured as the run goes.

    The first step compiles the graph, so the pace is measured from its end.
    The count is fitted twice during warmup: early, so that a short budget is
    kept, and at the end of warmup, when the pace has settled (the first steps
    are slower). Until then the learning rate does not depend on the count, so
    changing it changes nothing already done. After warmup, every `guard_every`
    steps, the pace since the last fit is checked and the count lowered if the
    budget no longer holds; never raised, so a run that slowed down (another
    program, a warm machine) cannot overrun. Evaluations and checkpoints are
    pauses: they are not part of the pace, and 5% of the budget is kept for them.
    """

    def __init__(self, seconds, warmup_iters, guard_every=100, workers=SINGLE):
        self.seconds, self.warmup_iters, self.guard_every, self.workers = seconds, warmup_iters, guard_every, workers
        self.start = time.perf_counter()
        self.pauses = 0.0
        self.pace_from = None  # (seconds worked, step) the pace is measured from

    def worked(self):
        """Seconds since the start, without the pauses."""
        return time.perf_counter() - self.start - self.pauses

    @contextlib.contextmanager
    def paused(self):
        """Time spent inside does not count in the pace (evaluations, checkpoints)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.pauses += time.perf_counter() - started

    def stepped(self, step):
        if self.pace_from is None:  # the first step, which compiled, is over
            self.pace_from = (self.worked(), step)

    def fit_steps(self):
        return {max(3, min(20, self.warmup_iters)), max(3, self.warmup_iters)}

    def iters(self, step, planned, requested):
        """The iteration count for a run at `step` that plans `planned` of the `requested` ones."""
        if not self.seconds or self.pace_from is None or step <= self.pace_from[1]:
            return planned
        fit = step in self.fit_steps()
        if not fit and not (step > self.warmup_iters and step % self.guard_every == 0):
            return planned
        pace = (self.worked() - self.pace_from[0]) / (step - self.pace_from[1])
        affordable = step + int(0.95 * (self.seconds - (time.perf_counter() - self.start)) / pace)
        affordable = int(agreed_min(affordable, self.workers))  # every worker must stop at the same step
        iters = max(step + 1, min(requested if fit else planned, affordable))
        if fit:  # the guard measures from the last fit: a long average, steady against noise
            self.pace_from = (self.worked(), step)
            if iters != planned:  # the guard's small changes show in the progress bar only
                tqdm.write(f"time budget {self.seconds:.0f} s: training {iters} iterations "
                           f"instead of {planned} ({1000 * pace:.0f} ms each)")
        return iters


class Trainer:
    """Trains `model` and keeps everything needed to resume in `out_dir`.

    `data` is anything with `batch(split, batch_size, block_size, rng) -> (x, y)`
    for the splits "train" and "val": token windows for pretraining
    (`minigpt.data.TokenSplits`), packed conversations for chat tuning.

    With `workers` from `minigpt.distributed.join`, this process is one of several
    data-parallel workers: `batch_size` rows per worker, gradients averaged across
    workers, and only rank 0 writes files and shows progress.
    """

    def __init__(self, model, tokenizer, data, cfg, out_dir, progress=True, workers=SINGLE):
        self.model, self.tokenizer, self.data, self.cfg = model, tokenizer, data, cfg
        self.out_dir = Path(out_dir)
        self.workers = workers
        self.progress = progress and workers.is_main
        self.step = 0  # number of completed updates
        self.iters = cfg.iters  # updates planned: cfg.iters, or fewer if a time budget says so
        self.history = []  # one dict per logged step, also written to metrics.jsonl
        if cfg.recompute:
            if model.config.dropout > 0 and fused_available():
                # Measured: from the fifth step on, the losses drift from those of the same run
                # without recompute (exact without dropout, and with MindSpore's own ops).
                raise ValueError("--recompute needs --dropout 0 with minigpt's fused CPU kernels: MindSpore 2.10 "
                                 "does not replay dropout exactly in the recomputed blocks (or set MINIGPT_KERNELS=0)")
            for block in model.blocks:
                block.recompute()
        self.optimizer = AdamW(parameter_groups(model, cfg.weight_decay), betas=(cfg.beta1, cfg.beta2), eps=1e-8)
        self._train_step = self._compile_train_step()
        self._eval_step = ms.jit(loss_function(model))

    def _compile_train_step(self):
        """One update as a single compiled graph: forward, backward, clip, AdamW.

        Running the whole step in graph mode (`ms.jit`) is about 3x faster than
        running it op by op. With grad_accum > 1 the loop over micro-batches is
        unrolled inside the graph and the gradients are averaged. The learning
        rate is an input of the graph: set from outside (`Parameter.set_data`),
        a compiled graph keeps the value it was compiled with.
        """
        grad_fn = ms.value_and_grad(loss_function(self.model), None, self.optimizer.parameters)
        accum, clip, optimizer = self.cfg.grad_accum, self.cfg.grad_clip, self.optimizer
        hyper_map = ops.HyperMap()
        across_workers = GradientMean(self.workers.size) if self.workers.size > 1 else None

        def train_step(xs, ys, lr):
            loss, grads = grad_fn(xs[0], ys[0])
            for i in range(1, accum):
                micro_loss, micro_grads = grad_fn(xs[i], ys[i])
                loss = loss + micro_loss
                grads = hyper_map(ops.add, grads, micro_grads)
            if accum > 1:
                loss = loss / accum
                grads = hyper_map(ops.partial(ops.mul, 1.0 / accum), grads)
            if across_workers is not None:
                grads = across_workers(grads)
                loss = across_workers((loss,))[0]
            if clip > 0:
                grads = ops.clip_by_global_norm(grads, clip)
            optimizer(grads, lr)
            return loss

        return ms.jit(train_step)

    def _batches(self, split, rng, count):
        """`count` micro-batches of one split, stacked as (count, batch, block).

        Every worker draws the whole global batch and keeps its own rows, so a run
        on N workers sees exactly the batches of one process with N times the batch size.
        """
        rows, workers = self.cfg.batch_size, self.workers
        mine = slice(workers.rank * rows, (workers.rank + 1) * rows)
        pairs = [self.data.batch(split, rows * workers.size, self.model.config.block_size, rng)
                 for _ in range(count)]
        return np.stack([x[mine] for x, _ in pairs]), np.stack([y[mine] for _, y in pairs])

    def evaluate(self):
        """Mean loss over eval_iters fixed batches of each split (global batches: every worker
        computes the same numbers)."""
        self.model.set_train(False)
        losses = {split: mean_loss(self._eval_step, self.data, split, self.cfg.batch_size * self.workers.size,
                                   self.model.config.block_size, self.cfg.eval_iters, self.cfg.seed + 1)
                  for split in ("train", "val")}
        self.model.set_train(True)
        return losses

    def train(self):
        """Train until the planned iterations are done; return True, or False if interrupted (Ctrl-C).

        The metrics of every step are in `self.history` (and metrics.jsonl).
        """
        cfg = self.cfg
        if not replicas_agree(self.model, self.workers):
            raise RuntimeError("the workers start from different weights: create the model after "
                               "seed_everything(seed) with the same seed on every worker")
        self.model.set_train(True)
        budget = TimeBudget(cfg.time_budget_s, cfg.warmup_iters, workers=self.workers)
        bar = tqdm(total=self.iters, initial=self.step, desc="training", unit="it",
                   disable=not self.progress, dynamic_ncols=True)
        try:
            while self.step < self.iters:
                planned = budget.iters(self.step, self.iters, cfg.iters)
                if planned != self.iters:
                    self.iters = bar.total = planned
                    bar.refresh()
                lr = lr_at(self.step, cfg, self.iters)
                # The batch depends only on (seed, step): a resumed run draws the same batches.
                xs, ys = self._batches("train", np.random.default_rng((cfg.seed, self.step)), cfg.grad_accum)
                t0 = time.perf_counter()
                loss = float(self._train_step(ms.Tensor(xs), ms.Tensor(ys), ms.Tensor(lr, ms.float32)).asnumpy())
                record = {"step": self.step + 1, "loss": loss, "lr": lr,
                          "ms_per_iter": 1000 * (time.perf_counter() - t0)}
                self.step += 1
                budget.stepped(self.step)
                if self.step % cfg.eval_interval == 0 or self.step == self.iters:
                    with budget.paused():
                        evaluation = self.evaluate()
                    record.update(train_loss=evaluation["train"], val_loss=evaluation["val"])
                    bar.write(f"step {self.step}: train loss {evaluation['train']:.4f}, "
                              f"val loss {evaluation['val']:.4f}")
                self._log(record)
                bar.set_postfix(loss=f"{loss:.3f}", lr=f"{lr:.1e}")
                bar.update(1)
                if self.step % cfg.checkpoint_interval == 0 and self.step < self.iters and self.workers.is_main:
                    with budget.paused():
                        self.save_checkpoint()
        except KeyboardInterrupt:
            bar.close()
            if self.workers.is_main:
                path = self.save_checkpoint()
                print(f"\ninterrupted at step {self.step}: checkpoint saved to {path}; "
                      f"run the same command with --resume to continue")
            return False
        bar.close()
        if not replicas_agree(self.model, self.workers):
            raise RuntimeError("the workers' weights diverged during training (a bug: please report it)")
        if self.workers.is_main:
            self.save_checkpoint()
            plot_loss_curves([("", self.history)], self.out_dir / "loss_curve.png")
        return True

    def _log(self, record):
        self.history.append(record)
        if not self.workers.is_main:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        with open(self.out_dir / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    # ---- checkpoints -------------------------------------------------------

    def save_checkpoint(self):
        """Everything needed to resume, written atomically (`minigpt.checkpoint`)."""
        return save_checkpoint(self.out_dir, self.model, self.tokenizer, self.optimizer, asdict(self.cfg),
                               {"step": self.step, "iters": self.iters, "workers": self.workers.size,
                                "chat_tuned": getattr(self.data, "chat_tuned", False)})

    @classmethod
    def resume(cls, out_dir, data, cfg=None, progress=True, workers=SINGLE):
        """Continue the run saved in `out_dir`; a new `cfg` may change e.g. `iters` to train longer."""
        model, tokenizer, saved = load_checkpoint(out_dir)
        trainer = cls(model, tokenizer, data, cfg or TrainConfig(**saved["train"]), out_dir, progress, workers)
        state = load_training_state(out_dir, trainer.optimizer)
        trainer.step = state["step"]
        # The count the run had planned (fitted to its time budget), unless the caller asks anew.
        trainer.iters = state.get("iters", trainer.cfg.iters) if cfg is None else cfg.iters
        metrics = Path(out_dir) / "metrics.jsonl"
        trainer.history = [r for r in read_jsonl(metrics) if r["step"] <= trainer.step] if metrics.exists() else []
        if workers.is_main:
            metrics.write_text("".join(json.dumps(r) + "\n" for r in trainer.history))
        return trainer


def plot_loss_curves(stages, path, title="Loss curve"):
    """Loss per step and train/validation loss at each evaluation, as a PNG.

    `stages` is a list of (label, metrics records): one run, or several
    (pretraining, then chat tuning) drawn one after another on one step axis.
    """
    from matplotlib.figure import Figure  # not pyplot: a notebook's inline plots stay as they are

    fig = Figure(figsize=(8, 4))
    ax = fig.subplots()
    offset = 0
    for label, records in stages:
        prefix = f"{label}: " if label else ""
        evals = [r for r in records if "val_loss" in r]
        ax.plot([offset + r["step"] for r in records], [r["loss"] for r in records], alpha=0.4,
                label=f"{prefix}batch loss")
        for key in ("train_loss", "val_loss"):
            ax.plot([offset + r["step"] for r in evals], [r[key] for r in evals], marker="o",
                    label=prefix + key.replace("_", " "))
        offset += len(records)
        if len(stages) > 1:
            ax.axvline(offset, color="grey", linestyle=":")
    ax.set(xlabel="step", ylabel="cross-entropy loss", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return Path(path)
