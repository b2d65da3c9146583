"""How fast does a small GPT learn TinyChat and TinyWorld? Design choices, tried quickly in PyTorch.

The speedrun's accuracy depends on choices (world size, biographies per person,
the split of the time between pretraining and chat tuning, model size, batch,
learning rates) that take a quarter of an hour each to try in minigpt on a CPU.
`torch_gpt.TorchGPT` is the same model, trained the same way on the same
batches; it steps about twice as fast, so choices are tried in half the time,
and the speedrun takes the best ones (docs/performance.md has the figures).

Pretraining on TinyWorld's biographies (--pretrain-iters; 0 = chat tuning from
random weights), then chat tuning on TinyChat (multi-turn, with the knowledge
skill), character tokenizer, packed rows of --block-size tokens:

    python benchmarks/chat_design.py --pretrain-iters 1500 --iters 1500 --eval-every 500

prints, at each evaluation, the held-out exact match of every report-card set
(greedy decoding) and the knowledge of the held-out people, then one JSON line
with the settings and the final figures. --misses N also prints up to N wrong
replies per set, to see how the model fails.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # torch_gpt, next to this file


def greedy_answers(model, tokenizer, examples, block_size, batch=64):
    """Greedy replies to every example's question, `batch` rows at once (recomputing the context)."""
    import torch

    from minigpt.chat import render_prompt
    from minigpt.tinychat import final_answer, prompt_messages

    replies = []
    model.eval()
    for start in range(0, len(examples), batch):
        part = examples[start:start + batch]
        prompts = [render_prompt(tokenizer, prompt_messages(e)) for e in part]
        budgets = [len(tokenizer.encode(final_answer(e))) + 1 for e in part]
        width = min(block_size, max(len(p) + b for p, b in zip(prompts, budgets)))
        ids = torch.full((len(prompts), width), tokenizer.pad_id, dtype=torch.long)
        for row, prompt in enumerate(prompts):
            ids[row, :len(prompt)] = torch.tensor(prompt)
        pos = [len(p) for p in prompts]
        out, done = [[] for _ in prompts], [False] * len(prompts)
        with torch.no_grad():
            while not all(done):
                next_ids = model.logits(ids)[torch.arange(len(prompts)), torch.tensor(pos) - 1].argmax(-1).tolist()
                for row, token in enumerate(next_ids):
                    if done[row]:
                        continue
                    if token == tokenizer.end_id or len(out[row]) == budgets[row] or pos[row] == width:
                        done[row] = True
                        continue
                    out[row].append(token)
                    ids[row, pos[row]] = token
                    pos[row] += 1
        replies += [tokenizer.decode(r) for r in out]
    return replies


def evaluate(model, tokenizer, sets, block_size, misses=0):
    from minigpt.evaluate import score_replies
    from minigpt.tinychat import final_answer, is_correct

    scores = {}
    for name, examples in sets.items():
        replies = greedy_answers(model, tokenizer, examples, block_size)
        scores[name] = score_replies(examples, replies, samples=0)
        wrong = [(e, got) for e, got in zip(examples, replies) if not is_correct(e, got)]
        for example, got in wrong[:misses]:
            print(f"  {name}/{example['skill']}: {example['messages'][-2]['content']!r}\n"
                  f"    expected {final_answer(example)!r}\n    got      {got!r}")
    return scores


def completed(model, tokenizer, world, people=40):
    """Share of held-out people's plain biography sentences the model completes right (greedy)."""
    import torch

    from minigpt import tinyworld

    right, probe = 0, [p for p in world if p["split"] == "test"][:people]
    for person in probe:
        for attribute in tinyworld.ATTRIBUTES:
            prefix, value = tinyworld.prompt_of(person, attribute)
            ids = torch.tensor([[tokenizer.bos_id] + tokenizer.encode(prefix)])
            with torch.no_grad():
                for _ in range(len(value) + 1):
                    ids = torch.cat([ids, model.logits(ids)[:, -1].argmax(-1, keepdim=True)], dim=1)
            right += tokenizer.decode(ids[0, -len(value) - 1:].tolist()).startswith(value)
    return right / (len(tinyworld.ATTRIBUTES) * len(probe))


def transcript(messages):
    """A conversation as plain text, "User: ..." and "MiniGPT: ..." lines, the way dialogues stand in
    web text: the form --transcript-rows pretrains on (docs/performance.md: it did not help)."""
    speakers = {"system": "System", "user": "User", "assistant": "MiniGPT"}
    return "".join(f"{speakers[m['role']]}: {m['content']}\n" for m in messages)


def summary(scores):
    return {name: round(s["overall"], 3) for name, s in scores.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=200, help="people in the world (half held out)")
    parser.add_argument("--bios", type=int, default=5, help="biographies per person (augmentation)")
    parser.add_argument("--shuffle", action=argparse.BooleanOptionalAction, default=True,
                        help="shuffle each biography's sentences (augmentation)")
    parser.add_argument("--pretrain-iters", type=int, default=0)
    parser.add_argument("--pretrain-lr", type=float, default=3e-3)
    parser.add_argument("--iters", type=int, default=1500, help="chat-tuning steps")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--pretrain-batch-size", type=int, default=0, help="default: --batch-size")
    parser.add_argument("--block-size", type=int, default=384)
    parser.add_argument("--n-layer", type=int, default=2)
    parser.add_argument("--n-head", type=int, default=4)
    parser.add_argument("--n-embd", type=int, default=128)
    parser.add_argument("--n-train", type=int, default=30000, help="TinyChat training conversations")
    parser.add_argument("--per-skill", type=int, default=10, help="held-out questions per skill and set")
    parser.add_argument("--eval-every", type=int, default=0, help="also evaluate every N chat-tuning steps")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--rehearsal-rows", type=int, default=0,
                        help="rows of each chat-tuning batch that are biography windows (minigpt.sft.Rehearsal)")
    parser.add_argument("--transcript-rows", type=int, default=0,
                        help="rows of each pretraining batch that are TinyChat's training conversations as plain-text "
                             "transcripts (`transcript`); the others are biographies")
    parser.add_argument("--misses", type=int, default=0, help="at the end, print up to N wrong replies per set")
    parser.add_argument("--pretrained", type=Path, default=None,
                        help="weights file: loaded instead of pretraining if it exists, else written after "
                             "pretraining (so several chat-tuning designs start from one pretrained model; "
                             "name the file after the model and pretraining options, which are not checked)")
    args = parser.parse_args()

    import torch

    from minigpt import tinychat, tinyworld
    from minigpt.data import TokenSplits, tokenize_documents
    from minigpt.model import GPTConfig
    from minigpt.sft import ChatData, Rehearsal
    from minigpt.tokenizer import CharTokenizer
    from minigpt.train import TrainConfig, lr_at
    from torch_gpt import TorchGPT, make_training

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    world_cfg = tinyworld.WorldConfig(people=args.people, biographies=args.bios, shuffle=args.shuffle, seed=0)
    world = tinyworld.make_world(world_cfg)
    train = tinychat.generate_examples("train", args.n_train, 0, world)
    sets = tinychat.evaluation_sets(world, args.per_skill, 0)
    bios = tinyworld.biographies(world, world_cfg)
    tokenizer = CharTokenizer.train(tinychat.ALPHABET + "".join(bios))
    data = ChatData(tokenizer, [e["messages"] for e in train], [e["messages"] for e in sets["turn 1"]])
    T = args.block_size
    model = TorchGPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=T, n_layer=args.n_layer,
                               n_head=args.n_head, n_embd=args.n_embd, positions="rotary", document_mask=True,
                               bos_id=tokenizer.bos_id))
    corpus = TokenSplits(tokenize_documents(bios, tokenizer), tokenize_documents(bios[:50], tokenizer))
    if args.rehearsal_rows:
        data = Rehearsal(data, corpus, args.rehearsal_rows)
    start = time.perf_counter()
    if args.pretrained and args.pretrained.exists():
        model.load_state_dict(torch.load(args.pretrained))
        print(f"pretrained weights from {args.pretrained}", flush=True)
    elif args.pretrain_iters:
        rows = args.pretrain_batch_size or args.batch_size
        pretraining = corpus
        if args.transcript_rows:
            transcripts = tokenize_documents([transcript(e["messages"]) for e in train], tokenizer)
            # Rehearsal draws only the train split of the rows it gives to the second source.
            pretraining = Rehearsal(corpus, TokenSplits(transcripts, transcripts), args.transcript_rows)
        cfg = TrainConfig(iters=args.pretrain_iters, batch_size=rows, lr=args.pretrain_lr, min_lr=args.pretrain_lr / 10,
                          warmup_iters=min(100, args.pretrain_iters // 10))
        step_fn, _ = make_training(model, cfg)
        for step in range(args.pretrain_iters):
            x, y = pretraining.batch("train", rows, T, np.random.default_rng((args.seed, 1, step)))
            loss = step_fn(x, y, lr_at(step, cfg))
            if (step + 1) % max(1, args.pretrain_iters // 5) == 0:
                print(f"pretrain step {step + 1}: loss {loss:.3f} ({time.perf_counter() - start:.0f} s)", flush=True)
        print(f"pretrained: held-out people's sentences completed right: {completed(model, tokenizer, world):.1%}",
              flush=True)
        if args.pretrained:
            torch.save(model.state_dict(), args.pretrained)
    pretrain_s = time.perf_counter() - start
    if not args.iters:
        return
    cfg = TrainConfig(iters=args.iters, batch_size=args.batch_size, lr=args.lr, min_lr=args.lr / 10,
                      warmup_iters=min(100, args.iters // 10))
    train_step, _ = make_training(model, cfg)
    start = time.perf_counter()
    quick = {name: examples[::3] for name, examples in sets.items()}
    for step in range(args.iters):
        x, y = data.batch("train", args.batch_size, T, np.random.default_rng((args.seed, step)))
        loss = train_step(x, y, lr_at(step, cfg))
        if args.eval_every and (step + 1) % args.eval_every == 0 and step + 1 < args.iters:
            print(f"step {step + 1} ({time.perf_counter() - start:.0f} s): loss {loss:.3f}, "
                  f"{summary(evaluate(model, tokenizer, quick, T))}", flush=True)
    sft_s = time.perf_counter() - start
    scores = evaluate(model, tokenizer, sets, T, args.misses)
    stored = completed(model, tokenizer, world)
    print(json.dumps({**vars(args), "pretrained": args.pretrained and str(args.pretrained), "loss": round(loss, 4), "sets": summary(scores),
                      "completed_after": round(stored, 3),
                      "turn 1 per skill": {k: round(v, 2) for k, v in scores["turn 1"]["per_skill"].items()},
                      "pretrain_s": round(pretrain_s, 1), "sft_s": round(sft_s, 1)}))


if __name__ == "__main__":
    main()
