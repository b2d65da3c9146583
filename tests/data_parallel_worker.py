"""One data-parallel worker for tests/test_distributed.py: train briefly, save this rank's weights.

Started by msrun (through minigpt.distributed.launch_local): python data_parallel_worker.py OUT_DIR
"""

import sys
from pathlib import Path

import numpy as np

from minigpt import distributed
from minigpt.device import seed_everything, setup_device

setup_device("cpu", threads=1, quiet=True)
from test_distributed import ITERS, ROWS_PER_WORKER, tiny_trainer  # noqa: E402

out = Path(sys.argv[1])
workers = distributed.join(2)
seed_everything(0)
trainer = tiny_trainer(out / "run", ROWS_PER_WORKER, workers)
trainer.iters = ITERS
trainer.train()
np.savez(out / f"rank{workers.rank}.npz", **{p.name: p.asnumpy() for p in trainer.model.get_parameters()})
