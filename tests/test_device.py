"""Backend choice, its override, the CPU runtime switch, and seeding that makes CPU runs repeat."""

import os
import subprocess
import sys

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


def _blocking_run_after_setup(env):
    code = ("import os; from minigpt.device import setup_device; setup_device('cpu', quiet=True); "
            "print(os.environ.get('MS_DEV_HOST_BLOCKING_RUN'))")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_on_cpu_kernels_run_in_the_calling_thread_unless_the_user_says_otherwise():
    env = {k: v for k, v in os.environ.items() if k != "MS_DEV_HOST_BLOCKING_RUN"}
    assert _blocking_run_after_setup(env) == "1"
    assert _blocking_run_after_setup({**env, "MS_DEV_HOST_BLOCKING_RUN": "0"}) == "0"
