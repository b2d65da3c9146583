"""Command line: `python -m minigpt {train,sft,eval,sample,chat,speedrun} --help`.

The training, model and speedrun options come from their dataclasses
(`TrainConfig`, `GPTConfig`, `SpeedrunConfig`): each field is an option with
its type, default and help, so the two never disagree. Bad input (a missing
file, a bad value, a checkpoint that does not fit) gives a one-line error and
exit status 2; `--verbose` shows MindSpore's logs and full tracebacks instead.
"""

import argparse
import os
import sys
from pathlib import Path

from minigpt.options import add_options, from_args

EXAMPLES = """examples:
  python -m minigpt train --iters 500 --out runs/pydoc          # the embedded corpus
  python -m minigpt train --data notes.txt --tokenizer bpe --out runs/notes
  python -m minigpt train --out runs/pydoc --iters 1000 --resume  # train longer
  python -m minigpt train --time-budget 5 --out runs/five        # as many steps as fit in 5 minutes
  python -m minigpt train --data-parallel 2 --batch-size 6 --out runs/dp  # 2 workers (msrun)
  python -m minigpt sft --checkpoint runs/speedrun/pretrain --data runs/speedrun/tinychat --out runs/mysft
  python -m minigpt eval --checkpoint runs/mysft --data runs/speedrun/tinychat/test.jsonl
  python -m minigpt sample --checkpoint runs/pydoc --prompt "def "
  python -m minigpt speedrun                                      # the main job (make demo)
  python -m minigpt chat --checkpoint runs/speedrun/sft
"""
CHAT_HELP = """commands: /reset forgets the conversation, /temp X sets the sampling temperature
(0 = always the most likely token), /quit leaves (so do Ctrl-D and Ctrl-C)"""


def common_options():
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--device", default=None,
                        help="cpu, gpu or ascend (default: $MINIGPT_DEVICE, else the best available)")
    parent.add_argument("--threads", type=int, default=None, help="CPU threads for MindSpore")
    parent.add_argument("--verbose", action="store_true", help="show MindSpore's logs and full tracebacks")
    return parent


def build_parser():
    from minigpt.model import GPTConfig
    from minigpt.speedrun import SpeedrunConfig
    from minigpt.tokenizer import DEFAULT_BPE_VOCAB_SIZE, TOKENIZER_CLASSES
    from minigpt.train import TrainConfig

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
    model = train.add_argument_group("model (ignored with --resume, which uses the checkpoint's)")
    add_options(model, GPTConfig)
    model.add_argument("--tokenizer", choices=sorted(TOKENIZER_CLASSES), default="char",
                       help="tokenizer trained on the data (default char)")
    model.add_argument("--vocab-size", type=int, default=DEFAULT_BPE_VOCAB_SIZE,
                       help=f"vocabulary size of the BPE tokenizers (default {DEFAULT_BPE_VOCAB_SIZE})")
    add_options(train, TrainConfig, "training")

    sft = commands.add_parser("sft", parents=[common], help="chat-tune a pretrained checkpoint",
                              description="Chat-tune (supervised fine-tuning) a pretrained checkpoint on "
                                          "conversations, with the loss on the assistant's tokens only.")
    sft.add_argument("--checkpoint", required=True, help="the pretrained run directory or its checkpoint/")
    sft.add_argument("--data", required=True,
                     help="a folder with train.jsonl and test.jsonl (as the speedrun writes in runs/NAME/tinychat), "
                          'one {"messages": [...]} conversation per line')
    sft.add_argument("--out", required=True, help="run directory for the chat-tuned model (resumed if it exists)")
    sft.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_options(sft, TrainConfig, "training", defaults=dict(iters=1000, batch_size=16, lr=3e-3, min_lr=3e-4))

    evaluate = commands.add_parser("eval", parents=[common], help="exact match and loss of a chat model",
                                   description="Ask a chat model every held-out question of a chat JSONL file "
                                               "and report exact match per skill and the loss on the answers.")
    evaluate.add_argument("--checkpoint", required=True, help="a run directory or its checkpoint/ directory")
    evaluate.add_argument("--data", required=True, help='a JSONL file of {"messages": [...], "skill": ...} records')
    evaluate.add_argument("--out", default=None, help="also write evaluation.json into this folder")
    evaluate.add_argument("--no-progress", action="store_true", help="hide the progress bar")

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

    serve = commands.add_parser("serve", parents=[common], help="a chat page in the browser",
                                description="Serve a chat page for a chat-tuned model on this machine "
                                            "(http://127.0.0.1:PORT): streamed replies, a temperature slider, "
                                            "a button that starts over. Ctrl-C stops it.")
    serve.add_argument("--checkpoint", required=True, help="a run directory or its checkpoint/ directory")
    serve.add_argument("--port", type=int, default=7860, help="port on 127.0.0.1 (default 7860)")
    serve.add_argument("--system", default=None, help="a system message that starts every conversation")
    add_sampling_options(serve, temperature=0.0, max_new_tokens=128)

    speedrun = commands.add_parser(
        "speedrun", parents=[common], help="the main job: pretrain, chat-tune, evaluate, report",
        description="From nothing to a chat model with a report card: TinyWorld (its people, written into "
                    "runs/NAME/world.json) and TinyChat data, a tokenizer, pretraining on the people's "
                    "biographies, chat tuning, the same tuning without pretraining, evaluation of the three "
                    "models and report, in runs/NAME/. Running it again resumes; --fresh starts over.")
    add_options(speedrun, SpeedrunConfig)
    speedrun.add_argument("--fresh", action="store_true", help="delete an earlier run of this name first")
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
    from minigpt.generate import check_sampling

    try:
        check_sampling(args.temperature, args.top_k, args.top_p, args.max_new_tokens)
    except ValueError as error:  # name the option as the user typed it
        raise ValueError("--" + str(error).replace("_", "-", 1)) from None


def cmd_train(args):
    from minigpt import distributed
    from minigpt.checkpoint import CHECKPOINT_DIR, has_checkpoint
    from minigpt.data import load_documents, tokenize_documents, train_val_split
    from minigpt.device import seed_everything
    from minigpt.model import GPT, GPTConfig
    from minigpt.tokenizer import load_tokenizer, train_tokenizer
    from minigpt.train import Trainer, TrainConfig

    out = Path(args.out)
    cfg = from_args(TrainConfig, args)
    if has_checkpoint(out) and not args.resume:
        raise ValueError(f"{out} already holds a run: add --resume to continue it, or choose another --out")
    if args.resume and not has_checkpoint(out):
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
        config = from_args(GPTConfig, args, vocab_size=tokenizer.vocab_size, bos_id=tokenizer.bos_id)
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
    trainer.train()
    if trainer.history and "val_loss" in trainer.history[-1]:
        print(f"final validation loss {trainer.history[-1]['val_loss']:.4f}")
    print(f"checkpoint: {out / CHECKPOINT_DIR}; metrics: {out / 'metrics.jsonl'}")


def cmd_sft(args):
    from minigpt.sft import finetune
    from minigpt.tinychat import read_conversations
    from minigpt.train import TrainConfig

    data = Path(args.data)
    if not (data / "train.jsonl").is_file():
        raise ValueError(f"--data: {data} must be a folder holding train.jsonl and test.jsonl")
    split = {name: [e["messages"] for e in read_conversations(data / f"{name}.jsonl")] for name in ("train", "test")}
    finished = finetune(args.checkpoint, split["train"], split["test"], args.out, from_args(TrainConfig, args),
                        progress=not args.no_progress)
    print(f"chat-tuned model: {args.out}; talk to it: python -m minigpt chat --checkpoint {args.out}")
    return 0 if finished else 130


def cmd_eval(args):
    import json

    from minigpt.evaluate import by_set, evaluate_checkpoint
    from minigpt.tinychat import read_conversations

    found = evaluate_checkpoint(args.checkpoint, by_set(read_conversations(args.data)), progress=not args.no_progress)
    for name, accuracy in found["sets"].items():
        print(f"{name}: {100 * accuracy['overall']:.1f}% of {sum(accuracy['counts'].values())}")
        for skill, share in accuracy["per_skill"].items():
            print(f"  {skill:>10}: {100 * share:5.1f}% of {accuracy['counts'][skill]}")
    print(f"loss on the answers {found['loss']:.3f}")
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "evaluation.json").write_text(json.dumps(found, indent=2))


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
    from minigpt.checkpoint import load_checkpoint
    from minigpt.generate import print_sample

    check_sampling_options(args)
    model, tokenizer, _ = load_checkpoint(args.checkpoint)
    tokenizer.encode(args.prompt)  # a character the tokenizer cannot encode fails here, clearly
    print_sample(model, tokenizer, args.prompt, args.max_new_tokens, args.temperature, args.top_k, args.top_p,
                 args.seed, use_cache=not args.no_cache)


def chat_session(args):
    """The model, a ChatSession on it with the command's options, and a note if it was never chat-tuned."""
    from minigpt.checkpoint import is_chat_tuned, load_checkpoint
    from minigpt.session import ChatSession

    check_sampling_options(args)
    model, tokenizer, _ = load_checkpoint(args.checkpoint)
    session = ChatSession(model, tokenizer, system=args.system, temperature=args.temperature, top_k=args.top_k,
                          top_p=args.top_p, max_new_tokens=args.max_new_tokens, seed=args.seed)
    note = (f"{args.checkpoint} was pretrained on text only, never chat-tuned, so it continues text instead of "
            f"answering; a chat model comes from `python -m minigpt sft`") if is_chat_tuned(args.checkpoint) is False \
        else ""
    return model, session, note


def cmd_serve(args):
    from minigpt.serve import serve

    _, session, note = chat_session(args)
    print(f"chat page for {args.checkpoint}: http://127.0.0.1:{args.port} (Ctrl-C stops it)", flush=True)
    serve(session, f"MiniGPT: {args.checkpoint}", note, port=args.port)


def cmd_chat(args):
    from minigpt.generate import check_sampling

    model, session, note = chat_session(args)
    if note:
        print(f"note: {note}")
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
                    check_sampling(temperature)  # refuses nan and inf as well as negative numbers
                    session.temperature = temperature
                    print(f"(temperature {temperature})")
                except ValueError:
                    print("(usage: /temp X with X a number >= 0, e.g. /temp 0.8)")
            else:
                print(f"(unknown command {command}: /reset, /temp X or /quit)")
            continue
        print("bot> ", end="", flush=True)
        try:
            session.reply(text, on_text=lambda piece: print(piece, end="", flush=True))
            print()
        except ValueError as e:
            print(f"(cannot answer: {e})")


def cmd_speedrun(args):
    from minigpt.speedrun import Speedrun, SpeedrunConfig

    Speedrun(from_args(SpeedrunConfig, args), fresh=args.fresh, progress=not args.no_progress).run()


COMMANDS = {"train": cmd_train, "sft": cmd_sft, "eval": cmd_eval, "sample": cmd_sample, "chat": cmd_chat,
            "serve": cmd_serve, "speedrun": cmd_speedrun}


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
