"""Command line: `python -m minigpt {train,sample,demo} --help`.

Bad input (a missing file, a bad value, a checkpoint that does not fit) gives a
one-line error and exit status 2; `--verbose` shows MindSpore's logs and full
tracebacks instead.
"""

import argparse
import os
import shutil
import sys
from pathlib import Path

EXAMPLES = """examples:
  python -m minigpt train --iters 500 --out runs/pydoc          # the embedded corpus
  python -m minigpt train --data notes.txt --tokenizer bpe --out runs/notes
  python -m minigpt train --out runs/pydoc --iters 1000 --resume  # train longer
  python -m minigpt sample --checkpoint runs/pydoc --prompt "def "
  python -m minigpt demo
"""


def common_options():
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--device", default=None,
                        help="cpu, gpu or ascend (default: $MINIGPT_DEVICE, else the best available)")
    parent.add_argument("--threads", type=int, default=None, help="CPU threads for MindSpore")
    parent.add_argument("--verbose", action="store_true", help="show MindSpore's logs and full tracebacks")
    return parent


def add_model_options(parser):
    group = parser.add_argument_group("model (ignored with --resume, which uses the checkpoint's)")
    group.add_argument("--block-size", type=int, default=64, help="context length in tokens (default 64)")
    group.add_argument("--n-layer", type=int, default=4, help="transformer blocks (default 4)")
    group.add_argument("--n-head", type=int, default=4, help="attention heads (default 4)")
    group.add_argument("--n-embd", type=int, default=128, help="embedding width (default 128)")
    group.add_argument("--dropout", type=float, default=0.0, help="dropout probability (default 0)")
    group.add_argument("--tokenizer", choices=["char", "bpe", "fast-bpe"], default="char",
                       help="tokenizer trained on the data (default char)")
    group.add_argument("--vocab-size", type=int, default=512, help="vocabulary size of the BPE tokenizers (default 512)")


def add_training_options(parser):
    from minigpt.train import TrainConfig

    d = TrainConfig()
    group = parser.add_argument_group("training")
    group.add_argument("--iters", type=int, default=d.iters, help=f"total updates (default {d.iters})")
    group.add_argument("--batch-size", type=int, default=d.batch_size, help=f"sequences per micro-batch (default {d.batch_size})")
    group.add_argument("--grad-accum", type=int, default=d.grad_accum, help="micro-batches per update (default 1)")
    group.add_argument("--lr", type=float, default=d.lr, help=f"peak learning rate (default {d.lr})")
    group.add_argument("--min-lr", type=float, default=d.min_lr, help=f"final learning rate (default {d.min_lr})")
    group.add_argument("--warmup-iters", type=int, default=d.warmup_iters, help=f"linear warmup (default {d.warmup_iters})")
    group.add_argument("--weight-decay", type=float, default=d.weight_decay, help=f"AdamW weight decay (default {d.weight_decay})")
    group.add_argument("--grad-clip", type=float, default=d.grad_clip, help="global gradient norm limit, 0 = off (default 1.0)")
    group.add_argument("--eval-interval", type=int, default=d.eval_interval, help=f"evaluate every N updates (default {d.eval_interval})")
    group.add_argument("--eval-iters", type=int, default=d.eval_iters, help=f"batches per evaluation (default {d.eval_iters})")
    group.add_argument("--checkpoint-interval", type=int, default=d.checkpoint_interval,
                       help=f"save every N updates (default {d.checkpoint_interval}; always at the end and on Ctrl-C)")
    group.add_argument("--seed", type=int, default=d.seed, help=f"random seed (default {d.seed})")


def build_parser():
    common = common_options()
    parser = argparse.ArgumentParser(
        prog="python -m minigpt", description="MiniGPT Lab: train and sample a small GPT with MindSpore.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", parents=[common], help="pretrain a GPT on text",
                                description="Pretrain a GPT on text and save checkpoints to --out.")
    train.add_argument("--data", default=None,
                       help="a .txt or .jsonl file, or a Hugging Face dataset name (default: the embedded "
                            "Python documentation corpus)")
    train.add_argument("--text-column", default="text", help="field holding the text in .jsonl files and datasets")
    train.add_argument("--val-fraction", type=float, default=0.1, help="share of the text kept for validation (default 0.1)")
    train.add_argument("--out", default="runs/pretrain", help="run directory for checkpoints, metrics and plots")
    train.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_model_options(train)
    add_training_options(train)

    sample = commands.add_parser("sample", parents=[common], help="generate text from a checkpoint",
                                 description="Generate text from a trained checkpoint, streaming it as it comes.")
    sample.add_argument("--checkpoint", required=True, help="a run directory or its checkpoint/ directory")
    sample.add_argument("--prompt", default="", help="text to continue (default: start from <|bos|>)")
    add_sampling_options(sample)

    demo = commands.add_parser("demo", parents=[common], help="pretrain a small GPT and show samples before and after",
                               description="Pretrain a small GPT on the embedded corpus (a few minutes on a "
                                           "laptop CPU), printing samples before and after training.")
    demo.add_argument("--iters", type=int, default=600, help="training updates (default 600)")
    demo.add_argument("--out", default="runs/demo", help="run directory (replaced on every run)")
    return parser


def add_sampling_options(parser):
    parser.add_argument("--max-new-tokens", type=int, default=200, help="tokens to generate (default 200)")
    parser.add_argument("--temperature", type=float, default=0.8, help="0 = greedy; higher = more random (default 0.8)")
    parser.add_argument("--top-k", type=int, default=None, help="sample only among the k most likely tokens")
    parser.add_argument("--top-p", type=float, default=None, help="sample only within probability mass p (nucleus)")
    parser.add_argument("--seed", type=int, default=None, help="seed for reproducible samples")
    parser.add_argument("--no-cache", action="store_true", help="recompute the whole context at every step (slow)")


def check_sampling_options(args):
    if args.max_new_tokens < 1:
        raise ValueError(f"--max-new-tokens must be at least 1, got {args.max_new_tokens}")
    if args.temperature < 0:
        raise ValueError(f"--temperature must be 0 or more, got {args.temperature}")
    if args.top_k is not None and args.top_k < 1:
        raise ValueError(f"--top-k must be at least 1, got {args.top_k}")
    if args.top_p is not None and not 0 < args.top_p <= 1:
        raise ValueError(f"--top-p must be in (0, 1], got {args.top_p}")


def cmd_train(args):
    from minigpt.data import load_documents, tokenize_documents, train_val_split
    from minigpt.device import seed_everything
    from minigpt.model import GPT, GPTConfig
    from minigpt.tokenizer import train_tokenizer
    from minigpt.train import CHECKPOINT_DIR, Trainer, TrainConfig

    out = Path(args.out)
    cfg = TrainConfig(
        iters=args.iters, batch_size=args.batch_size, grad_accum=args.grad_accum, lr=args.lr, min_lr=args.min_lr,
        warmup_iters=args.warmup_iters, weight_decay=args.weight_decay, grad_clip=args.grad_clip,
        eval_interval=args.eval_interval, eval_iters=args.eval_iters,
        checkpoint_interval=args.checkpoint_interval, seed=args.seed)
    has_checkpoint = (out / CHECKPOINT_DIR).is_dir()
    if has_checkpoint and not args.resume:
        raise ValueError(f"{out} already holds a run: add --resume to continue it, or choose another --out")
    if args.resume and not has_checkpoint:
        raise ValueError(f"--resume: no checkpoint in {out}")
    documents = load_documents(args.data, args.text_column)
    if args.resume:
        from minigpt.train import load_checkpoint

        _, tokenizer, _ = load_checkpoint(out)
        data = train_val_split(tokenize_documents(documents, tokenizer), args.val_fraction)
        trainer = Trainer.resume(out, data, cfg, progress=not args.no_progress)
        print(f"resuming {out} at step {trainer.step} of {cfg.iters}")
    else:
        tokenizer = train_tokenizer(args.tokenizer, "\n".join(documents), args.vocab_size)
        data = train_val_split(tokenize_documents(documents, tokenizer), args.val_fraction)
        seed_everything(args.seed)
        model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=args.block_size, n_layer=args.n_layer,
                              n_head=args.n_head, n_embd=args.n_embd, dropout=args.dropout))
        print(f"model: {model.num_parameters():,} parameters; data: {len(data.train):,} training and "
              f"{len(data.val):,} validation tokens ({tokenizer.kind} tokenizer, {tokenizer.vocab_size} ids)")
        trainer = Trainer(model, tokenizer, data, cfg, out, progress=not args.no_progress)
    history = trainer.train()
    if history and "val_loss" in history[-1]:
        print(f"final validation loss {history[-1]['val_loss']:.4f}")
    print(f"checkpoint: {out / CHECKPOINT_DIR}; metrics: {out / 'metrics.jsonl'}")


def stream_sample(model, tokenizer, prompt, args, out=sys.stdout):
    """Print the prompt, then each new piece of text as soon as it is complete UTF-8."""
    from minigpt.generate import Generator

    prompt_ids = [tokenizer.bos_id] + tokenizer.encode(prompt)
    new_ids, shown = [], 0

    def on_token(token):
        nonlocal shown
        new_ids.append(token)
        text = tokenizer.decode(new_ids)
        if not text.endswith("\ufffd"):  # wait for the rest of a multi-byte character
            out.write(text[shown:])
            out.flush()
            shown = len(text)

    out.write(prompt)
    Generator(model, use_cache=not args.no_cache).generate(
        prompt_ids, args.max_new_tokens, args.temperature, args.top_k, args.top_p,
        stop_ids=(tokenizer.end_id,), seed=args.seed, on_token=on_token)
    out.write(tokenizer.decode(new_ids)[shown:] + "\n")


def cmd_sample(args):
    from minigpt.train import load_checkpoint

    check_sampling_options(args)
    model, tokenizer, _ = load_checkpoint(args.checkpoint)
    tokenizer.encode(args.prompt)  # a character the tokenizer cannot encode fails here, clearly
    stream_sample(model, tokenizer, args.prompt, args)


def cmd_demo(args):
    """The main job until chat tuning lands: pretrain, with samples before and after."""
    from minigpt.data import load_documents, tokenize_documents, train_val_split
    from minigpt.device import seed_everything
    from minigpt.model import GPT, GPTConfig
    from minigpt.tokenizer import train_tokenizer
    from minigpt.train import Trainer, TrainConfig

    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    documents = load_documents()
    tokenizer = train_tokenizer("char", "\n".join(documents))
    data = train_val_split(tokenize_documents(documents, tokenizer))
    seed_everything(1337)
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=64, n_layer=4, n_head=4, n_embd=128))
    print(f"A {model.num_parameters():,}-parameter GPT will learn from Python's reference documentation "
          f"({len(data.train):,} characters).")
    sampling = argparse.Namespace(max_new_tokens=200, temperature=0.8, top_k=None, top_p=None, seed=0, no_cache=False)
    prompt = "The "
    print("\n--- sample before training (random weights) ---")
    stream_sample(model, tokenizer, prompt, sampling)
    print()
    cfg = TrainConfig(iters=args.iters, eval_interval=max(1, args.iters // 4), eval_iters=20,
                      checkpoint_interval=args.iters)
    Trainer(model, tokenizer, data, cfg, out).train()
    print("\n--- sample after training ---")
    stream_sample(model, tokenizer, prompt, sampling)
    print(f"\nloss curve: {out / 'loss_curve.png'}; checkpoint: {out / 'checkpoint'}")
    print(f"more samples: python -m minigpt sample --checkpoint {out} --prompt \"def \"")


COMMANDS = {"train": cmd_train, "sample": cmd_sample, "demo": cmd_demo}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    # MindSpore reads GLOG_v when first imported (building the parser imports it).
    os.environ["GLOG_v"] = "1" if "--verbose" in argv else "3"
    args = build_parser().parse_args(argv)
    try:
        from minigpt.device import setup_device

        setup_device(args.device, args.threads)
        COMMANDS[args.command](args)
    except (ValueError, OSError) as e:  # our errors: DataError, CheckpointError, bad values, files
        if args.verbose:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
