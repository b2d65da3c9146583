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

from minigpt.checkpoint import has_checkpoint, load_checkpoint
from minigpt.data import load_documents, read_jsonl, tokenize_documents, train_val_split
from minigpt.device import seed_everything, setup_device
from minigpt.evaluate import evaluate_checkpoint, write_report
from minigpt.generate import print_sample
from minigpt.model import GPT, GPTConfig
from minigpt.options import option
from minigpt.sft import finetune
from minigpt.tinychat import make_tinychat, read_conversations
from minigpt.tokenizer import CharTokenizer, load_tokenizer
from minigpt.train import Trainer, TrainConfig, plot_loss_curves


@dataclass(frozen=True)
class Size:
    """A speedrun's model, its two trainings and its data."""

    n_layer: int
    n_head: int
    n_embd: int
    block_size: int
    pretrain_iters: int  # ceilings: the time budget decides
    sft_iters: int
    batch_size: int
    pretrain_lr: float
    sft_lr: float
    n_train: int  # TinyChat conversations to chat-tune on
    n_test: int   # held-out questions the report card asks


# "tiny" is for tests; "small" is the default speedrun (docs/performance.md records what
# was tried: two layers at a higher chat-tuning learning rate beat four layers in the
# same time on 2 CPU cores): about 5,400 chat-tuning steps of 0.14 s on the 2-core machine.
SIZES = {
    "tiny": Size(n_layer=1, n_head=2, n_embd=32, block_size=128, pretrain_iters=10, sft_iters=10, batch_size=4,
                 pretrain_lr=1e-3, sft_lr=3e-3, n_train=400, n_test=40),
    "small": Size(n_layer=2, n_head=4, n_embd=128, block_size=128, pretrain_iters=60, sft_iters=6000,
                  batch_size=16, pretrain_lr=1e-3, sft_lr=3e-3, n_train=26000, n_test=500),
}

# Share of the time budget for pretraining. The skills TinyChat measures are learned in
# chat tuning, and longer pretraining on prose delays them (docs/performance.md: 200
# pretraining steps took the same chat tuning from 50% to 31%), so pretraining is short.
PRETRAIN_SHARE = 0.05


@dataclass
class SpeedrunConfig:
    name: str = option("speedrun", "run name: artifacts go to OUT_ROOT/NAME")
    out_root: str = option("runs", "where runs are kept")
    size: str = option("small", "small: the real run; tiny: a seconds-long smoke test", choices=tuple(SIZES))
    time_budget_s: float = option(810.0, "minutes for the two training stages together",
                                  flag="time_budget", scale=60)
    seed: int = option(1337, "random seed")

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
        """Run one stage unless it is done; record its wall time. A stage that returns False
        was interrupted (Ctrl-C saved a checkpoint): the speedrun stops there."""
        if name in self.manifest["stages"]:
            return
        print(f"\n== {name} ==")
        start = time.perf_counter()
        if work() is False:
            raise KeyboardInterrupt
        self.manifest["stages"][name] = round(time.perf_counter() - start, 1)
        self._save_manifest()

    def run(self, through="report"):
        """The stages, one library call each (as nanochat's speedrun.sh has one command per stage),
        up to and including `through`; returns the report card's data once it is written."""
        device = setup_device(quiet=True)
        size, tinychat = self.size, self.dir / "tinychat"
        stages = {
            "data": lambda: make_tinychat(tinychat, size.n_train, size.n_test, seed=self.cfg.seed),
            "tokenizer": self.make_tokenizer,
            "pretrain": self.pretrain,
            "sft": lambda: finetune(self.dir / "pretrain", self.conversations("train"), self.conversations("test"),
                                    self.dir / "sft", self.sft_config(), self.progress),
            "evaluate": self.evaluate,
            "report": lambda: self.report(f"{device.target} ({device.reason})"),
        }
        if through not in stages:
            raise ValueError(f"unknown stage {through!r}: the stages are {', '.join(stages)}")
        print(f"speedrun {self.cfg.name} ({self.cfg.size}) on {device.target}, artifacts in {self.dir}")
        for name, work in stages.items():
            self._stage(name, work)
            if name == through:
                break
        if through != "report":
            return None
        print(f"\nreport card: {self.dir / 'report.md'}")
        print(f"talk to it:  python -m minigpt chat --checkpoint {self.dir / 'sft'}")
        return json.loads((self.dir / "report.json").read_text())

    # ---- stages -------------------------------------------------------------

    def conversations(self, split):
        return [e["messages"] for e in read_conversations(self.dir / "tinychat" / f"{split}.jsonl")]

    def make_tokenizer(self):
        """Characters of the corpus and of TinyChat (chat tokens are reserved in every tokenizer)."""
        chats = "".join(m["content"] for c in self.conversations("train") for m in c)
        CharTokenizer.train("\n".join(load_documents()) + chats).save(self.dir / "tokenizer.json")

    def _train_config(self, iters, budget_share, lr):
        return TrainConfig(iters=iters, batch_size=self.size.batch_size, lr=lr, min_lr=lr / 10,
                           warmup_iters=min(100, iters // 10), eval_interval=max(1, iters // 5), eval_iters=10,
                           checkpoint_interval=max(1, iters // 5), seed=self.cfg.seed,
                           time_budget_s=self.cfg.time_budget_s * budget_share)

    def sft_config(self):
        return self._train_config(self.size.sft_iters, 1 - PRETRAIN_SHARE, self.size.sft_lr)

    def pretrain(self):
        tokenizer = load_tokenizer(self.dir / "tokenizer.json")
        data = train_val_split(tokenize_documents(load_documents(), tokenizer))
        out, s = self.dir / "pretrain", self.size
        if has_checkpoint(out):
            return Trainer.resume(out, data, progress=self.progress).train()
        seed_everything(self.cfg.seed)
        # Rotary positions: copying a word from the question needs "the token after the one
        # I just copied", which RoPE expresses as one distance. The document mask keeps the
        # conversations packed into a row from reading each other. docs/performance.md
        # measures both at the same step count: rotary took the held-out score from 19% to
        # 46%, the document mask from 50% to 76%.
        model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=s.block_size, n_layer=s.n_layer,
                              n_head=s.n_head, n_embd=s.n_embd, positions="rotary", document_mask=True,
                              bos_id=tokenizer.bos_id))
        print("A sample before pretraining (random weights):")
        print_sample(model, tokenizer, "The ", max_new_tokens=150, seed=0)
        trainer = Trainer(model, tokenizer, data, self._train_config(s.pretrain_iters, PRETRAIN_SHARE, s.pretrain_lr),
                          out, progress=self.progress)
        finished = trainer.train()
        print("A sample after pretraining:")
        print_sample(model, tokenizer, "The ", max_new_tokens=150, seed=0)
        return finished

    def evaluate(self):
        test = read_conversations(self.dir / "tinychat" / "test.jsonl")
        results = {"losses": [], "accuracy": {}}
        for label, stage in (("pretrained only", "pretrain"), ("chat-tuned", "sft")):
            found = evaluate_checkpoint(self.dir / stage, test, self.progress, batch_size=self.size.batch_size)
            results["accuracy"][label] = found["accuracy"]
            results["losses"].append({"model": label, "data": "TinyChat test (assistant tokens)",
                                      "loss": found["loss"]})
            print(f"{label}: exact match {100 * found['accuracy']['overall']:.1f}%, chat loss {found['loss']:.3f}")
        (self.dir / "evaluation.json").write_text(json.dumps(results, indent=2))

    def report(self, device):
        evaluation = json.loads((self.dir / "evaluation.json").read_text())
        model, tokenizer, saved = load_checkpoint(self.dir / "sft")
        pretrain_metrics = read_jsonl(self.dir / "pretrain" / "metrics.jsonl")
        sft_metrics = read_jsonl(self.dir / "sft" / "metrics.jsonl")
        losses = [{"model": "pretraining", "data": "Python docs (validation)",
                   "loss": _last(pretrain_metrics, "val_loss")}] + evaluation["losses"]
        report = {
            "name": self.cfg.name,
            "model": {**saved["model"], "parameters": model.num_parameters()},
            "tokenizer": tokenizer.kind,
            "device": device,
            "data": (f"pretraining: Python's reference documentation (pydoc_data.topics); chat tuning: "
                     f"{self.size.n_train:,} TinyChat conversations; evaluation: {self.size.n_test} "
                     f"held-out TinyChat questions"),
            "iterations": {"pretrain": len(pretrain_metrics), "sft": len(sft_metrics)},
            "stages": {**self.manifest["stages"], "report": 0.0},
            "losses": losses,
            "accuracy": evaluation["accuracy"],
            "samples": evaluation["accuracy"]["chat-tuned"]["samples"],
        }
        plot_loss_curves([("pretraining", pretrain_metrics), ("chat tuning (assistant tokens)", sft_metrics)],
                         self.dir / "loss_curve.png", title="Speedrun loss curves")
        write_report(report, self.dir)


def _last(records, key):
    values = [r[key] for r in records if key in r]
    return values[-1] if values else float("nan")
