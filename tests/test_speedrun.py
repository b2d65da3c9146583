"""The main job end to end on a tiny budget, its resume rules, and the chat CLI driven through stdin."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from minigpt.speedrun import Speedrun, SpeedrunConfig
from minigpt.tinychat import SKILLS

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # a whole (tiny) speedrun


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    cfg = SpeedrunConfig(name="tiny", out_root=str(tmp_path_factory.mktemp("runs")), size="tiny")
    report = Speedrun(cfg, progress=False).run()
    return cfg, report


def test_the_speedrun_writes_a_full_report_card(run):
    cfg, report = run
    run_dir = cfg.run_dir
    for name in ("report.md", "report.json", "loss_curve.png", "knowledge.png", "run.json", "world.json",
                 "biographies.txt", "tinychat/train.jsonl", "tinychat/test.jsonl", "init/checkpoint/model.ckpt",
                 "pretrain/checkpoint/model.ckpt", "sft/checkpoint/model.ckpt", "baseline/checkpoint/model.ckpt"):
        assert (run_dir / name).exists(), name
    assert list(report["stages"]) == ["world", "data", "tokenizer", "pretrain", "sft", "baseline", "evaluate",
                                      "report"]
    assert list(report["models"]) == ["pretrained only", "chat-tuned, no pretraining", "pretrained + chat-tuned"]
    tuned = report["models"]["pretrained + chat-tuned"]["sets"]
    assert list(tuned) == ["turn 1", "turns 2-4", "memory, later", "real names", "ordinary words", "rephrased",
                           "knowledge"]
    assert set(tuned["turn 1"]["per_skill"]) == set(SKILLS)
    assert set(tuned["turns 2-4"]["per_turn"]) == {"2", "3", "4"}
    assert sum(tuned["knowledge"]["counts"].values()) == 5 * 10  # every fact of the tiny world's 10 held-out people
    assert set(report["models"]["pretrained only"]["sets"]) == {"turn 1", "knowledge"}
    assert set(report["knowledge"]) == set(report["models"])
    markdown = (run_dir / "report.md").read_text()
    for heading in ("## Held-out questions, as people ask them", "## Knowledge: what it read in pretraining",
                    "| turn 4 |", "## Sample conversations"):
        assert heading in markdown
    assert "rotary positions, document mask)" in markdown  # the speedrun's model, on the report card
    assert report["iterations"] == {"pretrain": 10, "sft": 10, "baseline": 10}
    world = json.loads((run_dir / "world.json").read_text())
    assert len(world["people"]) == 20 and {p["split"] for p in world["people"]} == {"train", "test"}


def test_running_again_resumes_and_other_options_are_refused(run, capsys):
    cfg, report = run
    again = Speedrun(cfg, progress=False).run()
    assert "done so far: world, data, tokenizer, pretrain, sft, baseline, evaluate, report" in capsys.readouterr().out
    assert again == report
    other = SpeedrunConfig(name=cfg.name, out_root=cfg.out_root, size="tiny", seed=1)
    with pytest.raises(ValueError, match="holds a run with other options .* add --fresh"):
        Speedrun(other)


def test_an_interrupted_stage_resumes_from_its_checkpoint(run, tmp_path, monkeypatch):
    import shutil

    from minigpt import sft
    from minigpt.train import Trainer

    cfg, _ = run
    copy = SpeedrunConfig(name=cfg.name, out_root=str(tmp_path), size="tiny")
    shutil.copytree(cfg.run_dir, copy.run_dir)
    shutil.rmtree(copy.run_dir / "sft")
    shutil.rmtree(copy.run_dir / "baseline")
    manifest = json.loads((copy.run_dir / "run.json").read_text())
    manifest["config"] = {**manifest["config"], "out_root": str(tmp_path)}
    manifest["stages"] = {k: v for k, v in manifest["stages"].items() if k in ("world", "data", "tokenizer",
                                                                                "pretrain")}
    (copy.run_dir / "run.json").write_text(json.dumps(manifest))

    class CtrlCAfterFourSteps(Trainer):
        def _compile_train_step(self):
            step, calls = super()._compile_train_step(), []

            def interrupted(*args):
                calls.append(1)
                if len(calls) > 4:
                    raise KeyboardInterrupt
                return step(*args)

            return interrupted

    monkeypatch.setattr(sft, "Trainer", CtrlCAfterFourSteps)
    with pytest.raises(KeyboardInterrupt):
        Speedrun(copy, progress=False).run()
    assert json.loads((copy.run_dir / "sft" / "checkpoint" / "state.json").read_text())["step"] == 4
    monkeypatch.setattr(sft, "Trainer", Trainer)
    report = Speedrun(copy, progress=False).run()
    steps = [json.loads(line)["step"] for line in (copy.run_dir / "sft" / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 11)) and report["iterations"]["sft"] == 10


def test_chat_cli_through_stdin(run):
    cfg, _ = run
    commands = "hello\n/temp 0.5\n/temp hot\n/reset\n/nope\nWhat is 2 + 2?\n/quit\n"
    env = {**os.environ, "GLOG_v": "3"}
    result = subprocess.run([sys.executable, "-m", "minigpt", "chat", "--checkpoint", str(cfg.run_dir / "sft"),
                             "--max-new-tokens", "8"], input=commands, capture_output=True, text=True,
                            cwd=ROOT, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.count("bot> ") == 2
    assert "(temperature 0.5)" in out and "(usage: /temp X" in out
    assert "(conversation cleared)" in out and "(unknown command /nope" in out
    assert "Traceback" not in result.stderr


def test_chat_says_when_a_checkpoint_was_never_chat_tuned(run):
    from minigpt.checkpoint import is_chat_tuned

    cfg, _ = run
    assert [is_chat_tuned(cfg.run_dir / stage) for stage in ("pretrain", "sft", "baseline")] == [False, True, True]
    env = {**os.environ, "GLOG_v": "3"}
    outputs = [subprocess.run([sys.executable, "-m", "minigpt", "chat", "--checkpoint", str(cfg.run_dir / stage)],
                              input="/quit\n", capture_output=True, text=True, cwd=ROOT, env=env,
                              timeout=300).stdout for stage in ("pretrain", "sft")]
    note = [line for line in outputs[0].splitlines() if line.startswith("note:")]
    assert len(note) == 1 and "never chat-tuned" in note[0]
    assert "note:" not in outputs[1]


def test_the_notebook_chat_widget_answers_and_resets(run):
    from minigpt.checkpoint import load_checkpoint
    from minigpt.session import ChatSession, chat_widget

    cfg, _ = run
    model, tokenizer, _ = load_checkpoint(cfg.run_dir / "sft")
    session = ChatSession(model, tokenizer, max_new_tokens=6)
    widget = chat_widget(session)
    log, (box, reset) = widget.children[0], widget.children[1].children
    box.value = "Hi, I am <Ana>."  # what pressing Enter does with continuous_update off
    assert log.value.startswith("<b>you</b>: Hi, I am &lt;Ana&gt;.<br><b>bot</b>: ")
    assert box.value == "" and [m["role"] for m in session.messages] == ["user", "assistant"]
    box.value = "Hi, I am \u00c5sa."  # not in the tokenizer: one line saying so, nothing kept
    assert "<i>character(s) not in" in log.value and len(session.messages) == 2
    reset.click()
    assert log.value == "" and session.messages == []
