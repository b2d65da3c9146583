"""Training speed and quality of the nanoGPT "baby GPT on CPU" recipe.

4 layers, 4 heads, 128 dims, block 64, batch 12, character vocabulary, dropout 0,
AdamW lr 1e-3 betas (0.9, 0.99), weight decay 0.1, 100 warmup iterations then
cosine to 1e-4, clip 1.0, on the embedded corpus (topics joined with newlines in
sorted key order; first 90% train, last 10% validation), so the figures compare
with other implementations of the same recipe.

    python benchmarks/train_speed.py --iters 2000

prints one JSON line: ms_per_iter (median after warm-up), tokens_per_s,
compile_s (the first step, which compiles the graph), peak_rss_mb, val_loss, iters.
"""

import argparse
import json
import resource
import sys
import tempfile
import time

import numpy as np

from minigpt.device import seed_everything, setup_device


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iters", type=int, default=2000, help="training iterations (default 2000)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for MindSpore")
    parser.add_argument("--progress", action="store_true", help="show a progress bar")
    args = parser.parse_args(argv)

    setup_device(threads=args.threads, quiet=True)
    from minigpt.data import load_documents, tokenize_documents, train_val_split
    from minigpt.model import GPT, GPTConfig
    from minigpt.tokenizer import CharTokenizer
    from minigpt.train import Trainer, TrainConfig

    documents = load_documents()
    tokenizer = CharTokenizer.train("\n".join(documents))
    data = train_val_split(tokenize_documents(documents, tokenizer))
    seed_everything(1337)
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=64, n_layer=4, n_head=4, n_embd=128))
    cfg = TrainConfig(iters=args.iters, batch_size=12, lr=1e-3, min_lr=1e-4, warmup_iters=100,
                      weight_decay=0.1, beta1=0.9, beta2=0.99, grad_clip=1.0,
                      eval_interval=args.iters, eval_iters=200, checkpoint_interval=args.iters)
    with tempfile.TemporaryDirectory() as out_dir:
        trainer = Trainer(model, tokenizer, data, cfg, out_dir, progress=args.progress)
        start = time.perf_counter()
        history = trainer.train()
        wall = time.perf_counter() - start
    step_ms = [r["ms_per_iter"] for r in history]
    median_ms = float(np.median(step_ms[10:] if len(step_ms) > 20 else step_ms[1:]))
    tokens_per_step = cfg.batch_size * cfg.grad_accum * model.config.block_size
    result = {
        "ms_per_iter": round(median_ms, 2),
        "tokens_per_s": round(tokens_per_step / median_ms * 1000, 1),
        "compile_s": round(step_ms[0] / 1000, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "val_loss": round(history[-1]["val_loss"], 4),
        "iters": args.iters,
        "wall_s": round(wall, 1),
        "parameters": model.num_parameters(),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    sys.exit(main() and 0)
