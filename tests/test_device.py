"""Backend choice, its override, and seeding that makes CPU runs repeat."""

import numpy as np
import pytest

from minigpt import device
from minigpt.device import choose_device, seed_everything


def test_cpu_only_install_falls_back_to_cpu_and_says_why(monkeypatch):
    monkeypatch.delenv("MINIGPT_DEVICE", raising=False)
    monkeypatch.setattr(device, "_package_supports", lambda target: target == "CPU")
    choice = choose_device()
    assert (choice.target, str(choice)) == ("CPU", "device: CPU (no Ascend or GPU found)")


def test_ascend_is_preferred_then_gpu(monkeypatch):
    monkeypatch.delenv("MINIGPT_DEVICE", raising=False)
    monkeypatch.setattr(device, "_package_supports", lambda target: True)
    monkeypatch.setattr(device, "_machine_has", lambda target: target in ("GPU", "CPU"))
    assert str(choose_device()) == "device: GPU (no Ascend found)"
    monkeypatch.setattr(device, "_machine_has", lambda target: True)
    assert str(choose_device()) == "device: Ascend (best available)"


def test_environment_variable_overrides_and_bad_names_are_refused(monkeypatch):
    monkeypatch.setenv("MINIGPT_DEVICE", "CPU")
    assert str(choose_device()) == "device: CPU (requested)"
    with pytest.raises(ValueError, match="unknown device 'tpu': choose one of cpu, gpu, ascend"):
        choose_device("tpu")
    monkeypatch.setattr(device, "_package_supports", lambda target: target == "CPU")
    with pytest.raises(ValueError, match="this MindSpore install has no GPU support"):
        choose_device("gpu")


def test_seeding_repeats_weights_and_samples():
    from minigpt.model import GPT, GPTConfig

    config = GPTConfig(vocab_size=20, block_size=8, n_layer=1, n_head=2, n_embd=16)
    seed_everything(5)
    first = GPT(config).wte.embedding_table.asnumpy()
    draw = np.random.rand()
    seed_everything(5)
    assert np.array_equal(GPT(config).wte.embedding_table.asnumpy(), first)
    assert np.random.rand() == draw
