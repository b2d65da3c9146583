"""Exact-match scoring: which replies count as right, per skill, whatever order the batches ran in."""

import pytest

import minigpt.evaluate as evaluate
from minigpt.tinychat import final_answer, generate_examples
from minigpt.tokenizer import CharTokenizer


class ScriptedGenerator:
    """Stands in for `Generator`: replies with a script keyed by the prompt, records what it was asked."""

    script = {}
    calls = []

    def __init__(self, model):
        pass

    def greedy_batch(self, prompts, max_new_tokens, stop_ids, batch_size, on_done):
        ScriptedGenerator.calls.append((len(prompts), list(max_new_tokens), stop_ids, batch_size))
        on_done(len(prompts))
        return [self.script[tuple(prompt)] for prompt in prompts]


@pytest.fixture
def scripted(monkeypatch):
    monkeypatch.setattr(evaluate, "Generator", ScriptedGenerator)
    ScriptedGenerator.calls = []
    return ScriptedGenerator


def test_exact_match_scores_each_reply_against_its_own_question(scripted):
    examples = generate_examples("test", 20, seed=3)  # two per skill
    tokenizer = CharTokenizer.train("".join(m["content"] for e in examples for m in e["messages"]))
    wrong = {0, 17, 18}  # skills take turns: these are the second examples of 7 and 8, the first of 0
    scripted.script = {}
    for i, example in enumerate(examples):
        reply = "nonsense" if i in wrong else f"  {final_answer(example)}"  # whitespace is forgiven
        prompt = evaluate.render_prompt(tokenizer, evaluate.prompt_messages(example))
        scripted.script[tuple(prompt)] = tokenizer.encode(reply)

    result = evaluate.exact_match(None, tokenizer, examples, progress=False, samples=1, batch_size=8)

    assert result["overall"] == pytest.approx(17 / 20)
    assert result["counts"] == {skill: 2 for skill in result["counts"]} and len(result["counts"]) == 10
    expected = {examples[i]["skill"] for i in wrong}
    assert {skill for skill, accuracy in result["per_skill"].items() if accuracy < 1} == expected
    # budgets: each answer's length plus one (room for the <|end|> that makes it exact)
    [(n, budgets, stop, size)] = scripted.calls
    assert n == 20 and budgets == [len(final_answer(e)) + 1 for e in examples]
    assert stop == (tokenizer.end_id,) and size == 8
    samples = result["samples"]  # one per skill: the first example of each
    assert len(samples) == 10 and all(s["correct"] == (s["got"].strip() == s["expected"]) for s in samples)
    assert [s["got"] for s in samples if not s["correct"]] == ["nonsense"]  # only example 0 is shown
