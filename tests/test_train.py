"""Training: schedule values, parameter groups, learning, exact resume, Ctrl-C, the time budget."""

import json
import time

import numpy as np
import pytest

from minigpt.device import seed_everything
from minigpt.model import GPT
from minigpt.checkpoint import CHECKPOINT_DIR
from minigpt.train import TimeBudget, Trainer, TrainConfig, lr_at, parameter_groups


def small_cfg(**overrides):
    base = dict(iters=12, batch_size=4, lr=1e-2, min_lr=1e-3, warmup_iters=2, eval_interval=6, eval_iters=2,
                checkpoint_interval=6, seed=7)
    return TrainConfig(**{**base, **overrides})


def make_trainer(tiny_data, tiny_config, out_dir, **overrides):
    tokenizer, data = tiny_data
    seed_everything(0)
    return Trainer(GPT(tiny_config), tokenizer, data, small_cfg(**overrides), out_dir, progress=False)


def test_lr_schedule_matches_reference_values():
    cfg = TrainConfig(iters=1000, lr=1e-3, min_lr=1e-4, warmup_iters=100)
    assert lr_at(0, cfg) == pytest.approx(1e-3 * 1 / 101)
    assert lr_at(99, cfg) == pytest.approx(1e-3 * 100 / 101)
    assert lr_at(100, cfg) == pytest.approx(1e-3)
    assert lr_at(550, cfg) == pytest.approx(1e-4 + 0.5 * 0.9e-3)  # half-way down the cosine
    assert lr_at(1000, cfg) == pytest.approx(1e-4)
    assert lr_at(5000, cfg) == pytest.approx(1e-4)
    values = [lr_at(s, cfg) for s in range(100, 1000)]
    assert all(a >= b for a, b in zip(values, values[1:]))  # never rises after warmup


def test_weight_decay_skips_biases_and_layernorm(tiny_config):
    decay, no_decay = parameter_groups(GPT(tiny_config), 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim == 2 for p in decay["params"])
    names = {p.name for p in no_decay["params"]}
    assert any("bias" in n for n in names) and any("ln_1.gamma" in n for n in names)
    assert not any("embedding_table" in n for n in names)


@pytest.mark.parametrize("bad, message", [
    (dict(iters=0), "iters must be at least 1"),
    (dict(batch_size=0), "batch_size must be positive"),
    (dict(lr=1e-4, min_lr=1e-3), "must not exceed lr"),
    (dict(weight_decay=-0.1), "weight_decay must be positive"),
])
def test_bad_training_values_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**bad)


def test_loss_falls_and_artifacts_are_written(tiny_data, tiny_config, tmp_path):
    trainer = make_trainer(tiny_data, tiny_config, tmp_path, iters=30, eval_interval=15)
    assert trainer.train() is True
    history = trainer.history
    evals = [r for r in history if "val_loss" in r]
    assert evals[-1]["val_loss"] < 0.8 * np.log(tiny_config.vocab_size)
    assert history[-1]["loss"] < history[0]["loss"] - 0.5
    assert (tmp_path / "loss_curve.png").stat().st_size > 1000
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == list(range(1, 31))
    ckpt = tmp_path / CHECKPOINT_DIR
    assert sorted(p.name for p in ckpt.iterdir()) == [
        "config.json", "model.ckpt", "optimizer.ckpt", "state.json", "tokenizer.json"]
    assert not (tmp_path / (CHECKPOINT_DIR + ".tmp")).exists()
    assert json.loads((ckpt / "state.json").read_text())["step"] == 30


def interrupt_after(trainer, steps):
    """Make the trainer's step raise KeyboardInterrupt (as Ctrl-C does) after `steps` updates."""
    real_step = trainer._train_step
    calls = []

    def step(*args):
        calls.append(1)
        if len(calls) > steps:
            raise KeyboardInterrupt
        return real_step(*args)

    trainer._train_step = step


@pytest.mark.slow
def test_resume_continues_exactly(tiny_data, tiny_config, tmp_path):
    straight = make_trainer(tiny_data, tiny_config, tmp_path / "a")
    straight.train()

    first = make_trainer(tiny_data, tiny_config, tmp_path / "b")
    interrupt_after(first, 5)
    assert first.train() is False
    resumed = Trainer.resume(tmp_path / "b", tiny_data[1], small_cfg(), progress=False)
    assert resumed.step == 5
    assert resumed.train() is True
    history, expected = resumed.history, straight.history
    np.testing.assert_allclose([r["loss"] for r in history], [r["loss"] for r in expected], rtol=1e-6)
    assert history[-1]["val_loss"] == pytest.approx(expected[-1]["val_loss"], rel=1e-6)


def test_gradient_accumulation_trains(tiny_data, tiny_config, tmp_path):
    trainer = make_trainer(tiny_data, tiny_config, tmp_path, iters=20, grad_accum=2)
    trainer.train()
    assert trainer.history[-1]["loss"] < trainer.history[0]["loss"] - 0.5


def test_recomputing_the_blocks_trains_exactly_as_keeping_their_activations(tiny_data, tiny_config, tmp_path):
    """--recompute trades time for memory and nothing else: the same losses."""
    kept = make_trainer(tiny_data, tiny_config, tmp_path / "kept", iters=8)
    assert kept.train()
    recomputed = make_trainer(tiny_data, tiny_config, tmp_path / "recomputed", iters=8, recompute=True)
    assert recomputed.train()
    losses = [r["loss"] for r in kept.history]
    assert len(set(losses)) == 8  # training moved
    np.testing.assert_allclose([r["loss"] for r in recomputed.history], losses, rtol=1e-6)


def test_recompute_with_dropout_and_the_fused_kernels_is_refused_clearly(tiny_data, tiny_config, tmp_path):
    from dataclasses import replace
    from minigpt.kernels import fused_available

    if not fused_available():
        pytest.skip("the fused kernels did not build here")
    with pytest.raises(ValueError, match="--recompute needs --dropout 0"):
        make_trainer(tiny_data, replace(tiny_config, dropout=0.1), tmp_path, recompute=True)


def test_ctrl_c_saves_a_checkpoint_and_returns(tiny_data, tiny_config, tmp_path, capsys):
    trainer = make_trainer(tiny_data, tiny_config, tmp_path)
    interrupt_after(trainer, 3)
    assert trainer.train() is False
    assert json.loads((tmp_path / CHECKPOINT_DIR / "state.json").read_text())["step"] == 3
    assert "interrupted at step 3" in capsys.readouterr().out


@pytest.mark.slow
def test_the_time_budget_is_fitted_again_at_the_end_of_warmup(tiny_data, tiny_config, tmp_path, monkeypatch):
    """The first steps are slow (caches warming up): a count fitted to them alone leaves budget unused."""
    trainer = make_trainer(tiny_data, tiny_config, tmp_path, iters=1000, warmup_iters=40, time_budget_s=100.0,
                           eval_interval=1000)
    clock, real_step = [0.0], trainer._train_step

    def timed_step(*args):
        clock[0] += 2.0 if trainer.step < 20 else 0.5
        return real_step(*args)

    trainer._train_step = timed_step
    monkeypatch.setattr(time, "perf_counter", lambda: clock[0])
    assert trainer.train() is True
    # fitted at step 20 to 2 s per step: 48 iterations; at step 40 to the faster pace: more
    assert 60 < len(trainer.history) == trainer.iters < 1000
    assert trainer.cfg.iters == 1000  # what was asked for stays as it was
    assert 80 < clock[0] <= 100


@pytest.mark.slow
def test_a_pace_that_slows_after_warmup_lowers_the_iterations_again(tiny_data, tiny_config, tmp_path, monkeypatch):
    """Fitted at 0.5 s per step, the run slows to 0.75 s from step 150: without a later check it
    would take 75 + 0.75 * 420 = 390 s of its 300."""
    trainer = make_trainer(tiny_data, tiny_config, tmp_path, iters=1000, warmup_iters=40, time_budget_s=300.0,
                           eval_interval=1000)
    clock, real_step, counts = [0.0], trainer._train_step, []
    real_iters = TimeBudget.iters

    def timed_step(*args):
        clock[0] += 0.5 if trainer.step < 150 else 0.75
        return real_step(*args)

    def recorded_iters(budget, step, planned, requested):
        iters = real_iters(budget, step, planned, requested)
        if iters != planned:
            counts.append(iters)
        return iters

    trainer._train_step = timed_step
    monkeypatch.setattr(TimeBudget, "iters", recorded_iters)
    monkeypatch.setattr(time, "perf_counter", lambda: clock[0])
    trainer.train()
    assert counts[1] > 550  # fitted at the end of warmup to the fast pace
    assert counts[2:] == sorted(counts[2:], reverse=True) and counts[-1] < counts[1]  # after warmup: only lower
    assert len(trainer.history) == trainer.iters == counts[-1]
    # The guard's pace is the average since the last fit, so a sudden slowdown is caught a little late.
    assert 290 < clock[0] < 303


def fake_clock(trainer, monkeypatch, seconds_per_step):
    """Time that passes only in training steps, `seconds_per_step` each."""
    clock, real_step = [0.0], trainer._train_step

    def timed_step(*args):
        clock[0] += seconds_per_step
        return real_step(*args)

    trainer._train_step = timed_step
    monkeypatch.setattr(time, "perf_counter", lambda: clock[0])
    return clock


def test_a_time_budget_lowers_the_iterations_during_warmup(tiny_data, tiny_config, tmp_path, monkeypatch):
    trainer = make_trainer(tiny_data, tiny_config, tmp_path, iters=100_000, warmup_iters=5, time_budget_s=3.0,
                           eval_interval=100_000)
    fake_clock(trainer, monkeypatch, 0.01)
    trainer.train()
    history = trainer.history
    assert 250 < trainer.iters < 300 and trainer.cfg.iters == 100_000  # 95% of 3 s at 10 ms a step
    assert len(history) == trainer.iters
    assert history[-1]["lr"] == pytest.approx(lr_at(trainer.iters - 1, trainer.cfg, trainer.iters))
    assert history[-1]["lr"] == pytest.approx(trainer.cfg.min_lr, rel=0.05)  # the schedule ended with the run
    assert "val_loss" in history[-1]  # the last step is still evaluated


def test_a_resumed_run_keeps_the_iterations_its_budget_fitted(tiny_data, tiny_config, tmp_path, monkeypatch):
    trainer = make_trainer(tiny_data, tiny_config, tmp_path, iters=100_000, warmup_iters=5, time_budget_s=3.0,
                           eval_interval=100_000)
    fake_clock(trainer, monkeypatch, 0.01)
    interrupt_after(trainer, 30)
    trainer.train()
    planned = trainer.iters
    resumed = Trainer.resume(tmp_path, tiny_data[1], progress=False)
    assert (resumed.step, resumed.iters, resumed.cfg.iters) == (30, planned, 100_000) and planned < 300
