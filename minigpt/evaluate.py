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
from tqdm.auto import tqdm

from minigpt.chat import render_prompt
from minigpt.checkpoint import load_checkpoint
from minigpt.generate import Generator
from minigpt.sft import ChatData
from minigpt.tinychat import final_answer, is_correct, prompt_messages
from minigpt.train import loss_function, mean_loss


def perplexity(loss):
    return math.exp(loss)


def evaluate_checkpoint(checkpoint, examples, progress=True, loss_batches=10, batch_size=16):
    """Exact match (overall, per skill, samples) and the loss on the answers, of one saved model.

    `examples` are held-out chat records ({"messages", "skill"}); the loss is
    the mean over `loss_batches` packed batches of them, counting the
    assistant's tokens only, as chat tuning does.
    """
    model, tokenizer, _ = load_checkpoint(checkpoint)
    accuracy = exact_match(model, tokenizer, examples, progress)
    chats = ChatData(tokenizer, [], [e["messages"] for e in examples])
    loss = mean_loss(ms.jit(loss_function(model)), chats, "val", batch_size, model.config.block_size,
                     loss_batches, seed=0)
    return {"accuracy": accuracy, "loss": loss}


def exact_match(model, tokenizer, examples, progress=True, samples=3, batch_size=32):
    """Accuracy over `examples` (TinyChat records), overall and per skill.

    A reply is right only if it is the expected answer followed by <|end|>, so
    generation stops one token after the expected answer's length: whatever
    comes later cannot make a wrong reply right. Questions are answered
    `batch_size` at a time (greedy decoding, as one at a time would give).

    Returns {"overall", "per_skill": {skill: accuracy}, "counts": {skill: n},
    "samples": a few (skill, conversation, expected, got) per skill}.
    """
    generator = Generator(model)
    prompts = [render_prompt(tokenizer, prompt_messages(e)) for e in examples]
    budgets = [len(tokenizer.encode(final_answer(e))) + 1 for e in examples]
    with tqdm(total=len(examples), desc="exact match", unit="q", disable=not progress, dynamic_ncols=True) as bar:
        new = generator.greedy_batch(prompts, budgets, stop_ids=(tokenizer.end_id,), batch_size=batch_size,
                                     on_done=bar.update)
    return score_replies(examples, [tokenizer.decode(ids) for ids in new], samples)


def score_replies(examples, replies, samples=3):
    """Exact match of one reply per example: the dict `exact_match` returns."""
    right, total = defaultdict(int), defaultdict(int)
    shown = defaultdict(list)
    for example, got in zip(examples, replies):
        skill = example["skill"]
        correct = is_correct(example, got)
        right[skill] += correct
        total[skill] += 1
        if len(shown[skill]) < samples:
            shown[skill].append({"skill": skill, "messages": prompt_messages(example),
                                 "expected": final_answer(example), "got": got, "correct": bool(correct)})
    return {
        "overall": sum(right.values()) / max(1, sum(total.values())),
        "per_skill": {skill: right[skill] / total[skill] for skill in sorted(total)},
        "counts": {skill: total[skill] for skill in sorted(total)},
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


def report_markdown(report):
    """The report card: what was trained, how long each stage took, and how well it answers."""
    lines = [f"# MiniGPT report card: {report['name']}", ""]
    model = report["model"]
    lines += [
        f"- **Model**: {model['parameters']:,} parameters ({model['n_layer']} layers, {model['n_head']} heads, "
        f"{model['n_embd']} dims, context {model['block_size']} tokens, {model.get('positions', 'learned')} "
        f"positions{', document mask' if model.get('document_mask') else ''}), {report['tokenizer']} tokenizer "
        f"with {model['vocab_size']} ids",
        f"- **Device**: {report['device']}",
        f"- **Data**: {report['data']}",
        "",
        "## Stages",
        "",
        "| stage | wall time |",
        "| --- | --- |",
    ]
    lines += [f"| {stage} | {seconds:.0f} s |" for stage, seconds in report["stages"].items()]
    lines += [f"| **total** | **{sum(report['stages'].values()):.0f} s** |", "", "## Losses", "",
              "| model | data | loss | perplexity |", "| --- | --- | --- | --- |"]
    lines += [f"| {row['model']} | {row['data']} | {row['loss']:.3f} | {perplexity(row['loss']):.2f} |"
              for row in report["losses"]]
    accuracy = report["accuracy"]
    models = list(accuracy)
    lines += ["", "## Held-out TinyChat exact match", "",
              "| skill | " + " | ".join(models) + " |", "| --- |" + " --- |" * len(models)]
    skills = accuracy[models[0]]["per_skill"]
    for skill in skills:
        n = accuracy[models[0]]["counts"][skill]
        lines.append(f"| {skill} ({n}) | " + " | ".join(_percent(accuracy[m]["per_skill"][skill]) for m in models) + " |")
    lines.append("| **overall** | " + " | ".join(f"**{_percent(accuracy[m]['overall'])}**" for m in models) + " |")
    lines += ["", "![loss curve](loss_curve.png)", "", "## Sample conversations", ""]
    for sample in report["samples"]:
        for message in sample["messages"]:
            lines.append(f"> **{message['role']}**: {message['content']}  ")
        mark = "✓" if sample["correct"] else f"✗ (expected: {sample['expected']})"
        lines += [f"> **assistant**: {sample['got']} {mark}", ""]
    return "\n".join(lines) + "\n"
