"""The one checkpoint format: round trip, atomic writes, weights-only checkpoints, clear errors."""

import json

import numpy as np
import pytest

from minigpt.checkpoint import (CHECKPOINT_DIR, CheckpointError, has_checkpoint, load_checkpoint,
                                load_training_state, save_checkpoint)
from minigpt.device import seed_everything
from minigpt.model import GPT
from minigpt.optim import AdamW
from minigpt.train import Trainer, TrainConfig, parameter_groups


def make_trainer(tiny_data, tiny_config, out_dir, iters):
    tokenizer, data = tiny_data
    seed_everything(0)
    cfg = TrainConfig(iters=iters, batch_size=4, lr=1e-2, min_lr=1e-3, warmup_iters=1, eval_interval=iters,
                      eval_iters=1, checkpoint_interval=iters)
    return Trainer(GPT(tiny_config), tokenizer, data, cfg, out_dir, progress=False)


def test_checkpoint_round_trips_the_weights(tiny_data, tiny_config, tmp_path):
    trainer = make_trainer(tiny_data, tiny_config, tmp_path, 2)
    trainer.train()
    model, tokenizer, saved = load_checkpoint(tmp_path)
    assert tokenizer.to_dict() == tiny_data[0].to_dict()
    assert saved["model"] == tiny_config.to_dict()
    for a, b in zip(model.get_parameters(), trainer.model.get_parameters()):
        np.testing.assert_array_equal(a.asnumpy(), b.asnumpy())


def test_bad_checkpoints_get_clear_errors(tiny_data, tiny_config, tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "nothing")
    make_trainer(tiny_data, tiny_config, tmp_path, 1).train()
    config_file = tmp_path / CHECKPOINT_DIR / "config.json"
    saved = json.loads(config_file.read_text())
    saved["model"]["n_embd"] = 64
    config_file.write_text(json.dumps(saved))
    with pytest.raises(CheckpointError, match=r"has shape \(\d+, 32\), the model expects \(\d+, 64\)"):
        load_checkpoint(tmp_path)
    saved["model"]["n_embd"], saved["model"]["vocab_size"] = 32, 99
    config_file.write_text(json.dumps(saved))
    with pytest.raises(CheckpointError, match="vocabulary of 99 tokens but its tokenizer has"):
        load_checkpoint(tmp_path)
    (tmp_path / CHECKPOINT_DIR / "model.ckpt").unlink()
    with pytest.raises(CheckpointError, match="missing model.ckpt"):
        load_checkpoint(tmp_path)


def test_a_weights_only_checkpoint_loads_but_does_not_resume(tiny_data, tiny_config, tmp_path):
    tokenizer, _ = tiny_data
    model = GPT(tiny_config)
    assert not has_checkpoint(tmp_path)
    path = save_checkpoint(tmp_path, model, tokenizer)
    assert has_checkpoint(tmp_path) and path == tmp_path / CHECKPOINT_DIR
    assert not (tmp_path / (CHECKPOINT_DIR + ".tmp")).exists()
    loaded, _, saved = load_checkpoint(path)  # the checkpoint folder itself works as well as the run folder
    assert saved["train"] == {} and loaded.num_parameters() == model.num_parameters()
    with pytest.raises(CheckpointError, match="weights only"):
        load_training_state(tmp_path, AdamW(parameter_groups(model, 0.1)))


def test_saving_again_replaces_the_checkpoint_whole(tiny_data, tiny_config, tmp_path):
    tokenizer, _ = tiny_data
    save_checkpoint(tmp_path, GPT(tiny_config), tokenizer, state={"step": 1})
    save_checkpoint(tmp_path, GPT(tiny_config), tokenizer, state={"step": 2})
    assert json.loads((tmp_path / CHECKPOINT_DIR / "state.json").read_text())["step"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [CHECKPOINT_DIR]
