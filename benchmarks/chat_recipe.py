"""Chat tuning in minigpt at a fixed number of steps: how lesson 07's recipe was chosen.

    python benchmarks/chat_recipe.py --iters 2000 --batch-size 16 --lr 3e-3 --seed 1337

Tunes a GPT from random weights on the speedrun's TinyChat training split (rotary
positions, document mask, rows of 384 tokens, the speedrun's schedule with 100 warmup
steps), then asks held-out questions (greedy, exact match). A fixed step count, not a
time budget, so that recipes compare at equal steps; the median step time says what a
time budget would buy. Prints one JSON line. `chat_design.py` tries the same in PyTorch.
"""

import argparse
import json
import tempfile

import numpy as np

from minigpt.device import seed_everything, setup_device


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iters", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--n-layer", type=int, default=2)
    parser.add_argument("--n-head", type=int, default=4)
    parser.add_argument("--n-embd", type=int, default=64)
    parser.add_argument("--n-test", type=int, default=300, help="held-out questions (default 300)")
    parser.add_argument("--seed", type=int, default=1337, help="the model's initialisation and batches")
    args = parser.parse_args(argv)

    setup_device(quiet=True)
    from minigpt.data import load_documents
    from minigpt.evaluate import exact_match
    from minigpt.model import GPT, GPTConfig
    from minigpt.sft import ChatData
    from minigpt.speedrun import SIZES, SpeedrunConfig
    from minigpt.tinychat import MAX_TOKENS, generate_examples
    from minigpt.tokenizer import CharTokenizer
    from minigpt.train import Trainer, TrainConfig

    data_seed = SpeedrunConfig().seed  # the speedrun's (and lesson 07's) questions
    train = generate_examples("train", SIZES["small"].n_train, data_seed)
    test = generate_examples("test", 500, data_seed)[:args.n_test]
    chats = "".join(m["content"] for e in train for m in e["messages"])
    tokenizer = CharTokenizer.train("\n".join(load_documents()) + chats)
    data = ChatData(tokenizer, [e["messages"] for e in train], [e["messages"] for e in test])
    seed_everything(args.seed)
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=MAX_TOKENS, n_layer=args.n_layer,
                          n_head=args.n_head, n_embd=args.n_embd, positions="rotary", document_mask=True))
    cfg = TrainConfig(iters=args.iters, batch_size=args.batch_size, lr=args.lr, min_lr=args.lr / 10,
                      warmup_iters=min(100, args.iters // 10), eval_interval=args.iters, eval_iters=5,
                      checkpoint_interval=args.iters, seed=args.seed)
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(model, tokenizer, data, cfg, out, progress=False)
        trainer.train()
        history = trainer.history
    scores = exact_match(model, tokenizer, test, progress=False)
    print(json.dumps({**vars(args), "ms_per_step": round(float(np.median([r["ms_per_iter"] for r in history[5:]])), 1),
                      "loss": round(history[-1]["loss"], 4), "exact_match": scores["overall"],
                      "per_skill": scores["per_skill"]}))


if __name__ == "__main__":
    main()
