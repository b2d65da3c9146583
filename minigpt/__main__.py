"""Command line: `python -m minigpt {train,sample,chat,speedrun} --help`.

Bad input (a missing file, a bad value, a checkpoint that does not fit) gives a
one-line error and exit status 2; `--verbose` shows MindSpore's logs and full
tracebacks instead.
"""

import argparse
import os
import sys
from pathlib import Path

EXAMPLES = """examples:
  python -m minigpt train --iters 500 --out runs/pydoc          # the embedded corpus
  python -m minigpt train --data notes.txt --tokenizer bpe --out runs/notes
  python -m minigpt train --out runs/pydoc --iters 1000 --resume  # train longer
  python -m minigpt train --data-parallel 2 --batch-size 6 --out runs/dp  # 2 workers (msrun)
  python -m minigpt sample --checkpoint runs/pydoc --prompt "def "
  python -m minigpt speedrun                                      # the main job (make demo)
  python -m minigpt chat --checkpoint runs/speedrun/sft
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
    group.add_argument("--positions", choices=["learned", "rotary"], default="learned",
                       help="position embeddings: learned (GPT-2) or rotary (RoPE) (default learned)")
    group.add_argument("--bias", action=argparse.BooleanOptionalAction, default=True,
                       help="biases in the linear layers, as GPT-2 (default); --no-bias trains about 6%% faster")
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
        prog="python -m minigpt", description="MiniGPT Lab: train a small GPT with MindSpore, chat-tune it, talk to it.",
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
    train.add_argument("--data-parallel", type=int, default=1, metavar="N",
                       help="train on N data-parallel workers started with msrun, each with --batch-size rows "
                            "(default 1: this process alone); see docs/distributed.md for several machines")
    add_model_options(train)
    add_training_options(train)

    sample = commands.add_parser("sample", parents=[common], help="generate text from a checkpoint",
                                 description="Generate text from a trained checkpoint, streaming it as it comes.")
    sample.add_argument("--checkpoint", required=True, help="a run directory or its checkpoint/ directory")
    sample.add_argument("--prompt", default="", help="text to continue (default: start from <|bos|>)")
    add_sampling_options(sample)
    sample.add_argument("--no-cache", action="store_true", help="recompute the whole context at every step (slow)")

    chat = commands.add_parser("chat", parents=[common], help="talk to a chat-tuned checkpoint",
                               description="Talk to a chat-tuned model; replies stream as they are generated. "
                                           + CHAT_HELP)
    chat.add_argument("--checkpoint", required=True, help="a run directory or its checkpoint/ directory")
    chat.add_argument("--system", default=None, help="a system message that starts the conversation")
    add_sampling_options(chat, temperature=0.0, max_new_tokens=128)

    speedrun = commands.add_parser(
        "speedrun", parents=[common], help="the main job: pretrain, chat-tune, evaluate, report",
        description="From nothing to a chat model with a report card: TinyChat data, a tokenizer, pretraining "
                    "on the embedded corpus, chat tuning, evaluation and report, in runs/NAME/. Running it "
                    "again resumes; --fresh starts over.")
    speedrun.add_argument("--name", default="speedrun", help="run name: artifacts go to OUT_ROOT/NAME (default speedrun)")
    speedrun.add_argument("--out-root", default="runs", help="where runs are kept (default runs)")
    speedrun.add_argument("--size", choices=["tiny", "small"], default="small",
                          help="small: the real run (default); tiny: a seconds-long smoke test")
    speedrun.add_argument("--time-budget", type=float, default=13.5,
                          help="minutes for the two training stages together (default 13.5)")
    speedrun.add_argument("--fresh", action="store_true", help="delete an earlier run of this name first")
    speedrun.add_argument("--seed", type=int, default=1337, help="random seed (default 1337)")
    speedrun.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return parser


def add_sampling_options(parser, temperature=0.8, max_new_tokens=200):
    parser.add_argument("--max-new-tokens", type=int, default=max_new_tokens,
                        help=f"most tokens to generate (default {max_new_tokens})")
    parser.add_argument("--temperature", type=float, default=temperature,
                        help=f"0 = greedy; higher = more random (default {temperature})")
    parser.add_argument("--top-k", type=int, default=None, help="sample only among the k most likely tokens")
    parser.add_argument("--top-p", type=float, default=None, help="sample only within probability mass p (nucleus)")
    parser.add_argument("--seed", type=int, default=None, help="seed for reproducible samples")


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
    from minigpt import distributed
    from minigpt.data import load_documents, tokenize_documents, train_val_split
    from minigpt.device import seed_everything
    from minigpt.model import GPT, GPTConfig
    from minigpt.tokenizer import load_tokenizer, train_tokenizer
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
    if args.data_parallel < 1:
        raise ValueError(f"--data-parallel must be at least 1, got {args.data_parallel}")
    # In msrun's processes: join the others (msrun's scheduler never returns from this).
    workers = distributed.join(args.data_parallel) if distributed.started_by_msrun() else distributed.SINGLE
    documents = load_documents(args.data, args.text_column)
    if args.resume:
        tokenizer = load_tokenizer(out / CHECKPOINT_DIR / "tokenizer.json")  # the run's own tokenizer
    else:
        tokenizer = train_tokenizer(args.tokenizer, "\n".join(documents), args.vocab_size)
        config = GPTConfig(vocab_size=tokenizer.vocab_size, block_size=args.block_size, n_layer=args.n_layer,
                           n_head=args.n_head, n_embd=args.n_embd, dropout=args.dropout, positions=args.positions,
                           bias=args.bias)
    data = train_val_split(tokenize_documents(documents, tokenizer), args.val_fraction)
    if args.data_parallel > 1 and not distributed.started_by_msrun():
        return launch_workers(args, out)  # the input is valid: now start the workers, which redo the above
    if args.resume:
        trainer = Trainer.resume(out, data, cfg, progress=not args.no_progress, workers=workers)
        print(f"resuming {out} at step {trainer.step} of {cfg.iters}")
    else:
        seed_everything(args.seed)  # the same seed on every worker: identical initial weights
        model = GPT(config)
        print(f"model: {model.num_parameters():,} parameters; data: {len(data.train):,} training and "
              f"{len(data.val):,} validation tokens ({tokenizer.kind} tokenizer, {tokenizer.vocab_size} ids)")
        trainer = Trainer(model, tokenizer, data, cfg, out, progress=not args.no_progress, workers=workers)
    history = trainer.train()
    if history and "val_loss" in history[-1]:
        print(f"final validation loss {history[-1]['val_loss']:.4f}")
    print(f"checkpoint: {out / CHECKPOINT_DIR}; metrics: {out / 'metrics.jsonl'}")


def launch_workers(args, out):
    """Start this same command on N workers through msrun; each worker joins in cmd_train."""
    from minigpt.distributed import launch_local

    argv = list(args.argv)
    if args.threads is None:  # share the cores: N workers with all cores each would fight
        argv += ["--threads", str(max(1, (os.cpu_count() or 1) // args.data_parallel))]
    log_dir = out / "msrun_logs"
    print(f"starting {args.data_parallel} data-parallel workers with msrun; their logs: {log_dir}")
    code = launch_local(args.data_parallel, ["-m", "minigpt", *argv], log_dir)
    if code:
        print(f"error: a data-parallel worker failed (exit status {code}): see {log_dir}/worker_*.log",
              file=sys.stderr)
    return code


def cmd_sample(args):
    from minigpt.generate import print_sample
    from minigpt.train import load_checkpoint

    check_sampling_options(args)
    model, tokenizer, _ = load_checkpoint(args.checkpoint)
    tokenizer.encode(args.prompt)  # a character the tokenizer cannot encode fails here, clearly
    print_sample(model, tokenizer, args.prompt, args.max_new_tokens, args.temperature, args.top_k, args.top_p,
                 args.seed, use_cache=not args.no_cache)


CHAT_HELP = """commands: /reset forgets the conversation, /temp X sets the sampling temperature
(0 = always the most likely token), /quit leaves (so do Ctrl-D and Ctrl-C)"""


def cmd_chat(args):
    from minigpt.chat import ChatSession
    from minigpt.train import load_checkpoint

    check_sampling_options(args)
    model, tokenizer, _ = load_checkpoint(args.checkpoint)
    session = ChatSession(model, tokenizer, system=args.system, temperature=args.temperature, top_k=args.top_k,
                          top_p=args.top_p, max_new_tokens=args.max_new_tokens, seed=args.seed)
    print(f"chatting with {args.checkpoint} ({model.num_parameters():,} parameters)")
    print(CHAT_HELP)
    while True:
        try:
            text = input("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return
        if not text:
            continue
        if text.startswith("/"):
            command, _, value = text.partition(" ")
            if command == "/quit":
                return
            if command == "/reset":
                session.reset()
                print("(conversation cleared)")
            elif command == "/temp":
                try:
                    temperature = float(value)
                    if temperature < 0:
                        raise ValueError
                    session.temperature = temperature
                    print(f"(temperature {temperature})")
                except ValueError:
                    print("(usage: /temp X with X a number >= 0, e.g. /temp 0.8)")
            else:
                print(f"(unknown command {command}; {CHAT_HELP})")
            continue
        print("bot> ", end="", flush=True)
        try:
            session.reply(text, on_text=lambda piece: print(piece, end="", flush=True))
            print()
        except ValueError as e:
            print(f"(cannot answer: {e})")


def cmd_speedrun(args):
    from minigpt.speedrun import Speedrun, SpeedrunConfig

    cfg = SpeedrunConfig(name=args.name, out_root=args.out_root, size=args.size,
                         time_budget_s=60 * args.time_budget, seed=args.seed)
    Speedrun(cfg, fresh=args.fresh, progress=not args.no_progress).run()


COMMANDS = {"train": cmd_train, "sample": cmd_sample, "chat": cmd_chat, "speedrun": cmd_speedrun}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    # MindSpore reads GLOG_v when first imported (building the parser imports it).
    os.environ["GLOG_v"] = "1" if "--verbose" in argv else "3"
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        from minigpt.device import setup_device

        setup_device(args.device, args.threads)
        code = COMMANDS[args.command](args)
    except (ValueError, OSError) as e:  # our errors: DataError, CheckpointError, bad values, files
        if args.verbose:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # training already saved a checkpoint
        print("\ninterrupted", file=sys.stderr)
        return 130
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
