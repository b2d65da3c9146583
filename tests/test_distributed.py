"""Data parallelism on CPU with MindSpore's launcher (msrun) and 2 local workers: the
weights stay identical on every worker, and training matches one process that uses
the same global batch."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from minigpt.__main__ import main

HERE = Path(__file__).resolve().parent
TEXT = "data parallel workers share each batch. " * 60
ITERS, ROWS_PER_WORKER = 12, 2
pytestmark = pytest.mark.slow  # msrun starts worker processes


def tiny_trainer(out, batch_size, workers=None):
    """The same tiny run for the workers and for the single-process reference."""
    from minigpt.data import tokenize_documents, train_val_split
    from minigpt.distributed import SINGLE
    from minigpt.model import GPT, GPTConfig
    from minigpt.tokenizer import CharTokenizer
    from minigpt.train import Trainer, TrainConfig

    tokenizer = CharTokenizer.train(TEXT)
    data = train_val_split(tokenize_documents([TEXT], tokenizer))
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=16, n_layer=1, n_head=2, n_embd=16))
    cfg = TrainConfig(iters=ITERS, batch_size=batch_size, lr=3e-3, warmup_iters=2, eval_interval=ITERS,
                      eval_iters=2, checkpoint_interval=ITERS, seed=7)
    return Trainer(model, tokenizer, data, cfg, out, progress=False, workers=workers or SINGLE)


def single_process_weights(out):
    from minigpt.device import seed_everything

    seed_everything(0)
    trainer = tiny_trainer(out, 2 * ROWS_PER_WORKER)
    trainer.train()
    return {p.name: p.asnumpy() for p in trainer.model.get_parameters()}


def test_two_workers_keep_identical_weights_equal_to_one_process_with_the_global_batch(tmp_path):
    from minigpt.distributed import launch_local

    env_path = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(HERE), env_path])  # the workers import this module
    try:
        code = launch_local(2, [str(HERE / "data_parallel_worker.py"), str(tmp_path)], tmp_path / "logs")
    finally:
        os.environ["PYTHONPATH"] = env_path
    assert code == 0, (tmp_path / "logs" / "worker_0.log").read_text()[-3000:]
    rank0, rank1 = (np.load(tmp_path / f"rank{r}.npz") for r in (0, 1))
    assert sorted(rank0) == sorted(rank1)
    for name in rank0:
        np.testing.assert_array_equal(rank0[name], rank1[name], err_msg=name)

    reference = single_process_weights(tmp_path / "single")
    for name, value in reference.items():
        np.testing.assert_allclose(rank0[name], value, rtol=1e-4, atol=1e-5, err_msg=name)


def test_cli_data_parallel_loss_curve_matches_one_process(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    common = ["--data", str(corpus), "--iters", str(ITERS), "--n-layer", "1", "--n-head", "2", "--n-embd", "16",
              "--block-size", "16", "--eval-interval", "4", "--eval-iters", "2", "--warmup-iters", "2",
              "--no-progress", "--seed", "7"]
    assert main(["train", "--data-parallel", "2", "--batch-size", "3", "--out", str(tmp_path / "dp"), *common]) == 0
    assert main(["train", "--batch-size", "6", "--out", str(tmp_path / "one"), *common]) == 0

    def metrics(run):
        return [json.loads(line) for line in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]

    dp, one = metrics("dp"), metrics("one")
    assert [r["step"] for r in dp] == list(range(1, ITERS + 1))
    np.testing.assert_allclose([r["loss"] for r in dp], [r["loss"] for r in one], rtol=1e-4)
    np.testing.assert_allclose([r["val_loss"] for r in dp if "val_loss" in r],
                               [r["val_loss"] for r in one if "val_loss" in r], rtol=1e-4)
    state = json.loads((tmp_path / "dp" / "checkpoint" / "state.json").read_text())
    assert state["workers"] == 2


def test_data_parallel_needs_at_least_one_worker(tmp_path, capsys):
    assert main(["train", "--data-parallel", "0", "--out", str(tmp_path / "x")]) == 2
    assert "--data-parallel must be at least 1" in capsys.readouterr().err


def test_bad_input_is_reported_before_any_worker_starts(tmp_path, capsys):
    out = tmp_path / "x"
    assert main(["train", "--data-parallel", "2", "--data", str(tmp_path / "missing.txt"), "--out", str(out)]) == 2
    assert "missing.txt" in capsys.readouterr().err
    assert not (out / "msrun_logs").exists()
