"""Where the model runs: backend choice, CPU threads, seeds and quiet logs.

MindSpore can run on Ascend NPUs, NVIDIA GPUs and CPUs. A course runs on all
three, so the kit picks the best one this install *and* this machine support,
in the order Ascend > GPU > CPU, and says in one line what it picked and why.
Set ``MINIGPT_DEVICE=cpu|gpu|ascend`` to override the choice.
"""

import os
import random
from dataclasses import dataclass

# MindSpore's C++ core reads GLOG_v when it is first imported; 3 keeps only
# errors, so students see their own output instead of a flood of warnings.
os.environ.setdefault("GLOG_v", "3")

import mindspore as ms  # noqa: E402  (must come after GLOG_v is set)
import numpy as np  # noqa: E402

BACKENDS = ("Ascend", "GPU", "CPU")  # in order of preference
_chosen = None
_threads = None  # CPU threads asked of setup_device, None for all


@dataclass(frozen=True)
class DeviceChoice:
    target: str  # "Ascend", "GPU" or "CPU", as MindSpore spells it
    reason: str

    def __str__(self):
        return f"device: {self.target} ({self.reason})"


def _package_supports(target):
    """True if this MindSpore build has `target`'s plug-in, asked without warnings.

    `ms.hal.is_available` would answer too, but logs a warning for every backend
    it does not find; this private call is the quiet equivalent.
    """
    from mindspore._c_expression import MSContext

    return MSContext.get_instance().is_pkg_support_device(target)


def _machine_has(target):
    """True if the machine has hardware for `target` (a driver is installed)."""
    if target == "CPU":
        return True
    if target == "GPU":
        return any(os.path.exists(p) for p in ("/dev/nvidia0", "/proc/driver/nvidia/version"))
    return os.path.exists("/dev/davinci0") or bool(os.environ.get("ASCEND_HOME_PATH"))


def choose_device(requested=None):
    """Decide the backend: `requested`, else $MINIGPT_DEVICE, else the best available."""
    requested = requested or os.environ.get("MINIGPT_DEVICE")
    if requested:
        by_name = {b.lower(): b for b in BACKENDS}
        target = by_name.get(requested.strip().lower())
        if target is None:
            raise ValueError(f"unknown device {requested!r}: choose one of cpu, gpu, ascend")
        if not _package_supports(target):
            raise ValueError(f"device {target} requested, but this MindSpore install has no {target} support")
        return DeviceChoice(target, "requested")
    for target in BACKENDS:
        if _package_supports(target) and _machine_has(target):
            skipped = BACKENDS[: BACKENDS.index(target)]
            why = "best available" if not skipped else f"no {' or '.join(skipped)} found"
            return DeviceChoice(target, why)
    return DeviceChoice("CPU", "fallback")


def run_kernels_in_calling_thread():
    """On a CPU, let MindSpore run each task in the thread that asks for it.

    By default MindSpore's runtime hands every task to worker threads through
    queues, so that a host can keep an accelerator busy. On a CPU the same cores
    then both compute and pass work along: with 2 cores, a training step of the
    speedrun took 230 ms, and 115 ms with this switch (the same losses to the
    last bit; docs/performance.md). MindSpore reads the switch, an environment
    variable of its developer options, when it runs its first operation: call
    this before any tensor is computed. Setting MS_DEV_HOST_BLOCKING_RUN=0
    yourself keeps the default.
    """
    os.environ.setdefault("MS_DEV_HOST_BLOCKING_RUN", "1")


def setup_device(requested=None, threads=None, quiet=False):
    """Choose the backend once per process and configure MindSpore for it.

    Safe to call many times: later calls return the first choice (MindSpore
    cannot switch backends inside a running process).
    """
    global _chosen, _threads
    if _chosen is None:
        _chosen = choose_device(requested)
        ms.set_device(_chosen.target)
        if _chosen.target == "CPU":
            run_kernels_in_calling_thread()
            if threads:
                _threads = int(threads)
                ms.device_context.cpu.op_tuning.threads_num(_threads)
        if not quiet:
            print(_chosen)
    return _chosen


def cpu_threads():
    """The CPU threads setup_device was asked to use (minigpt.kernels uses as many), or None for all."""
    return _threads


def seed_everything(seed):
    """Seed Python, NumPy and MindSpore so that CPU runs repeat exactly."""
    random.seed(seed)
    np.random.seed(seed)
    ms.set_seed(seed)
