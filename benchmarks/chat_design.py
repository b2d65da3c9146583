"""How fast does a small GPT learn TinyChat's skills? Design choices, tried quickly in PyTorch.

The speedrun's accuracy depends on choices (learned or rotary positions, batch size,
learning rate, steps) that take a quarter of an hour each to try in minigpt on a CPU.
`torch_gpt.TorchGPT` is the same model; on one thread it trains about as fast as minigpt
on two, so two choices are tried side by side in the time of one speedrun, and the
speedrun takes the best ones (docs/performance.md has the figures).
Chat tuning on the speedrun's data (as many TinyChat training conversations as its
default size), packed rows of 128 tokens, character tokenizer; no pretraining unless
--pretrain-iters asks for the speedrun's (the embedded corpus, its learning rate).

    python benchmarks/chat_design.py --positions rotary --iters 1400 --eval-every 700

prints the held-out exact match (greedy decoding, TinyChat test split) per skill at
each evaluation, then one JSON line with the settings and the final figures;
--misses N also prints up to N wrong replies per skill, to see how the model fails.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # torch_gpt, next to this file


def greedy_answers(model, tokenizer, examples, block_size):
    """Greedy replies to every example's question, all rows at once (recomputing the context)."""
    import torch

    from minigpt.chat import render_prompt
    from minigpt.tinychat import final_answer, prompt_messages

    prompts = [render_prompt(tokenizer, prompt_messages(e)) for e in examples]
    budgets = [len(tokenizer.encode(final_answer(e))) + 1 for e in examples]
    ids = torch.full((len(prompts), block_size), tokenizer.pad_id, dtype=torch.long)
    for row, prompt in enumerate(prompts):
        ids[row, :len(prompt)] = torch.tensor(prompt)
    pos = [len(p) for p in prompts]
    replies, done = [[] for _ in prompts], [False] * len(prompts)
    model.eval()
    with torch.no_grad():
        while not all(done):
            next_ids = model.logits(ids)[torch.arange(len(prompts)), torch.tensor(pos) - 1].argmax(-1).tolist()
            for row, token in enumerate(next_ids):
                if done[row]:
                    continue
                if token == tokenizer.end_id or len(replies[row]) == budgets[row] or pos[row] == block_size:
                    done[row] = True
                    continue
                replies[row].append(token)
                ids[row, pos[row]] = token
                pos[row] += 1
    return [tokenizer.decode(r) for r in replies]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--positions", choices=["learned", "rotary"], default="rotary")
    parser.add_argument("--document-mask", action=argparse.BooleanOptionalAction, default=True,
                        help="packed conversations cannot see each other (default: on, as in the speedrun)")
    parser.add_argument("--bias", action=argparse.BooleanOptionalAction, default=True,
                        help="biases in the linear layers (default: on, as GPTConfig)")
    parser.add_argument("--iters", type=int, default=1400)
    parser.add_argument("--pretrain-iters", type=int, default=0,
                        help="pretrain this many steps on the embedded corpus first (the speedrun: 60)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--n-layer", type=int, default=2)
    parser.add_argument("--n-head", type=int, default=4)
    parser.add_argument("--n-embd", type=int, default=128)
    parser.add_argument("--n-test", type=int, default=300, help="held-out questions (default 300)")
    parser.add_argument("--eval-every", type=int, default=0, help="also evaluate every N iterations")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--misses", type=int, default=0, help="at the end, print up to N wrong replies per skill")
    args = parser.parse_args()

    import torch

    from minigpt.data import load_documents, tokenize_documents, train_val_split
    from minigpt.evaluate import score_replies
    from minigpt.model import GPTConfig
    from minigpt.sft import ChatData
    from minigpt.speedrun import SIZES, SpeedrunConfig
    from minigpt.tinychat import SKILLS, final_answer, generate_examples, is_correct
    from minigpt.tokenizer import CharTokenizer
    from minigpt.train import TrainConfig, lr_at
    from torch_gpt import TorchGPT, make_training

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    data_seed = SpeedrunConfig().seed  # the speedrun's questions, in both splits
    train = generate_examples("train", SIZES["small"].n_train, data_seed)
    test = generate_examples("test", args.n_test, data_seed)
    chats = "".join(m["content"] for e in train for m in e["messages"])
    tokenizer = CharTokenizer.train("\n".join(load_documents()) + chats)  # as the speedrun's
    data = ChatData(tokenizer, [e["messages"] for e in train], [e["messages"] for e in test])
    block_size = 128
    model = TorchGPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=block_size, n_layer=args.n_layer,
                               n_head=args.n_head, n_embd=args.n_embd, positions=args.positions,
                               document_mask=args.document_mask, bias=args.bias))
    if args.pretrain_iters:  # as Speedrun.pretrain: its learning rate and schedule
        s = SIZES["small"]
        corpus = train_val_split(tokenize_documents(load_documents(), tokenizer))
        pretrain_cfg = TrainConfig(iters=args.pretrain_iters, batch_size=args.batch_size, lr=s.pretrain_lr,
                                   min_lr=s.pretrain_lr / 10, warmup_iters=min(100, args.pretrain_iters // 10))
        pretrain_step, _ = make_training(model, pretrain_cfg)
        for step in range(args.pretrain_iters):
            x, y = corpus.batch("train", args.batch_size, block_size, np.random.default_rng((args.seed, 1, step)))
            loss = pretrain_step(x, y, lr_at(step, pretrain_cfg))
        print(f"pretrained {args.pretrain_iters} steps: loss {loss:.3f}", flush=True)
    cfg = TrainConfig(iters=args.iters, batch_size=args.batch_size, lr=args.lr, min_lr=args.lr / 10,
                      warmup_iters=min(100, args.iters // 10))  # the speedrun's chat-tuning schedule
    train_step, _ = make_training(model, cfg)

    start = time.perf_counter()
    for step in range(args.iters):
        x, y = data.batch("train", args.batch_size, block_size, np.random.default_rng((args.seed, step)))
        loss = train_step(x, y, lr_at(step, cfg))
        if args.eval_every and (step + 1) % args.eval_every == 0 and step + 1 < args.iters:
            scores = score_replies(test, greedy_answers(model, tokenizer, test, block_size))
            print(f"step {step + 1}: loss {loss:.3f}, exact match {scores['overall']:.1%} {scores['per_skill']}",
                  flush=True)
    seconds = time.perf_counter() - start
    replies = greedy_answers(model, tokenizer, test, block_size)
    scores = score_replies(test, replies)
    misses = [(e, got) for e, got in zip(test, replies) if not is_correct(e, got)]
    for skill in SKILLS:
        for example, got in [m for m in misses if m[0]["skill"] == skill][:args.misses]:
            print(f"{skill}: {example['messages'][-2]['content']!r}\n  expected {final_answer(example)!r}\n"
                  f"  got      {got!r}")
    print(json.dumps({**vars(args), "loss": round(loss, 4), "exact_match": scores["overall"],
                      "per_skill": scores["per_skill"], "train_s": round(seconds, 1)}))


if __name__ == "__main__":
    main()
