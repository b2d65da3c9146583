"""Where a training step's memory goes: peak memory of the forward pass, forward + backward, and the
whole step (clipping and AdamW too), in minigpt and PyTorch, each part in a fresh process.

    python benchmarks/step_memory.py --batch-size 64
    python benchmarks/step_memory.py --batch-size 16 --recompute

The model is train_speed.py's Shakespeare recipe (6 x 384, block 256, dropout 0.2) on
random tokens. Every part runs in a process of its own (spawned), three times, and reports
that process's peak resident memory (VmHWM) above what it held before its first step (the
framework, the model, its weights): so forward = activations the forward pass computes,
backward adds what is kept for and made by the backward pass, step adds gradients' clipping
and the optimizer's state. Prints one JSON line per (framework, part) and a Markdown table.
"""

import argparse
import json
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor

import numpy as np

PARTS = ("forward", "backward", "step")


def resident_mb(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":")) / 1024


def measure(framework, part, batch_size, recompute, threads):
    """Peak memory of `part` over three steps, above the memory held before the first."""
    from train_speed import RECIPES

    r = RECIPES["shakespeare"]
    vocab = 65
    x = np.random.default_rng(0).integers(0, vocab, (batch_size, r["block_size"])).astype(np.int32)
    y = np.roll(x, -1, axis=1)
    if framework == "torch":
        run = torch_part(part, x, y, vocab, r, threads)
    else:
        run = minigpt_part(part, x, y, vocab, r, recompute, threads)
    before = resident_mb("VmRSS")
    for _ in range(3):
        run()
    return {"framework": framework, "part": part, "batch_size": batch_size, "recompute": recompute,
            "before_mb": round(before), "peak_mb": round(resident_mb("VmHWM")),
            "step_peak_mb": round(resident_mb("VmHWM") - before)}


def minigpt_part(part, x, y, vocab, r, recompute, threads):
    from minigpt.device import seed_everything, setup_device

    setup_device(threads=threads, quiet=True)
    import mindspore as ms
    from minigpt.model import GPT, GPTConfig
    from minigpt.optim import AdamW
    from minigpt.train import TrainConfig, loss_function, parameter_groups

    seed_everything(0)
    model = GPT(GPTConfig(vocab_size=vocab, block_size=r["block_size"], n_layer=r["n_layer"], n_head=r["n_head"],
                          n_embd=r["n_embd"], dropout=r["dropout"]))
    if recompute:
        for block in model.blocks:
            block.recompute()
    model.set_train(True)
    loss = loss_function(model)
    x, y = ms.Tensor(x), ms.Tensor(y)
    if part == "forward":
        forward = ms.jit(loss)
        return lambda: forward(x, y).asnumpy()
    optimizer = AdamW(parameter_groups(model, TrainConfig().weight_decay), betas=(0.9, 0.99))
    grad_fn = ms.value_and_grad(loss, None, optimizer.parameters)
    lr = ms.Tensor(1e-3, ms.float32)

    @ms.jit
    def backward(x, y):
        value, grads = grad_fn(x, y)
        return value, grads

    @ms.jit
    def step(x, y, lr):
        value, grads = grad_fn(x, y)
        optimizer(ms.ops.clip_by_global_norm(grads, 1.0), lr)
        return value

    if part == "backward":
        return lambda: backward(x, y)[0].asnumpy()
    return lambda: step(x, y, lr).asnumpy()


def torch_part(part, x, y, vocab, r, threads):
    import torch
    from minigpt.model import GPTConfig
    from minigpt.train import TrainConfig
    from torch_gpt import TorchGPT, make_training

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = TorchGPT(GPTConfig(vocab_size=vocab, block_size=r["block_size"], n_layer=r["n_layer"],
                               n_head=r["n_head"], n_embd=r["n_embd"], dropout=r["dropout"]))
    model.train()
    tx, ty = torch.from_numpy(x).long(), torch.from_numpy(y).long()
    if part == "forward":
        return lambda: model(tx, ty).item()
    if part == "backward":
        def backward():
            model.zero_grad(set_to_none=True)
            model(tx, ty).backward()
        return backward
    train_step, _ = make_training(model, TrainConfig(weight_decay=0.1, beta2=0.99))
    return lambda: train_step(x, y, 1e-3)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=64, help="rows of 256 tokens (default 64, the recipe's)")
    parser.add_argument("--recompute", action="store_true", help="minigpt recomputes each block in the backward pass")
    parser.add_argument("--frameworks", default="minigpt,torch", help="comma-separated (default minigpt,torch)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    rows = []
    for framework in args.frameworks.split(","):
        for part in PARTS:
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                     initializer=sys.path.insert, initargs=(0, os.path.dirname(__file__))) as child:
                rows.append(child.submit(measure, framework, part, args.batch_size, args.recompute,
                                         args.threads).result())
            print(json.dumps(rows[-1]), flush=True)
    print(f"\n| framework | batch | {' | '.join(PARTS)} (MB above the model, peak) |")
    print("| --- | --- |" + " --- |" * len(PARTS))
    for framework in args.frameworks.split(","):
        cells = [f"{r['step_peak_mb']:,} ({r['peak_mb']:,})" for r in rows if r["framework"] == framework]
        print(f"| {framework}{' (recompute)' if args.recompute and framework == 'minigpt' else ''} | "
              f"{args.batch_size} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
