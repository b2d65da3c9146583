"""Training: AdamW, a warmup + cosine learning rate, clipping, accumulation, checkpoints.

`Trainer` runs the loop a student would write by hand (sample a batch, compute
the loss and its gradients, update the weights), plus what makes long runs
practical: a compiled train step, periodic evaluation, a metrics log, a loss
curve, atomic checkpoints, exact resume and Ctrl-C that saves before leaving.
"""

import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import mindspore as ms
from mindspore import ops
from tqdm.auto import tqdm

from minigpt.distributed import SINGLE, GradientMean, agreed_min, replicas_agree
from minigpt.model import GPT, GPTConfig, cross_entropy_loss
from minigpt.optim import AdamW
from minigpt.tokenizer import load_tokenizer

CHECKPOINT_DIR = "checkpoint"
BUDGET_GUARD_EVERY = 100  # steps between checks, after warmup, that a time budget still holds


@dataclass
class TrainConfig:
    iters: int = 2000
    batch_size: int = 12
    grad_accum: int = 1  # micro-batches per update: a larger batch without more memory
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup_iters: int = 100
    lr_decay_iters: int = 0  # 0: decay over all `iters`
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0  # 0 disables clipping
    eval_interval: int = 250
    eval_iters: int = 20
    checkpoint_interval: int = 500  # also saved at the end and on Ctrl-C
    seed: int = 1337
    # Seconds this run may take (0: no limit). If `iters` would take longer, it
    # is lowered to what fits, measured on the first steps: during warmup, so
    # the learning-rate schedule still ends where `iters` does. If the pace
    # slows later, it is lowered again (the learning rate then decays sooner).
    time_budget_s: float = 0.0

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if value < 0 or (f.name in ("iters", "batch_size", "grad_accum", "eval_iters") and value < 1):
                raise ValueError(f"{f.name} must be {'positive' if f.name != 'iters' else 'at least 1'}, got {value!r}")
        if self.min_lr > self.lr:
            raise ValueError(f"min_lr ({self.min_lr}) must not exceed lr ({self.lr})")


def lr_at(step, cfg):
    """Learning rate for `step`: linear warmup, then cosine decay to min_lr (as nanoGPT)."""
    decay_iters = cfg.lr_decay_iters or cfg.iters
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
        self.history = []  # one dict per logged step, also written to metrics.jsonl
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
        """Train until cfg.iters updates are done; returns the metrics history."""
        cfg = self.cfg
        if not replicas_agree(self.model, self.workers):
            raise RuntimeError("the workers start from different weights: create the model after "
                               "seed_everything(seed) with the same seed on every worker")
        self.model.set_train(True)
        bar = tqdm(total=cfg.iters, initial=self.step, desc="training", unit="it",
                   disable=not self.progress, dynamic_ncols=True)
        start, requested_iters = time.perf_counter(), cfg.iters
        pauses = 0.0  # seconds spent on evaluations and checkpoints, which the budget's 5% reserve covers
        pace_from = None  # (seconds, step) from which the pace is measured: after the first step, which compiles
        try:
            while self.step < cfg.iters:
                if cfg.time_budget_s and pace_from and self.step > pace_from[1]:
                    fit = self.step in self._budget_check_steps()
                    # After warmup the count may only go down: a pace that slows later
                    # (another program, a warm machine) must not overrun the budget.
                    guard = self.step > cfg.warmup_iters and self.step % BUDGET_GUARD_EVERY == 0
                    if fit or guard:
                        elapsed = time.perf_counter() - start
                        seconds_per_step = (elapsed - pauses - pace_from[0]) / (self.step - pace_from[1])
                        self._fit_iters_to_budget(requested_iters if fit else cfg.iters, elapsed, seconds_per_step,
                                                  announce=fit)  # the guard's small changes show in the bar only
                        if fit:  # the guard keeps measuring from the last fit: a long average, steady against noise
                            pace_from = (elapsed - pauses, self.step)
                        bar.total = cfg.iters
                        bar.refresh()
                lr = lr_at(self.step, cfg)
                # The batch depends only on (seed, step): a resumed run draws the same batches.
                xs, ys = self._batches("train", np.random.default_rng((cfg.seed, self.step)), cfg.grad_accum)
                t0 = time.perf_counter()
                loss = float(self._train_step(ms.Tensor(xs), ms.Tensor(ys), ms.Tensor(lr, ms.float32)).asnumpy())
                record = {"step": self.step + 1, "loss": loss, "lr": lr,
                          "ms_per_iter": 1000 * (time.perf_counter() - t0)}
                self.step += 1
                pace_from = pace_from or (time.perf_counter() - start, self.step)
                if self.step % cfg.eval_interval == 0 or self.step == cfg.iters:
                    paused = time.perf_counter()
                    evaluation = self.evaluate()
                    record.update(train_loss=evaluation["train"], val_loss=evaluation["val"])
                    bar.write(f"step {self.step}: train loss {evaluation['train']:.4f}, "
                              f"val loss {evaluation['val']:.4f}")
                    pauses += time.perf_counter() - paused
                self._log(record)
                bar.set_postfix(loss=f"{loss:.3f}", lr=f"{lr:.1e}")
                bar.update(1)
                if self.step % cfg.checkpoint_interval == 0 and self.step < cfg.iters and self.workers.is_main:
                    paused = time.perf_counter()
                    self.save_checkpoint()
                    pauses += time.perf_counter() - paused
        except KeyboardInterrupt:
            bar.close()
            if self.workers.is_main:
                path = self.save_checkpoint()
                print(f"\ninterrupted at step {self.step}: checkpoint saved to {path}; "
                      f"run the same command with --resume to continue")
            return self.history
        bar.close()
        if not replicas_agree(self.model, self.workers):
            raise RuntimeError("the workers' weights diverged during training (a bug: please report it)")
        if self.workers.is_main:
            self.save_checkpoint()
            self.plot_loss_curve()
        return self.history

    def _budget_check_steps(self):
        """When the iteration count is fitted to the time budget: early, so that a
        short budget is kept, and again at the end of warmup, when the pace has
        settled (the first steps are slower). Until then the learning rate does not
        depend on cfg.iters, so changing it changes nothing already done."""
        return {max(3, min(20, self.cfg.warmup_iters)), max(3, self.cfg.warmup_iters)}

    def _fit_iters_to_budget(self, most_iters, elapsed, seconds_per_step, announce=True):
        """Set cfg.iters (at most `most_iters`) so the run ends within cfg.time_budget_s,
        5% kept for evaluations and checkpoints.

        `elapsed` is the wall-clock time of this call to train() so far; the pace is
        wall-clock time per step without evaluations and checkpoints, so making
        batches and logging count.
        """
        affordable = self.step + int(0.95 * (self.cfg.time_budget_s - elapsed) / seconds_per_step)
        affordable = int(agreed_min(affordable, self.workers))  # every worker must stop at the same step
        iters = max(self.step + 1, min(most_iters, affordable))
        if iters != self.cfg.iters and announce:
            tqdm.write(f"time budget {self.cfg.time_budget_s:.0f} s: training {iters} iterations "
                       f"instead of {self.cfg.iters} ({1000 * seconds_per_step:.0f} ms each)")
        self.cfg.iters = iters

    def _log(self, record):
        self.history.append(record)
        if not self.workers.is_main:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        with open(self.out_dir / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def plot_loss_curve(self, path=None):
        """Training loss per step, and train/val loss at each evaluation, as a PNG."""
        from matplotlib.figure import Figure  # not pyplot: a notebook's inline plots stay as they are

        path = Path(path or self.out_dir / "loss_curve.png")
        evals = [r for r in self.history if "val_loss" in r]
        fig = Figure(figsize=(7, 4))
        ax = fig.subplots()
        ax.plot([r["step"] for r in self.history], [r["loss"] for r in self.history],
                alpha=0.4, label="train (batch)")
        for key in ("train_loss", "val_loss"):
            ax.plot([r["step"] for r in evals], [r[key] for r in evals], marker="o", label=key.replace("_", " "))
        ax.set(xlabel="step", ylabel="cross-entropy loss", title="Loss curve")
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        return path

    # ---- checkpoints -------------------------------------------------------

    def save_checkpoint(self):
        """Write everything needed to resume, atomically: a crash never leaves half a checkpoint."""
        final = self.out_dir / CHECKPOINT_DIR
        tmp = self.out_dir / (CHECKPOINT_DIR + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        ms.save_checkpoint(self.model, str(tmp / "model.ckpt"))
        model_names = {p.name for p in self.model.get_parameters()}  # already in model.ckpt
        optimizer_state = [{"name": p.name, "data": p} for p in self.optimizer.get_parameters()
                           if p.name not in model_names]
        ms.save_checkpoint(optimizer_state, str(tmp / "optimizer.ckpt"))
        self.tokenizer.save(tmp / "tokenizer.json")
        config = {"model": self.model.config.to_dict(), "train": asdict(self.cfg)}
        (tmp / "config.json").write_text(json.dumps(config, indent=2))
        state = {"step": self.step, "workers": self.workers.size,
                 "mindspore_rng": ms.get_rng_state().asnumpy().tolist()}
        (tmp / "state.json").write_text(json.dumps(state))
        old = self.out_dir / (CHECKPOINT_DIR + ".old")
        if final.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
        return final

    @classmethod
    def resume(cls, out_dir, data, cfg=None, progress=True, workers=SINGLE):
        """Continue the run saved in `out_dir`; `cfg` may change e.g. `iters` to train longer."""
        ckpt = Path(out_dir) / CHECKPOINT_DIR
        model, tokenizer, saved = load_checkpoint(ckpt)
        trainer = cls(model, tokenizer, data, cfg or TrainConfig(**saved["train"]), out_dir, progress, workers)
        optimizer_params = ms.load_checkpoint(str(ckpt / "optimizer.ckpt"))
        ms.load_param_into_net(trainer.optimizer, optimizer_params, strict_load=True)
        state = json.loads((ckpt / "state.json").read_text())
        trainer.step = state["step"]
        ms.set_rng_state(ms.Tensor(np.array(state["mindspore_rng"], dtype=np.uint8)))
        trainer.history = _read_metrics(Path(out_dir) / "metrics.jsonl", up_to_step=trainer.step)
        if workers.is_main:
            (Path(out_dir) / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in trainer.history))
        return trainer


def _read_metrics(path, up_to_step):
    if not path.exists():
        return []
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in records if r["step"] <= up_to_step]


class CheckpointError(ValueError):
    """A checkpoint that is missing, incomplete, or does not fit the model."""


def load_checkpoint(path):
    """Load (model, tokenizer, config dict) from a checkpoint directory or its run directory."""
    path = Path(path)
    if (path / CHECKPOINT_DIR).is_dir():
        path = path / CHECKPOINT_DIR
    if not path.is_dir():
        raise CheckpointError(f"no checkpoint at {path}")
    missing = [n for n in ("model.ckpt", "config.json", "tokenizer.json") if not (path / n).exists()]
    if missing:
        raise CheckpointError(f"{path} is not a complete checkpoint: missing {', '.join(missing)}")
    saved = json.loads((path / "config.json").read_text())
    tokenizer = load_tokenizer(path / "tokenizer.json")
    config = GPTConfig(**saved["model"])
    if config.vocab_size != tokenizer.vocab_size:
        raise CheckpointError(f"{path}: the model has a vocabulary of {config.vocab_size} tokens "
                              f"but its tokenizer has {tokenizer.vocab_size}")
    model = GPT(config)
    load_weights(model, path / "model.ckpt")
    model.set_train(False)
    return model, tokenizer, saved


def load_weights(model, ckpt_file):
    """Load weights that must match the model's names and shapes exactly."""
    weights = ms.load_checkpoint(str(ckpt_file))
    expected = {p.name: p.shape for p in model.get_parameters()}
    for name, shape in expected.items():
        if name not in weights:
            raise CheckpointError(f"{ckpt_file}: weight {name} is missing")
        if tuple(weights[name].shape) != tuple(shape):
            raise CheckpointError(f"{ckpt_file}: weight {name} has shape {tuple(weights[name].shape)}, "
                                  f"the model expects {tuple(shape)} (a checkpoint of another size "
                                  f"or vocabulary?)")
    unexpected = sorted(set(weights) - set(expected))
    if unexpected:
        raise CheckpointError(f"{ckpt_file}: unexpected weights {', '.join(unexpected[:3])}")
    ms.load_param_into_net(model, weights, strict_load=True)
