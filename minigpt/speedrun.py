"""The speedrun: from nothing to a chat model with a report card, in minutes on a CPU.

Stages, each timed: TinyChat data, a character tokenizer, pretraining on the
embedded corpus, chat tuning (SFT) on TinyChat, evaluation of both models on
the held-out questions, and the report card. Everything lands in runs/<name>/.

Running it again with the same options resumes: finished stages are skipped,
an interrupted training stage continues from its checkpoint. Other options on
an existing run are refused (use --fresh, or another --name), so two runs are
never mixed.
"""

import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import mindspore as ms

from minigpt.data import load_documents, tokenize_documents, train_val_split
from minigpt.device import seed_everything, setup_device
from minigpt.evaluate import exact_match, write_report
from minigpt.generate import print_sample
from minigpt.model import GPT, GPTConfig
from minigpt.sft import ChatData
from minigpt.tinychat import make_tinychat, read_jsonl
from minigpt.tokenizer import CharTokenizer, load_tokenizer
from minigpt.train import CHECKPOINT_DIR, Trainer, TrainConfig, load_checkpoint, loss_function, mean_loss

# Model and training sizes. "tiny" is for tests; "small" is the default speedrun
# (docs/performance.md records what was tried: two layers at a higher chat-tuning
# learning rate beat four layers in the same time on 2 CPU cores). Its step counts
# are ceilings: the time budget decides (4,322 chat-tuning steps of about 0.14 s
# on the 2-core reference machine).
SIZES = {
    "tiny": dict(n_layer=1, n_head=2, n_embd=32, block_size=128, pretrain_iters=10, sft_iters=10,
                 batch_size=4, pretrain_lr=1e-3, sft_lr=3e-3, n_train=400, n_test=40),
    "small": dict(n_layer=2, n_head=4, n_embd=128, block_size=128, pretrain_iters=60, sft_iters=6000,
                  batch_size=16, pretrain_lr=1e-3, sft_lr=3e-3, n_train=26000, n_test=500),
}

# Share of the time budget for pretraining. The skills TinyChat measures are learned in
# chat tuning, and longer pretraining on prose delays them (docs/performance.md: 200
# pretraining steps took the same chat tuning from 50% to 31%), so pretraining is short.
PRETRAIN_SHARE = 0.05


@dataclass
class SpeedrunConfig:
    name: str = "speedrun"
    out_root: str = "runs"
    size: str = "small"
    time_budget_s: float = 810.0  # for the two training stages together (about 13 min in all)
    seed: int = 1337

    def __post_init__(self):
        if self.size not in SIZES:
            raise ValueError(f"unknown size {self.size!r}: choose one of {', '.join(SIZES)}")
        if self.time_budget_s < 0:
            raise ValueError(f"the time budget must not be negative, got {self.time_budget_s}")

    @property
    def run_dir(self):
        return Path(self.out_root) / self.name


class Speedrun:
    def __init__(self, cfg, fresh=False, progress=True):
        self.cfg, self.progress = cfg, progress
        self.size = SIZES[cfg.size]
        self.dir = cfg.run_dir
        self.manifest_path = self.dir / "run.json"
        self._open_run(fresh)

    def _open_run(self, fresh):
        """Start a new run directory, or reopen one made with the same options."""
        if fresh and self.dir.exists():
            shutil.rmtree(self.dir)
        if self.manifest_path.exists():
            self.manifest = json.loads(self.manifest_path.read_text())
            if self.manifest["config"] != asdict(self.cfg):
                raise ValueError(f"{self.dir} holds a run with other options ({self.manifest['config']}): "
                                 f"add --fresh to replace it, or choose another --name")
            print(f"resuming {self.dir}: done so far: {', '.join(self.manifest['stages']) or 'nothing'}")
        else:
            if self.dir.exists() and any(self.dir.iterdir()):
                raise ValueError(f"{self.dir} exists and is not a speedrun: choose another --name")
            self.dir.mkdir(parents=True, exist_ok=True)
            self.manifest = {"config": asdict(self.cfg), "stages": {}}
            self._save_manifest()

    def _save_manifest(self):
        self.manifest_path.write_text(json.dumps(self.manifest, indent=2))

    def _stage(self, name, work):
        """Run one stage unless it is done; record its wall time."""
        if name in self.manifest["stages"]:
            return
        print(f"\n== {name} ==")
        start = time.perf_counter()
        work()
        self.manifest["stages"][name] = round(time.perf_counter() - start, 1)
        self._save_manifest()

    def run(self):
        device = setup_device(quiet=True)
        print(f"speedrun {self.cfg.name} ({self.cfg.size}) on {device.target}, artifacts in {self.dir}")
        self._stage("data", self.make_data)
        self._stage("tokenizer", self.make_tokenizer)
        self._stage("pretrain", self.pretrain)
        self._stage("sft", self.finetune)
        self._stage("evaluate", self.evaluate)
        self._stage("report", lambda: self.report(f"{device.target} ({device.reason})"))
        print(f"\nreport card: {self.dir / 'report.md'}")
        print(f"talk to it:  python -m minigpt chat --checkpoint {self.dir / 'sft'}")
        return json.loads((self.dir / "report.json").read_text())

    # ---- stages -------------------------------------------------------------

    def make_data(self):
        make_tinychat(self.dir / "tinychat", self.size["n_train"], self.size["n_test"], seed=self.cfg.seed)

    def tinychat(self, split):
        return read_jsonl(self.dir / "tinychat" / f"{split}.jsonl")

    def make_tokenizer(self):
        """Characters of the corpus and of TinyChat (chat tokens are reserved in every tokenizer)."""
        chats = "".join(m["content"] for e in self.tinychat("train") for m in e["messages"])
        CharTokenizer.train("\n".join(load_documents()) + chats).save(self.dir / "tokenizer.json")

    def _train(self, stage, model, tokenizer, data, iters, budget_share, lr):
        out = self.dir / stage
        cfg = TrainConfig(iters=iters, batch_size=self.size["batch_size"], lr=lr, min_lr=lr / 10,
                          warmup_iters=min(100, iters // 10), eval_interval=max(1, iters // 5), eval_iters=10,
                          checkpoint_interval=max(1, iters // 5), seed=self.cfg.seed,
                          time_budget_s=self.cfg.time_budget_s * budget_share)
        if (out / CHECKPOINT_DIR).is_dir():
            trainer = Trainer.resume(out, data, progress=self.progress)
        else:
            trainer = Trainer(model, tokenizer, data, cfg, out, progress=self.progress)
        trainer.train()
        if trainer.step < trainer.cfg.iters:  # interrupted (Ctrl-C): stop the speedrun here
            raise KeyboardInterrupt
        return trainer.model

    def pretrain(self):
        tokenizer = load_tokenizer(self.dir / "tokenizer.json")
        documents = load_documents()
        data = train_val_split(tokenize_documents(documents, tokenizer))
        seed_everything(self.cfg.seed)
        s = self.size
        # Rotary positions: copying a word from the question needs "the token after the one
        # I just copied", which RoPE expresses as one distance. The document mask keeps the
        # conversations packed into a row from reading each other. docs/performance.md
        # measures both at the same step count: rotary took the held-out score from 19% to
        # 46%, the document mask from 50% to 76%.
        model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=s["block_size"], n_layer=s["n_layer"],
                              n_head=s["n_head"], n_embd=s["n_embd"], positions="rotary", document_mask=True))
        print("A sample before pretraining (random weights):")
        print_sample(model, tokenizer, "The ", max_new_tokens=150, seed=0)
        model = self._train("pretrain", model, tokenizer, data, s["pretrain_iters"], PRETRAIN_SHARE, s["pretrain_lr"])
        print("A sample after pretraining:")
        print_sample(model, tokenizer, "The ", max_new_tokens=150, seed=0)

    def chat_data(self, tokenizer):
        return ChatData(tokenizer, [e["messages"] for e in self.tinychat("train")],
                        [e["messages"] for e in self.tinychat("test")])

    def finetune(self):
        model, tokenizer, _ = load_checkpoint(self.dir / "pretrain")
        self._train("sft", model, tokenizer, self.chat_data(tokenizer), self.size["sft_iters"], 1 - PRETRAIN_SHARE,
                    self.size["sft_lr"])

    def evaluate(self):
        test = self.tinychat("test")
        chats = self.chat_data(load_tokenizer(self.dir / "tokenizer.json"))  # both stages share it
        results = {"losses": [], "accuracy": {}}
        for label, stage in (("pretrained only", "pretrain"), ("chat-tuned", "sft")):
            model, tokenizer, _ = load_checkpoint(self.dir / stage)
            results["accuracy"][label] = exact_match(model, tokenizer, test, self.progress)
            loss = mean_loss(ms.jit(loss_function(model)), chats, "val",
                             self.size["batch_size"], model.config.block_size, 10, seed=0)
            results["losses"].append({"model": label, "data": "TinyChat test (assistant tokens)", "loss": loss})
            print(f"{label}: exact match {100 * results['accuracy'][label]['overall']:.1f}%, chat loss {loss:.3f}")
        (self.dir / "evaluation.json").write_text(json.dumps(results, indent=2))

    def report(self, device):
        evaluation = json.loads((self.dir / "evaluation.json").read_text())
        model, tokenizer, saved = load_checkpoint(self.dir / "sft")
        pretrain_metrics = _read_jsonl(self.dir / "pretrain" / "metrics.jsonl")
        sft_metrics = _read_jsonl(self.dir / "sft" / "metrics.jsonl")
        losses = [{"model": "pretraining", "data": "Python docs (validation)",
                   "loss": _last(pretrain_metrics, "val_loss")}] + evaluation["losses"]
        report = {
            "name": self.cfg.name,
            "model": {**saved["model"], "parameters": model.num_parameters()},
            "tokenizer": tokenizer.kind,
            "device": device,
            "data": (f"pretraining: Python's reference documentation (pydoc_data.topics); chat tuning: "
                     f"{self.size['n_train']:,} TinyChat conversations; evaluation: {self.size['n_test']} "
                     f"held-out TinyChat questions"),
            "iterations": {"pretrain": len(pretrain_metrics), "sft": len(sft_metrics)},
            "stages": {**self.manifest["stages"], "report": 0.0},
            "losses": losses,
            "accuracy": evaluation["accuracy"],
            "samples": evaluation["accuracy"]["chat-tuned"]["samples"],
        }
        plot_loss_curves(pretrain_metrics, sft_metrics, self.dir / "loss_curve.png")
        write_report(report, self.dir)


def _read_jsonl(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def _last(records, key):
    values = [r[key] for r in records if key in r]
    return values[-1] if values else float("nan")


def plot_loss_curves(pretrain, sft, path):
    """Pretraining and chat-tuning losses on one time axis."""
    from matplotlib.figure import Figure  # not pyplot: a notebook's inline plots stay as they are

    fig = Figure(figsize=(8, 4))
    ax = fig.subplots()
    offset = len(pretrain)
    for records, start, label in ((pretrain, 0, "pretraining"), (sft, offset, "chat tuning (assistant tokens)")):
        steps = np.array([r["step"] for r in records]) + start
        ax.plot(steps, [r["loss"] for r in records], alpha=0.5, label=f"{label}: batch loss")
        evals = [r for r in records if "val_loss" in r]
        ax.plot(np.array([r["step"] for r in evals]) + start, [r["val_loss"] for r in evals], marker="o",
                label=f"{label}: validation")
    ax.axvline(offset, color="grey", linestyle=":")
    ax.set(xlabel="iteration", ylabel="cross-entropy loss", title="Speedrun loss curves")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
