"""The one checkpoint format: a directory that holds everything a run needs to go on.

Pretraining, chat tuning and resume all use it. ``<run>/checkpoint/`` holds

    model.ckpt       the weights (MindSpore's format)
    optimizer.ckpt   AdamW's moments and step count (absent in a weights-only checkpoint)
    tokenizer.json   the run's tokenizer
    config.json      {"model": GPTConfig fields, "train": TrainConfig fields}
    state.json       {"step", "iters" (as fitted to a time budget), "workers", "mindspore_rng",
                      "chat_tuned" (trained on conversations, or pretrained on text only)}

It is written to ``checkpoint.tmp`` and renamed into place, so a crash never
leaves half a checkpoint behind.  Model: nanochat's ``checkpoint_manager.py``.
"""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import mindspore as ms

from minigpt.model import GPT, GPTConfig
from minigpt.tokenizer import load_tokenizer

CHECKPOINT_DIR = "checkpoint"


class CheckpointError(ValueError):
    """A checkpoint that is missing, incomplete, or does not fit the model."""


def checkpoint_dir(path):
    """The checkpoint directory of ``path``, which may be a run directory or the checkpoint itself."""
    path = Path(path)
    return path / CHECKPOINT_DIR if (path / CHECKPOINT_DIR).is_dir() else path


def has_checkpoint(run_dir):
    return (Path(run_dir) / CHECKPOINT_DIR).is_dir()


def save_checkpoint(run_dir, model, tokenizer, optimizer=None, train_config=None, state=None):
    """Write a checkpoint of ``model`` (and, to resume training, its optimizer and state) atomically."""
    run_dir = Path(run_dir)
    final, tmp, old = (run_dir / (CHECKPOINT_DIR + suffix) for suffix in ("", ".tmp", ".old"))
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    ms.save_checkpoint(model, str(tmp / "model.ckpt"))
    if optimizer is not None:
        model_names = {p.name for p in model.get_parameters()}  # already in model.ckpt
        ms.save_checkpoint([{"name": p.name, "data": p} for p in optimizer.get_parameters()
                            if p.name not in model_names], str(tmp / "optimizer.ckpt"))
    tokenizer.save(tmp / "tokenizer.json")
    (tmp / "config.json").write_text(json.dumps({"model": model.config.to_dict(), "train": train_config or {}},
                                                indent=2))
    state = dict(state or {}, mindspore_rng=ms.get_rng_state().asnumpy().tolist())
    (tmp / "state.json").write_text(json.dumps(state))
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(path):
    """Load ``(model, tokenizer, config dict)`` from a checkpoint directory or its run directory."""
    path = checkpoint_dir(path)
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


def is_chat_tuned(path):
    """Whether the checkpoint at ``path`` was trained on conversations; None when it does not say.

    A pretrained-only model continues text ("e the the the") instead of answering,
    so `chat` tells the user which kind it was given.  Checkpoints written before
    the flag existed, or without ``state.json``, say nothing.
    """
    state_file = checkpoint_dir(path) / "state.json"
    try:
        return json.loads(state_file.read_text()).get("chat_tuned")
    except (OSError, ValueError, AttributeError):
        return None


def load_training_state(path, optimizer):
    """The half of resuming that is not the model: the optimizer's state and MindSpore's RNG.

    Returns ``state.json`` (the step reached, the iteration count fitted to a time budget).
    """
    path = checkpoint_dir(path)
    if not (path / "optimizer.ckpt").exists():
        raise CheckpointError(f"{path} holds weights only (no optimizer state): it cannot be resumed")
    ms.load_param_into_net(optimizer, ms.load_checkpoint(str(path / "optimizer.ckpt")), strict_load=True)
    state = json.loads((path / "state.json").read_text())
    ms.set_rng_state(ms.Tensor(np.array(state["mindspore_rng"], dtype=np.uint8)))
    return state


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
