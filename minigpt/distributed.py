"""Data parallelism: several workers train one model, each on its share of every batch.

Every worker holds a full copy of the model. At each step the global batch is
split into equal shares, one per worker; each computes the gradients of its
share, an all-reduce averages them across workers, and every copy applies the
same averaged update. The copies therefore stay identical, and the update is
the one a single process would take on the whole global batch.

Workers are started by MindSpore's own launcher, `msrun`, which also starts a
scheduler through which the workers find each other; `mindspore.communication`
then gives each worker its rank. On one machine the CLI launches it for you:

    python -m minigpt train --data-parallel 2 --batch-size 8 --out runs/dp

Across machines, run msrun yourself on every machine (docs/distributed.md).
"""

import os
import socket
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import mindspore as ms
from mindspore import ops


@dataclass(frozen=True)
class Workers:
    """Who this process is among the workers of a data-parallel run."""

    rank: int = 0
    size: int = 1

    @property
    def is_main(self):
        """Rank 0 writes logs, checkpoints and progress bars; the others only train."""
        return self.rank == 0


SINGLE = Workers()


def started_by_msrun():
    """True in the processes msrun starts: the workers and its scheduler (which never returns from `join`)."""
    return "MS_ROLE" in os.environ


def join(expected_size):
    """Connect this process to the other workers (it must have been started by msrun)."""
    from mindspore.communication import get_group_size, get_rank, init

    init()
    workers = Workers(get_rank(), get_group_size())
    if workers.size != expected_size:
        raise ValueError(f"--data-parallel {expected_size}, but msrun started {workers.size} workers")
    return workers


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def msrun_command(n_workers, args, log_dir, port):
    """msrun starting `python args...` n_workers times on this machine; rank 0's log is shown."""
    return [sys.executable, "-m", "mindspore.parallel.cluster.run", f"--worker_num={n_workers}",
            f"--local_worker_num={n_workers}", f"--master_port={port}", f"--log_dir={log_dir}",
            "--join=True", "--tail_worker_log=0", "python", *args]


def launch_local(n_workers, args, log_dir):
    """Run `python args...` as n_workers data-parallel workers on this machine; returns the exit code."""
    # msrun starts workers with the `python` found on PATH: make it this one.
    env = dict(os.environ, PATH=os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]))
    return subprocess.run(msrun_command(n_workers, args, log_dir, free_port()), env=env).returncode


class GradientMean(ms.nn.Cell):
    """Inside the train step: the mean of a tuple of tensors across all workers."""

    def __init__(self, n_workers):
        super().__init__()
        self.all_reduce = ops.AllReduce()
        self.scale = 1.0 / n_workers
        self.hyper_map = ops.HyperMap()

    def construct(self, tensors):
        return self.hyper_map(lambda t: self.all_reduce(t) * self.scale, tensors)


def fingerprint(model):
    """Per parameter: the sum and the sum of squares of its values, in float64."""
    rows = [(float(np.sum(v, dtype=np.float64)), float(np.sum(np.square(v, dtype=np.float64))))
            for v in (p.asnumpy() for p in model.get_parameters())]
    return np.array(rows, dtype=np.float64).ravel()


def replicas_agree(model, workers):
    """True when every worker's copy of the model has the same weights (called on all workers)."""
    if workers.size == 1:
        return True
    mine = fingerprint(model).astype(np.float32)  # sent as float32: equal weights still give equal rows
    everyone = ops.AllGather()(ms.Tensor(mine[None, :])).asnumpy()
    return bool(np.all(everyone == everyone[0]))


def agreed_min(value, workers):
    """The smallest of each worker's `value`, known to every worker: a decision all can share."""
    if workers.size == 1:
        return value
    reduced = ops.AllReduce(ops.ReduceOp.MIN)(ms.Tensor(np.array([value], dtype=np.float32)))
    return float(reduced.asnumpy()[0])
