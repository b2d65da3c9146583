"""Knowledge augmentation at equal compute: can question answering extract what pretraining stored?

    python benchmarks/knowledge.py                       # both arms, the defaults below (about 12 minutes on 2 cores, estimated)
    python benchmarks/knowledge.py --pretrain-iters 300 --qa-iters 100 --people 20   # a quick look

The setting of Allen-Zhu & Li, *Physics of Language Models: Part 3.1* (arXiv
2309.14316), at a CPU's scale. One TinyWorld, two pretraining corpora of the
same people and facts:

    plain       one biography per person, the plain wording, sentences in a fixed order
    augmented   --biographies differently worded biographies per person, sentences shuffled

Each arm pretrains the same GPT from the same random weights for the same steps
and batch (equal compute), then is tuned on questions about the world's train
half only ("Where does Suna Tavo come from?" -> "Suna Tavo comes from Lima.",
every attribute in every phrasing of `minigpt.tinyworld.QUESTIONS`), again for
the same steps. Measured on the held-out half, whose facts appear only in the
biographies: the pretrained model's completions of the plain sentences ("Suna
Tavo comes from" -> "Lima": is the fact stored?) and, after tuning, the answers
to the questions (exact match: can it be extracted?). The train half's answers
show whether the tuning itself worked. Prints a table and one JSON line;
docs/performance.md records the figures.
"""

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from minigpt import tinyworld
from minigpt.checkpoint import load_checkpoint
from minigpt.data import TokenSplits, tokenize_documents
from minigpt.device import seed_everything, setup_device
from minigpt.evaluate import completions, exact_match
from minigpt.model import GPT, GPTConfig
from minigpt.sft import ChatData, finetune
from minigpt.tinychat import ALPHABET, MAX_TOKENS
from minigpt.tokenizer import CharTokenizer
from minigpt.train import Trainer, TrainConfig

ARMS = {"plain": dict(biographies=1, shuffle=False), "augmented": dict(shuffle=True)}


def qa(person, attribute, template):
    fields = tinyworld.fields(person)
    return {"messages": [{"role": "user", "content": template.format(**fields)},
                         {"role": "assistant", "content": tinyworld.ANSWERS[attribute].format(**fields)}],
            "skill": "knowledge", "turn": 1}


def questions(people, split, rng=None):
    """Every attribute of every person of `split`, in every training phrasing (rng: one phrasing each)."""
    return [qa(person, attribute, template) for person in people if person["split"] == split
            for attribute in tinyworld.ATTRIBUTES
            for template in ([rng.choice(tinyworld.QUESTIONS[attribute])] if rng else tinyworld.QUESTIONS[attribute])]


def run_arm(name, args, out):
    world_cfg = tinyworld.WorldConfig(people=args.people, seed=args.seed,
                                      **{"biographies": args.biographies, **ARMS[name]})
    people = tinyworld.make_world(world_cfg)
    bios = tinyworld.biographies(people, world_cfg)
    tokenizer = CharTokenizer.train(ALPHABET)  # the same ids in both arms
    corpus = TokenSplits(tokenize_documents(bios, tokenizer), tokenize_documents(bios[:50], tokenizer))
    seed_everything(args.seed)  # the same random weights in both arms
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=MAX_TOKENS, n_layer=args.n_layer,
                          n_head=args.n_head, n_embd=args.n_embd, positions="rotary", document_mask=True,
                          bos_id=tokenizer.bos_id))

    def schedule(iters, lr):
        return TrainConfig(iters=iters, batch_size=args.batch_size, lr=lr, min_lr=lr / 10,
                           warmup_iters=min(100, iters // 10), eval_interval=iters, eval_iters=5,
                           checkpoint_interval=iters, seed=args.seed)

    start = time.perf_counter()
    Trainer(model, tokenizer, corpus, schedule(args.pretrain_iters, args.pretrain_lr), out / "pretrain",
            progress=args.progress).train()
    pretrain_s = time.perf_counter() - start
    held_out = [p for p in people if p["split"] == "test"]
    stored = completions(model, tokenizer, held_out)
    start = time.perf_counter()
    finetune(out / "pretrain", [e["messages"] for e in questions(people, "train")],
             [e["messages"] for e in questions(people, "test")], out / "qa", schedule(args.qa_iters, args.qa_lr),
             progress=args.progress)
    qa_s = time.perf_counter() - start
    tuned, _, _ = load_checkpoint(out / "qa")
    rng = random.Random(args.seed)
    extracted = exact_match(tuned, tokenizer, questions(people, "test", rng), progress=False)
    trained = exact_match(tuned, tokenizer, questions(people, "train", rng), progress=False)
    return {"biographies": world_cfg.biographies, "shuffle": world_cfg.shuffle, "corpus_chars": sum(map(len, bios)),
            "held_out_completed": round(stored, 3), "held_out_answered": round(extracted["overall"], 3),
            "train_half_answered": round(trained["overall"], 3),
            "pretrain_s": round(pretrain_s), "qa_s": round(qa_s)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=100, help="people in the world, half of them held out")
    parser.add_argument("--biographies", type=int, default=5, help="biographies per person in the augmented arm")
    parser.add_argument("--pretrain-iters", type=int, default=1000)
    parser.add_argument("--qa-iters", type=int, default=300, help="steps of question answering on the train half")
    parser.add_argument("--pretrain-lr", type=float, default=3e-3)
    parser.add_argument("--qa-lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--n-layer", type=int, default=2)
    parser.add_argument("--n-head", type=int, default=4)
    parser.add_argument("--n-embd", type=int, default=128)
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--arms", nargs="+", choices=tuple(ARMS), default=list(ARMS))
    parser.add_argument("--progress", action="store_true", help="show progress bars")
    args = parser.parse_args(argv)
    setup_device(quiet=True)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.arms:
            results[name] = run_arm(name, args, Path(tmp) / name)
            print(f"{name:>10}: {json.dumps(results[name])}", flush=True)
    print(f"\n| arm | biographies | held-out facts completed (pretrained) | held-out questions answered (tuned) "
          f"| train half answered |\n| --- | --- | --- | --- | --- |")
    for name, r in results.items():
        print(f"| {name} | {r['biographies']}{', shuffled' if r['shuffle'] else ''} | {100 * r['held_out_completed']:.1f}% "
              f"| {100 * r['held_out_answered']:.1f}% | {100 * r['train_half_answered']:.1f}% |")
    print(json.dumps({**vars(args), "results": results}))


if __name__ == "__main__":
    main()
