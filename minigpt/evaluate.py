"""Does the chat model work? Loss, perplexity, exact-match accuracy, and a report card.

Loss says how surprised the model is by held-out text; perplexity (e^loss) says
the same as "how many tokens it hesitates between". Neither says whether the
answers are right, so the report card also asks every held-out TinyChat
question, decodes greedily, and counts exact matches per skill.
"""

import json
import math
from collections import defaultdict
from pathlib import Path

import mindspore as ms
import numpy as np
from matplotlib.figure import Figure  # not pyplot: a notebook's inline plots stay as they are
from tqdm.auto import tqdm

from minigpt.chat import render_prompt
from minigpt.checkpoint import load_checkpoint
from minigpt.generate import Generator
from minigpt.sft import ChatData
from minigpt.tinychat import final_answer, is_correct, prompt_messages
from minigpt.tinyworld import ATTRIBUTES, prompt_of
from minigpt.train import loss_function, mean_loss


def perplexity(loss):
    return math.exp(loss)


def evaluate_checkpoint(checkpoint, sets, progress=True, loss_batches=10, batch_size=16, people=()):
    """Exact match per set (overall, per skill, per turn, samples), the loss on the answers and,
    for `people` of a world, the share of their facts the model completes (`completions`).

    `sets` maps a name to held-out chat records ({"messages", "skill", "turn"}),
    as `minigpt.tinychat.evaluation_sets` makes them; the loss is the mean over
    `loss_batches` packed batches of all of them, counting the assistant's
    tokens only, as chat tuning does.
    """
    model, tokenizer, _ = load_checkpoint(checkpoint)
    generator = Generator(model)  # one per model: each compiles its graphs and keeps their memory
    scores = evaluate_sets(model, tokenizer, sets, progress, generator=generator)
    chats = ChatData(tokenizer, [], [e["messages"] for examples in sets.values() for e in examples])
    loss = mean_loss(ms.jit(loss_function(model)), chats, "val", batch_size, model.config.block_size,
                     loss_batches, seed=0)
    found = {"sets": scores, "loss": loss}
    if people:
        found["completed"] = completions(model, tokenizer, people, generator)
    return found


def by_set(examples):
    """{set name: examples}, in order of appearance, from the "set" key of held-out records
    (`minigpt.tinychat.evaluation_sets` writes it; records without one form the set "test")."""
    sets = {}
    for example in examples:
        sets.setdefault(example.get("set", "test"), []).append(example)
    return sets


def evaluate_sets(model, tokenizer, sets, progress=True, samples=3, generator=None):
    """`exact_match` of every set, all questions decoded together (batches stay full)."""
    examples = [e for name in sets for e in sets[name]]
    replies = answers(model, tokenizer, examples, progress, generator=generator)
    scores, start = {}, 0
    for name, part in sets.items():
        scores[name] = score_replies(part, replies[start:start + len(part)], samples)
        start += len(part)
    return scores


# Rows decoded together. Measured on 400 held-out questions (2 x 128, context 384, 2 cores):
# 13.8 s and 1.0 GB at 8 rows, 13.7 s and 1.4 GB at 16, 15.3 s and 2.1 GB at 32.
ROWS = 8


def answers(model, tokenizer, examples, progress=True, batch_size=ROWS, generator=None):
    """The model's greedy reply to every example's question (its last user message, in context).

    A reply is cut one token after the expected answer's length: whatever comes
    later cannot make a wrong reply right. Pass the model's `generator` to reuse its
    compiled graphs (a new `Generator` compiles, and keeps, its own).
    """
    generator = generator or Generator(model)
    prompts = [render_prompt(tokenizer, prompt_messages(e)) for e in examples]
    budgets = [len(tokenizer.encode(final_answer(e))) + 1 for e in examples]
    with tqdm(total=len(examples), desc="exact match", unit="q", disable=not progress, dynamic_ncols=True) as bar:
        new = generator.greedy_batch(prompts, budgets, stop_ids=(tokenizer.end_id,), batch_size=batch_size,
                                     on_done=bar.update)
    return [tokenizer.decode(ids) for ids in new]


def exact_match(model, tokenizer, examples, progress=True, samples=3, batch_size=ROWS):
    """Accuracy over `examples` (TinyChat records), overall, per skill and per turn: the dict
    `score_replies` returns, with the model's greedy replies (`answers`)."""
    return score_replies(examples, answers(model, tokenizer, examples, progress, batch_size), samples)


def score_replies(examples, replies, samples=3):
    """Exact match of one reply per example.

    Returns {"overall", "per_skill": {skill: accuracy}, "counts": {skill: n},
    "per_turn": {position of the question in its conversation: accuracy},
    "samples": a few (skill, conversation, expected, got) per skill}.
    """
    if len(examples) != len(replies):
        raise ValueError(f"{len(replies)} replies for {len(examples)} examples")
    right, total, by_turn = defaultdict(int), defaultdict(int), defaultdict(list)
    shown = defaultdict(list)
    for example, got in zip(examples, replies):
        skill = example["skill"]
        correct = is_correct(example, got)
        right[skill] += correct
        total[skill] += 1
        by_turn[example.get("turn", 1)].append(correct)
        if len(shown[skill]) < samples:
            shown[skill].append({"skill": skill, "messages": prompt_messages(example),
                                 "expected": final_answer(example), "got": got, "correct": bool(correct)})
    return {
        "overall": sum(right.values()) / max(1, sum(total.values())),
        "per_skill": {skill: right[skill] / total[skill] for skill in sorted(total)},
        "counts": {skill: total[skill] for skill in sorted(total)},
        "per_turn": {turn: sum(hits) / len(hits) for turn, hits in sorted(by_turn.items())},
        "samples": [s for skill in sorted(shown) for s in shown[skill]],
    }


def write_report(report, out_dir):
    """Write report.json and a human-readable report.md (the report card) to `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2))
    (out_dir / "report.md").write_text(report_markdown(report))
    return out_dir / "report.md"


def _percent(x):
    return f"{100 * x:.1f}%"


MODELS = ("pretrained only", "chat-tuned, no pretraining", "pretrained + chat-tuned")


def report_markdown(report):
    """The report card: what was trained, how long each stage took, and how well each model answers
    what people type (later turns, real names, ordinary words, rephrasing) and what it read (knowledge)."""
    lines = [f"# MiniGPT report card: {report['name']}", ""]
    model, world = report["model"], report["world"]
    lines += [
        f"- **Model**: {model['parameters']:,} parameters ({model['n_layer']} layers, {model['n_head']} heads, "
        f"{model['n_embd']} dims, context {model['block_size']} tokens, {model.get('positions', 'learned')} "
        f"positions{', document mask' if model.get('document_mask') else ''}), {report['tokenizer']} tokenizer "
        f"with {model['vocab_size']} ids",
        f"- **Device**: {report['device']}",
        f"- **Data**: {report['data']}",
        f"- **World**: {world['people']} people ({world['people'] // 2} held out), {world['biographies']} "
        f"biographies each{', sentences shuffled' if world['shuffle'] else ''}: `world.json`",
        f"- **Steps**: pretraining {report['iterations']['pretrain']}, chat tuning {report['iterations']['sft']} "
        f"(the model without pretraining: the same {report['iterations']['baseline']})",
        "", "## Stages", "", "| stage | wall time |", "| --- | --- |"]
    lines += [f"| {stage} | {seconds:.0f} s |" for stage, seconds in report["stages"].items()]
    lines += [f"| **total** | **{sum(report['stages'].values()):.0f} s** |", "", "## Losses", "",
              "| model | data | loss | perplexity |", "| --- | --- | --- | --- |"]
    lines += [f"| {row['model']} | {row['data']} | {row['loss']:.3f} | {perplexity(row['loss']):.2f} |"
              for row in report["losses"]]
    models = [m for m in MODELS if m in report["models"]]
    sets = report["models"][models[-1]]["sets"]
    header = ["| | " + " | ".join(models) + " |", "| --- |" + " --- |" * len(models)]

    def cell(name, key=None, of=None):
        found = [report["models"][m]["sets"].get(name) for m in models]
        return " | ".join("-" if f is None else _percent(f[key][of] if key else f["overall"]) for f in found)

    lines += ["", "## Held-out questions, as people ask them", "",
              "Every question is held out: no operand pair, word, name, fact or person of these sets occurs in "
              "chat tuning.", ""] + header
    lines += [f"| {name} ({sum(sets[name]['counts'].values())}) | {cell(name)} |" for name in sets]
    lines += ["", f"## Skills at turn 1 and later ({models[-1]})", "", "| skill | turn 1 | turns 2-4 |",
              "| --- | --- | --- |"]
    later = sets.get("turns 2-4", sets["turn 1"])
    lines += [f"| {skill} | {_percent(sets['turn 1']['per_skill'][skill])} | "
              f"{_percent(later['per_skill'].get(skill, float('nan')))} |" for skill in sets["turn 1"]["per_skill"]]
    lines += ["", "By position of the question in the conversation (turns 2-4):", ""] + header
    lines += [f"| turn {turn} | {cell('turns 2-4', 'per_turn', turn)} |" for turn in later["per_turn"]]
    knowledge = report.get("knowledge", {})
    lines += ["", "## Knowledge: what it read in pretraining", "",
              "Questions about the world's held-out people, whose facts appear only in the biographies it was "
              "pretrained on (chat tuning asked only about the other half).", ""] + header
    if "knowledge" in sets:
        lines.append(f"| asked in the chat | {cell('knowledge')} |")
    if knowledge:
        lines.append("| completing a biography sentence (\"Suna Tavo comes from\") | "
                     + " | ".join(_percent(knowledge[m]) if m in knowledge else "-" for m in models) + " |")
    lines += ["", "![knowledge](knowledge.png)", "", "![loss curve](loss_curve.png)", "", "## Sample conversations", ""]
    for sample in report["samples"]:
        for message in sample["messages"]:
            lines.append(f"> **{message['role']}**: {message['content']}  ")
        mark = "✓" if sample["correct"] else f"✗ (expected: {sample['expected']})"
        lines += [f"> **assistant**: {sample['got']} {mark}", ""]
    return "\n".join(lines) + "\n"


def plot_models(report, path):
    """Bars: each model's held-out exact match per set, knowledge last (the gap pretraining makes)."""
    models = [m for m in MODELS if m in report["models"]]
    names = list(report["models"][models[-1]]["sets"])
    fig = Figure(figsize=(9, 3.6))
    ax = fig.subplots()
    width = 0.8 / len(models)
    for i, model in enumerate(models):
        sets = report["models"][model]["sets"]
        values = [100 * sets[n]["overall"] if n in sets else np.nan for n in names]
        ax.bar(np.arange(len(names)) + (i - (len(models) - 1) / 2) * width, values, width, label=model)
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right")
    ax.set(ylabel="held-out exact match (%)", ylim=(0, 100), title="Three models on the same held-out questions")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def completions(model, tokenizer, people, generator=None):
    """Share of the people's facts a model completes right from the start of a biography sentence
    ("Suna Tavo comes from " -> "Lima"): what the weights hold, asked the way it was read."""
    generator = generator or Generator(model)
    cases = [prompt_of(person, attribute) for person in people for attribute in ATTRIBUTES]
    prompts = [[tokenizer.bos_id] + tokenizer.encode(prefix) for prefix, _ in cases]
    new = generator.greedy_batch(prompts, [len(tokenizer.encode(value)) for _, value in cases], batch_size=ROWS)
    return sum(tokenizer.decode(ids) == value for ids, (_, value) in zip(new, cases)) / max(1, len(cases))
