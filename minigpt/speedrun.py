"""The speedrun: from nothing to a chat model with a report card, in minutes on a CPU.

Stages, each timed: a generated world (people and their biographies), TinyChat
data (multi-turn, with questions about the world's train half), a character
tokenizer, pretraining on the biographies, chat tuning (SFT) of the pretrained
model, chat tuning of the same model from random weights for the same number of
steps (what pretraining is worth), evaluation of the three models on the
held-out sets, and the report card. Everything lands in runs/<name>/.

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

from minigpt import tinyworld
from minigpt.checkpoint import has_checkpoint, load_checkpoint, save_checkpoint
from minigpt.data import TokenSplits, read_jsonl, tokenize_documents
from minigpt.device import seed_everything, setup_device
from minigpt.evaluate import MODELS, by_set, evaluate_checkpoint, plot_models, write_report
from minigpt.generate import print_sample
from minigpt.model import GPT, GPTConfig
from minigpt.options import option
from minigpt.sft import finetune
from minigpt.tinychat import ALPHABET, make_tinychat, read_conversations
from minigpt.tokenizer import CharTokenizer, load_tokenizer
from minigpt.train import Trainer, TrainConfig, plot_loss_curves


@dataclass(frozen=True)
class Size:
    """A speedrun's model, its trainings and its data."""

    n_layer: int
    n_head: int
    n_embd: int
    block_size: int      # holds a four-exchange conversation and its answer
    pretrain_iters: int  # ceilings: the time budget decides
    sft_iters: int
    batch_size: int
    pretrain_lr: float
    sft_lr: float
    people: int          # in the world; half of them held out
    biographies: int     # per person: knowledge augmentation
    n_train: int         # TinyChat conversations to chat-tune on
    per_skill: int       # held-out questions per skill in each evaluation set
    rehearsal_rows: int  # of each chat-tuning batch: biography windows, so tuning does not erase the facts


# "tiny" is for tests; "lesson" is lessons 05-08's (a minute of pretraining, two of chat tuning);
# "small" is the default speedrun (docs/performance.md records what was
# tried: world size, biographies, the split of the time, learning rates).
SIZES = {
    "tiny": Size(n_layer=1, n_head=2, n_embd=32, block_size=384, pretrain_iters=10, sft_iters=10, batch_size=2,
                 pretrain_lr=1e-3, sft_lr=3e-3, people=20, biographies=2, n_train=300, per_skill=2, rehearsal_rows=1),
    "lesson": Size(n_layer=2, n_head=4, n_embd=64, block_size=384, pretrain_iters=4000, sft_iters=4000, batch_size=8,
                   pretrain_lr=3e-3, sft_lr=3e-3, people=40, biographies=5, n_train=20000, per_skill=10,
                   rehearsal_rows=2),
    "small": Size(n_layer=2, n_head=4, n_embd=128, block_size=384, pretrain_iters=4000, sft_iters=4000,
                  batch_size=8, pretrain_lr=3e-3, sft_lr=3e-3, people=100, biographies=5, n_train=30000,
                  per_skill=20, rehearsal_rows=2),
}

# Shares of the time budget: pretraining, then chat tuning; the model chat-tuned without
# pretraining takes as many steps as chat tuning did, so about the same time again.
PRETRAIN_SHARE = 0.36
SFT_SHARE = (1 - PRETRAIN_SHARE) / 2


@dataclass
class SpeedrunConfig:
    name: str = option("speedrun", "run name: artifacts go to OUT_ROOT/NAME")
    out_root: str = option("runs", "where runs are kept")
    size: str = option("small", "small: the real run; tiny: a seconds-long smoke test", choices=tuple(SIZES))
    time_budget_s: float = option(720.0, "minutes for the three training stages together",
                                  flag="time_budget", scale=60)
    seed: int = option(1337, "random seed")
    biographies: int = option(0, "biographies per person, the knowledge augmentation knob (0: the size's own)")
    shuffle: bool = option(True, "shuffle each biography's sentences (knowledge augmentation)")

    def __post_init__(self):
        if self.size not in SIZES:
            raise ValueError(f"unknown size {self.size!r}: choose one of {', '.join(SIZES)}")
        if self.biographies < 0:
            raise ValueError(f"biographies per person must be 1 or more (0: the size's), got {self.biographies}")
        if self.time_budget_s < 0:
            raise ValueError(f"the time budget must not be negative, got {self.time_budget_s}")

    @property
    def run_dir(self):
        return Path(self.out_root) / self.name


# Lessons 05-08 share one run: lesson 05 makes the world and pretrains (about a minute), lesson 07
# chat-tunes that model, lesson 08 compares it with one chat-tuned from the same random weights.
LESSONS = SpeedrunConfig(name="lessons", size="lesson", time_budget_s=150.0)


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
        stages = {
            "world": self.make_world,
            "data": lambda: make_tinychat(self.dir / "tinychat", self.size.n_train, self.size.per_skill,
                                          self.cfg.seed, self.world()),
            "tokenizer": self.make_tokenizer,
            "pretrain": self.pretrain,
            "sft": self.sft,
            "baseline": self.baseline,
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

    def world_config(self):
        return tinyworld.WorldConfig(people=self.size.people, biographies=self.cfg.biographies or self.size.biographies,
                                     shuffle=self.cfg.shuffle, seed=self.cfg.seed)

    def world(self):
        return tinyworld.read_world(self.dir / "world.json")

    def make_world(self):
        """world.json (every person, every fact, and which half each person is in) and the biographies."""
        people = tinyworld.make_world(self.world_config())
        tinyworld.write_world(people, self.world_config(), self.dir / "world.json")
        (self.dir / "biographies.txt").write_text("\n".join(tinyworld.biographies(people, self.world_config())) + "\n")

    def biographies(self):
        return (self.dir / "biographies.txt").read_text().splitlines()

    def conversations(self, split):
        return [e["messages"] for e in read_conversations(self.dir / "tinychat" / f"{split}.jsonl")]

    def make_tokenizer(self):
        """Every character TinyChat and the biographies use (chat tokens are reserved in every tokenizer)."""
        CharTokenizer.train(ALPHABET + "".join(self.biographies())).save(self.dir / "tokenizer.json")

    def _train_config(self, iters, budget_share, lr, time_budget=True):
        return TrainConfig(iters=iters, batch_size=self.size.batch_size, lr=lr, min_lr=lr / 10,
                           warmup_iters=min(100, iters // 10), eval_interval=max(1, iters // 5), eval_iters=10,
                           checkpoint_interval=max(1, iters // 5), seed=self.cfg.seed,
                           time_budget_s=self.cfg.time_budget_s * budget_share if time_budget else 0.0)

    def pretrain(self):
        """Pretraining on the biographies; the random starting weights are kept (`init/`) for the baseline."""
        tokenizer = load_tokenizer(self.dir / "tokenizer.json")
        data = self.corpus(tokenizer)
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
        save_checkpoint(self.dir / "init", model, tokenizer)
        person = self.world()[-1]  # a held-out person
        prompt = tinyworld.prompt_of(person, "birth_city")[0]
        print(f"A sample before pretraining (random weights), from {prompt!r}:")
        print_sample(model, tokenizer, prompt, max_new_tokens=60, temperature=0, seed=0)
        trainer = Trainer(model, tokenizer, data, self._train_config(s.pretrain_iters, PRETRAIN_SHARE, s.pretrain_lr),
                          out, progress=self.progress)
        finished = trainer.train()
        print(f"After pretraining (world.json says {person['birth_city']}):")
        print_sample(model, tokenizer, prompt, max_new_tokens=60, temperature=0, seed=0)
        return finished

    def corpus(self, tokenizer):
        """The biographies as token ids; validation: other wordings of the same people's facts, so
        the loss says what the model knows rather than which sentences it read."""
        other = tinyworld.WorldConfig(**dict(asdict(self.world_config()), seed=self.cfg.seed + 1))
        return TokenSplits(tokenize_documents(self.biographies(), tokenizer),
                           tokenize_documents(tinyworld.biographies(self.world(), other)[:100], tokenizer))

    def _finetune(self, start, out, cfg):
        """Chat tuning with rehearsal: some rows of every batch are biographies, without which
        tuning erases the facts pretraining stored (docs/performance.md: 87% of the held-out
        people's sentences completed before tuning, 3.5% after; 95% with two rows in eight)."""
        rehearse = (self.corpus(load_tokenizer(self.dir / "tokenizer.json")), self.size.rehearsal_rows)
        return finetune(self.dir / start, self.conversations("train"), self.conversations("test"), self.dir / out,
                        cfg, self.progress, rehearse if self.size.rehearsal_rows else None)

    def sft(self):
        return self._finetune("pretrain", "sft", self._train_config(self.size.sft_iters, SFT_SHARE, self.size.sft_lr))

    def baseline(self):
        """The same chat tuning, from the random weights pretraining started from, for as many steps."""
        steps = len(read_jsonl(self.dir / "sft" / "metrics.jsonl"))
        return self._finetune("init", "baseline", self._train_config(steps, 0, self.size.sft_lr, time_budget=False))

    def evaluate(self):
        sets = by_set(read_conversations(self.dir / "tinychat" / "test.jsonl"))
        held_out = [p for p in self.world() if p["split"] == "test"]
        results = {"losses": [], "models": {}, "knowledge": {}}
        for label, stage in zip(MODELS, ("pretrain", "baseline", "sft")):
            # The pretrained model was never taught the chat format: two sets say enough.
            asked = {k: v for k, v in sets.items() if k in ("turn 1", "knowledge")} if stage == "pretrain" else sets
            found = evaluate_checkpoint(self.dir / stage, asked, self.progress, batch_size=self.size.batch_size,
                                        people=held_out)
            results["models"][label] = {"sets": found["sets"]}
            results["losses"].append({"model": label, "data": "TinyChat held-out (assistant tokens)",
                                      "loss": found["loss"]})
            results["knowledge"][label] = found["completed"]
            print(f"{label}: " + ", ".join(f"{name} {100 * s['overall']:.1f}%" for name, s in found["sets"].items())
                  + f"; biography sentences completed {100 * results['knowledge'][label]:.1f}%")
        (self.dir / "evaluation.json").write_text(json.dumps(results, indent=2))

    def report(self, device):
        evaluation = json.loads((self.dir / "evaluation.json").read_text())
        model, tokenizer, saved = load_checkpoint(self.dir / "sft")
        metrics = {stage: read_jsonl(self.dir / stage / "metrics.jsonl") for stage in ("pretrain", "sft", "baseline")}
        losses = [{"model": "pretraining", "data": "biographies, other wordings (validation)",
                   "loss": _last(metrics["pretrain"], "val_loss")}] + evaluation["losses"]
        report = {
            "name": self.cfg.name,
            "model": {**saved["model"], "parameters": model.num_parameters()},
            "tokenizer": tokenizer.kind,
            "device": device,
            "world": asdict(self.world_config()),
            "data": (f"pretraining: {self.size.people * self.size.biographies:,} biographies of the world's people; "
                     f"chat tuning: {self.size.n_train:,} TinyChat conversations of one to four exchanges; "
                     f"evaluation: held-out sets of {self.size.per_skill} questions per skill"),
            "iterations": {stage: len(records) for stage, records in metrics.items()},
            "stages": {**self.manifest["stages"], "report": 0.0},
            "losses": losses,
            "models": evaluation["models"],
            "knowledge": evaluation["knowledge"],
            "samples": evaluation["models"][MODELS[-1]]["sets"]["turns 2-4"]["samples"],
        }
        plot_loss_curves([("pretraining", metrics["pretrain"]), ("chat tuning (assistant tokens)", metrics["sft"])],
                         self.dir / "loss_curve.png", title="Speedrun loss curves")
        plot_models(report, self.dir / "knowledge.png")
        write_report(report, self.dir)


def _last(records, key):
    values = [r[key] for r in records if key in r]
    return values[-1] if values else float("nan")
