"""Training speed and quality of nanoGPT's recipes, in minigpt and (optionally) PyTorch.

Recipes (character vocabulary, AdamW betas (0.9, 0.99), weight decay 0.1 on
matrices, 100 warmup iterations then cosine to lr/10, clip 1.0, on the embedded
corpus: topics joined with newlines in sorted key order, first 90% train, last
10% validation, so the figures compare with other implementations):

    baby         nanoGPT's "baby GPT on CPU": 4 layers, 4 heads, 128 dims, block 64,
                 batch 12, dropout 0, lr 1e-3
    shakespeare  nanoGPT's Shakespeare GPU recipe: 6 layers, 6 heads, 384 dims,
                 block 256, batch 64, dropout 0.2, lr 1e-3 (arithmetic dominates;
                 run it for a few iterations: one takes seconds on a CPU)
    speedrun     the speedrun's chat model (minigpt.speedrun, size "small"): 2 layers,
                 4 heads, 128 dims, rotary positions, document mask, block 384,
                 batch 8, lr 3e-3

    python benchmarks/train_speed.py --iters 2000
    python benchmarks/train_speed.py --iters 2000 --compare-torch
    python benchmarks/train_speed.py --recipe shakespeare --iters 3 --compare-torch
    python benchmarks/train_speed.py --recipe speedrun --iters 150 --threads 1 --processes 2

prints one JSON line per framework: ms_per_iter (median after warm-up),
tokens_per_s, compile_s (minigpt: the first step, which compiles the graph),
peak_rss_mb, val_loss (mean over eval batches at the end), iters; with
--compare-torch also the ratios minigpt / PyTorch of step time and of peak
memory. PyTorch (`pip install -e .[torch]`) runs first, eagerly, with as many
threads as minigpt, in a process of its own, so that each peak is one
framework's alone. --processes N trains N minigpt models at once, each in a
process of its own with --threads threads, and adds their summed steps per
second: what the cores give when stages run side by side instead of one after
another.
"""

import argparse
import json
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from minigpt.device import seed_everything, setup_device

RECIPES = {
    "baby": dict(n_layer=4, n_head=4, n_embd=128, block_size=64, batch_size=12, dropout=0.0, lr=1e-3),
    "shakespeare": dict(n_layer=6, n_head=6, n_embd=384, block_size=256, batch_size=64, dropout=0.2, lr=1e-3),
    "speedrun": dict(n_layer=2, n_head=4, n_embd=128, block_size=384, batch_size=8, dropout=0.0, lr=3e-3,
                     positions="rotary", document_mask=True),
}


def recipe_configs(name, iters, vocab_size, batch_size=None, recompute=False, bos_id=1):
    from minigpt.model import GPTConfig
    from minigpt.train import TrainConfig

    r = {**RECIPES[name], "batch_size": batch_size or RECIPES[name]["batch_size"]}
    model = GPTConfig(vocab_size=vocab_size, block_size=r["block_size"], n_layer=r["n_layer"], n_head=r["n_head"],
                      n_embd=r["n_embd"], dropout=r["dropout"], positions=r.get("positions", "learned"),
                      document_mask=r.get("document_mask", False), bos_id=bos_id)
    train = TrainConfig(iters=iters, batch_size=r["batch_size"], lr=r["lr"], min_lr=r["lr"] / 10,
                        warmup_iters=min(100, iters // 10), weight_decay=0.1, beta1=0.9, beta2=0.99, grad_clip=1.0,
                        eval_interval=iters, eval_iters=200 if name == "baby" else 2, checkpoint_interval=iters,
                        recompute=recompute)
    return model, train


def peak_rss_mb():
    """This process's peak resident memory (Linux's VmHWM, which, unlike ru_maxrss, is not carried over
    from the parent through fork and exec)."""
    try:
        with open("/proc/self/status") as status:
            return round(next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024, 1)
    except (OSError, StopIteration):
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def summary(framework, step_ms, tokens_per_step, val_loss, iters, wall, parameters, compile_s=None):
    median_ms = float(np.median(step_ms[10:] if len(step_ms) > 20 else step_ms[1:]))
    result = {"framework": framework, "ms_per_iter": round(median_ms, 2),
              "tokens_per_s": round(tokens_per_step / median_ms * 1000, 1)}
    if compile_s is not None:
        result["compile_s"] = compile_s
    result.update(peak_rss_mb=peak_rss_mb(), val_loss=round(val_loss, 4), iters=iters, wall_s=round(wall, 1),
                  parameters=parameters)
    return result


def run_minigpt(data, tokenizer, model_cfg, cfg, progress):
    from minigpt.model import GPT
    from minigpt.train import Trainer

    seed_everything(1337)
    model = GPT(model_cfg)
    with tempfile.TemporaryDirectory() as out_dir:
        trainer = Trainer(model, tokenizer, data, cfg, out_dir, progress=progress)
        start = time.perf_counter()
        trainer.train()
        history = trainer.history
        wall = time.perf_counter() - start
    step_ms = [r["ms_per_iter"] for r in history]
    return summary("minigpt (MindSpore)", step_ms, cfg.batch_size * model_cfg.block_size, history[-1]["val_loss"],
                   cfg.iters, wall, model.num_parameters(), compile_s=round(step_ms[0] / 1000, 2))


def run_torch(data, model_cfg, cfg, threads):
    """The same recipe in PyTorch eager, on the same batches (drawn from (seed, step) as Trainer does)."""
    import torch

    from minigpt.train import lr_at
    from torch_gpt import TorchGPT, make_training

    torch.set_num_threads(threads)
    torch.manual_seed(1337)
    model = TorchGPT(model_cfg)
    train_step, eval_loss = make_training(model, cfg)
    step_ms = []
    start = time.perf_counter()
    for step in range(cfg.iters):
        x, y = data.batch("train", cfg.batch_size, model_cfg.block_size, np.random.default_rng((cfg.seed, step)))
        t0 = time.perf_counter()
        train_step(x, y, lr_at(step, cfg))
        step_ms.append(1000 * (time.perf_counter() - t0))
    wall = time.perf_counter() - start
    rng = np.random.default_rng(cfg.seed + 1)  # the validation batches minigpt's Trainer uses
    for split in ("train", "val"):  # Trainer.evaluate draws train batches first, from the same generator
        losses = [eval_loss(*data.batch(split, cfg.batch_size, model_cfg.block_size, rng))
                  for _ in range(cfg.eval_iters)]
    return summary(f"PyTorch {torch.__version__} eager", step_ms, cfg.batch_size * model_cfg.block_size,
                   float(np.mean(losses)), cfg.iters, wall, sum(p.numel() for p in model.parameters()))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="baby", help="model and batch (default baby)")
    parser.add_argument("--iters", type=int, default=2000, help="training iterations (default 2000)")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for both frameworks (default: all cores)")
    parser.add_argument("--batch-size", type=int, default=None, help="rows per step instead of the recipe's")
    parser.add_argument("--recompute", action="store_true",
                        help="minigpt recomputes each block's activations in the backward pass (less memory)")
    parser.add_argument("--compare-torch", action="store_true",
                        help="also run the recipe in PyTorch and print the ratio")
    parser.add_argument("--processes", type=int, default=1,
                        help="minigpt models trained at once, each in its own process (default 1)")
    parser.add_argument("--progress", action="store_true", help="show a progress bar")
    args = parser.parse_args(argv)
    if args.processes < 1:
        parser.error(f"--processes must be 1 or more, got {args.processes}")
    if args.processes > 1 and args.compare_torch:
        parser.error("--processes and --compare-torch measure different things: run them one at a time")

    threads = args.threads or os.cpu_count() or 1
    results = []
    if args.compare_torch:
        try:
            import torch  # noqa: F401
        except ImportError:
            parser.error("--compare-torch needs PyTorch: pip install -e '.[torch]'")
        # First, and in a process of its own: its peak memory is its own, its threads are gone.
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as child:
            results.append(child.submit(run, "torch", args, threads).result())
        print(json.dumps(results[-1]), flush=True)
    if args.processes > 1:
        with ProcessPoolExecutor(args.processes, mp_context=multiprocessing.get_context("spawn")) as children:
            side_by_side = [r.result() for r in [children.submit(run, "minigpt", args, threads)
                                                 for _ in range(args.processes)]]
        for result in side_by_side:
            print(json.dumps(result), flush=True)
        print(json.dumps({"processes": args.processes, "threads_each": threads,
                          "steps_per_s": round(sum(1000 / r["ms_per_iter"] for r in side_by_side), 2)}), flush=True)
        return results + side_by_side
    results.append(run("minigpt", args, threads))
    print(json.dumps(dict(results[-1], steps_per_s=round(1000 / results[-1]["ms_per_iter"], 2))), flush=True)
    if args.compare_torch:
        torch_run, minigpt_run = results
        print(json.dumps({"recipe": args.recipe, "batch_size": args.batch_size or RECIPES[args.recipe]["batch_size"],
                          "minigpt_ms": minigpt_run["ms_per_iter"], "torch_ms": torch_run["ms_per_iter"],
                          "ratio": round(minigpt_run["ms_per_iter"] / torch_run["ms_per_iter"], 2),
                          "minigpt_peak_mb": minigpt_run["peak_rss_mb"], "torch_peak_mb": torch_run["peak_rss_mb"],
                          "memory_ratio": round(minigpt_run["peak_rss_mb"] / torch_run["peak_rss_mb"], 2),
                          "val_loss_gap": round(minigpt_run["val_loss"] - torch_run["val_loss"], 4)}))
    return results


def run(framework, args, threads):
    """One framework's run of the recipe, on the embedded corpus."""
    setup_device(threads=threads, quiet=True)
    from minigpt.data import load_documents, tokenize_documents, train_val_split
    from minigpt.tokenizer import CharTokenizer

    documents = load_documents()
    tokenizer = CharTokenizer.train("\n".join(documents))
    data = train_val_split(tokenize_documents(documents, tokenizer))
    model_cfg, cfg = recipe_configs(args.recipe, args.iters, tokenizer.vocab_size, args.batch_size, args.recompute,
                                    tokenizer.bos_id)
    if framework == "torch":
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        return run_torch(data, model_cfg, cfg, threads)
    return run_minigpt(data, tokenizer, model_cfg, cfg, args.progress)


if __name__ == "__main__":
    sys.exit(main() and 0)
