"""The command line: a tiny train -> sample -> resume flow, and one-line errors for bad input."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from minigpt.__main__ import main

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "16", "--batch-size", "4",
        "--eval-interval", "4", "--eval-iters", "2", "--warmup-iters", "2", "--no-progress"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("a small corpus for a small model. " * 30, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def run_dir(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "run"
    assert main(["train", "--data", str(corpus), "--out", str(out), "--iters", "4", *TINY]) == 0
    return out


def error_of(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    return err


def test_train_writes_a_run(run_dir):
    assert (run_dir / "checkpoint" / "model.ckpt").exists()
    assert (run_dir / "loss_curve.png").exists()
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 4


def test_model_options_reach_the_saved_config(corpus, tmp_path):
    out = tmp_path / "rope"
    assert main(["train", "--data", str(corpus), "--out", str(out), "--iters", "2", "--positions", "rotary",
                 "--no-bias", *TINY]) == 0
    saved = json.loads((out / "checkpoint" / "config.json").read_text())["model"]
    assert saved["positions"] == "rotary" and saved["bias"] is False


def test_sample_streams_a_continuation_of_the_prompt(run_dir, capsys):
    argv = ["sample", "--checkpoint", str(run_dir), "--prompt", "a small", "--max-new-tokens", "12", "--seed", "1"]
    assert main(argv) == 0
    text = capsys.readouterr().out.splitlines()[-1]
    assert text.startswith("a small") and len(text) > len("a small")
    assert main(argv) == 0
    assert capsys.readouterr().out.splitlines()[-1] == text  # --seed makes samples repeat


def test_resume_trains_on_to_more_iterations(run_dir, corpus, capsys):
    assert main(["train", "--data", str(corpus), "--out", str(run_dir), "--iters", "6", "--resume", *TINY]) == 0
    assert "resuming" in capsys.readouterr().out
    steps = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_errors_are_one_line(run_dir, corpus, tmp_path, capsys):
    assert error_of(["train", "--data", str(tmp_path / "nope.txt"), "--out", str(tmp_path / "r")], capsys) \
        == f"error: data file not found: {tmp_path / 'nope.txt'}"
    assert "must be divisible by n_head" in error_of(
        ["train", "--data", str(corpus), "--out", str(tmp_path / "r"), "--n-head", "3", "--n-embd", "16"], capsys)
    assert "already holds a run: add --resume" in error_of(
        ["train", "--data", str(corpus), "--out", str(run_dir), *TINY], capsys)
    for command in ("sample", "chat", "serve"):
        assert "no checkpoint at" in error_of([command, "--checkpoint", str(tmp_path / "nothing")], capsys)
    for option, value in [("--temperature", "-1"), ("--temperature", "nan"), ("--top-k", "0"), ("--top-p", "0")]:
        assert error_of(["sample", "--checkpoint", str(run_dir), option, value], capsys).startswith(
            f"error: {option} must be")
    assert "not in the char tokenizer's vocabulary: '你'" in error_of(
        ["sample", "--checkpoint", str(run_dir), "--prompt", "你好"], capsys)


def test_a_checkpoint_of_another_shape_is_refused(run_dir, tmp_path, capsys):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    config = copy / "checkpoint" / "config.json"
    saved = json.loads(config.read_text())
    saved["model"]["n_embd"] = 32
    config.write_text(json.dumps(saved))
    assert "the model expects" in error_of(["sample", "--checkpoint", str(copy)], capsys)


def test_subprocess_is_quiet_and_exits_2_without_traceback(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "GLOG_v"}
    result = subprocess.run([sys.executable, "-m", "minigpt", "sample", "--checkpoint", str(tmp_path),
                             "--device", "tpu"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: unknown device 'tpu': choose one of cpu, gpu, ascend"
    assert result.stdout == ""


def test_every_config_field_is_an_option_with_the_dataclass_default():
    from dataclasses import fields

    from minigpt.__main__ import build_parser
    from minigpt.model import GPTConfig
    from minigpt.options import flag_of
    from minigpt.speedrun import SpeedrunConfig
    from minigpt.train import TrainConfig

    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for command, classes in {"train": (GPTConfig, TrainConfig), "speedrun": (SpeedrunConfig,)}.items():
        options = {o: a for a in commands[command]._actions for o in a.option_strings}
        for cls in classes:
            for item in fields(cls):
                if "help" not in item.metadata:
                    continue
                action = options[flag_of(item)]  # every field, lr_decay_iters and the betas included
                assert action.default * item.metadata["scale"] == item.default or action.default == item.default
    args = parser.parse_args(["train", "--time-budget", "2.5", "--no-bias"])
    assert args.time_budget_s == 2.5 and args.bias is False  # minutes on the command line


def test_sft_and_eval_are_commands_of_their_own(run_dir, tmp_path, capsys):
    from minigpt.data import write_jsonl

    chat = [{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "small"}],
             "skill": "echo"}] * 6
    write_jsonl(chat, tmp_path / "chats" / "train.jsonl")
    write_jsonl(chat, tmp_path / "chats" / "test.jsonl")
    out = tmp_path / "sft"
    assert main(["sft", "--checkpoint", str(run_dir), "--data", str(tmp_path / "chats"), "--out", str(out),
                 "--iters", "3", "--batch-size", "2", "--eval-interval", "3", "--eval-iters", "1",
                 "--warmup-iters", "1", "--no-progress"]) == 0
    assert (out / "checkpoint" / "model.ckpt").exists()
    assert main(["eval", "--checkpoint", str(out), "--data", str(tmp_path / "chats" / "test.jsonl"),
                 "--out", str(tmp_path / "eval"), "--no-progress"]) == 0
    assert "echo:" in capsys.readouterr().out
    evaluation = json.loads((tmp_path / "eval" / "evaluation.json").read_text())
    assert set(evaluation) == {"sets", "loss"} and list(evaluation["sets"]) == ["test"]  # records without a set
