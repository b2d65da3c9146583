"""Tests for minigpt.tinychat: answers recomputed from the questions, a held-out split
that shares nothing with train, determinism, sizes, and the JSONL round trip."""

import json
import re
import string
from collections import Counter

import pytest

from minigpt.chat import render_conversation
from minigpt.data import DataError, write_jsonl
from minigpt.tinychat import (
    FACTS,
    MEMORY_NAMES,
    NAMES,
    SKILLS,
    WORDS,
    final_answer,
    generate_examples,
    is_correct,
    made_up_words,
    make_tinychat,
    prompt_messages,
    read_conversations,
    split_of,
    worked_difference,
    worked_sum,
)
from minigpt.tokenizer import CharTokenizer

FACT_QUESTIONS = {"name": "name", "color": "color", "pet": "pet", "city": "live|home", "number": "number"}
FACT_ANSWERS = {"name": "Your name is {}.", "color": "Your favourite color is {}.", "pet": "Your pet is a {}.",
                "city": "You live in {}.", "number": "Your lucky number is {}."}
WORD_SET, NAME_SET = set(WORDS), set(NAMES)
VALUES = WORD_SET | NAME_SET | {str(v) for fact in FACTS.values() for v in fact.values}


@pytest.fixture(scope="module")
def train():
    return generate_examples("train", 26000)  # as many as the speedrun


@pytest.fixture(scope="module")
def test():
    return generate_examples("test", 1000)


def worked(a, b, ones, sign):
    """The worked answer to a + b or a - b, from the sum or difference of the ones digits."""
    tens, borrow = a // 10, ""
    if ones >= 10:  # carry a ten
        tens_step = f"{tens} + 1 = {tens + 1}"
    elif ones < 0:  # borrow a ten
        borrow, ones = f" needs a borrow: 1{a % 10} - {b}", ones + 10
        tens_step = f"{tens} - 1 = {tens - 1}"
    else:
        tens_step = f"{tens} {sign} 0 = {tens}"
    answer = a + b if sign == "+" else a - b
    return f"{a % 10} {sign} {b}{borrow} = {ones}, {tens_step}, so the answer is {answer}."


def solve(example):
    """(content key, expected answer), worked out from the user's text alone."""
    skill, messages = example["skill"], example["messages"]
    question = messages[0]["content"]
    numbers = [int(x) for x in re.findall(r"\d+", question)]
    tokens = re.findall(r"[A-Za-z]+", question)
    words = [w for w in tokens if w in WORD_SET]
    names = [w for w in tokens if w in NAME_SET]
    if skill == "add":
        a, b = numbers
        return (a, b), worked(a, b, a % 10 + b, "+")
    if skill == "subtract":  # "Subtract b from a" names b first; a >= b always
        a, b = max(numbers), min(numbers)
        return (a, b), worked(a, b, a % 10 - b, "-")
    if skill == "compare":
        op = "smaller" if "smaller" in question else "bigger"
        return (*numbers, op), str(min(numbers) if op == "smaller" else max(numbers))
    if skill in ("reverse", "spell", "count", "upper"):
        (word,) = words
        return (word,), {"reverse": word[::-1], "spell": "-".join(word), "count": str(len(word)),
                         "upper": word.upper()}[skill]
    if skill == "memory":
        assert messages[1]["content"] == "OK, I will remember that."
        asked = messages[2]["content"]
        (kind,) = [k for k, pattern in FACT_QUESTIONS.items() if re.search(pattern, asked)]
        (value,) = [v for v in FACTS[kind].values if re.search(rf"\b{v}\b", question)]
        assert str(value) not in asked  # the answer must come from the earlier turn
        return (kind, value), FACT_ANSWERS[kind].format(value)
    (name,) = names
    if skill == "greet":
        return (name,), f"Hello, {name}! How can I help?"
    assert skill == "identity"
    return (name,), f"Nice to meet you, {name}. I am MiniGPT."


def shape(example):
    """The phrasing of the user's turns, with numbers and words/names/values blanked out."""
    text = " | ".join(m["content"] for m in prompt_messages(example) if m["role"] == "user")
    return re.sub(r"[A-Za-z0-9]+", lambda m: "_" if m.group() in VALUES else m.group(), text)


def test_answers_are_right(train, test):
    for example in test + train[:3000]:
        key, answer = solve(example)
        assert final_answer(example) == answer, example


@pytest.mark.parametrize("a, b, sign, reply", [
    (47, 5, "+", "7 + 5 = 12, 4 + 1 = 5, so the answer is 52."),
    (43, 5, "+", "3 + 5 = 8, 4 + 0 = 4, so the answer is 48."),
    (97, 5, "+", "7 + 5 = 12, 9 + 1 = 10, so the answer is 102."),
    (8, 0, "+", "8 + 0 = 8, 0 + 0 = 0, so the answer is 8."),
    (19, 4, "-", "9 - 4 = 5, 1 - 0 = 1, so the answer is 15."),
    (52, 7, "-", "2 - 7 needs a borrow: 12 - 7 = 5, 5 - 1 = 4, so the answer is 45."),
    (10, 9, "-", "0 - 9 needs a borrow: 10 - 9 = 1, 1 - 1 = 0, so the answer is 1."),
    (9, 9, "-", "9 - 9 = 0, 0 - 0 = 0, so the answer is 0."),
])
def test_worked_answers(a, b, sign, reply):
    assert (worked_sum if sign == "+" else worked_difference)(a, b) == reply


@pytest.mark.slow
def test_split_is_held_out(train, test):
    """No (prompt, answer) pair and no content key of the test split occurs in train."""
    def pairs(examples):
        return {(json.dumps(prompt_messages(e)), final_answer(e)) for e in examples}

    def keys(examples):
        return {(e["skill"], solve(e)[0]) for e in examples}

    assert not pairs(train) & pairs(test)
    assert not keys(train) & keys(test)
    assert {split_of(*k) for k in keys(train)} == {"train"} and {split_of(*k) for k in keys(test)} == {"test"}
    # ...yet every test question is phrased like some training question.
    assert {shape(e) for e in test} <= {shape(e) for e in train}


def test_test_split_asks_every_skill_equally_and_train_favours_the_slow_ones(train, test):
    assert Counter(e["skill"] for e in test) == {skill: 100 for skill in SKILLS}
    assert [e["skill"] for e in test[:len(SKILLS)]] == list(SKILLS)
    # 100 rounds of 14 questions: add and subtract twice each, compare three times
    slow = {"add": 200, "subtract": 200, "compare": 300}
    assert Counter(e["skill"] for e in generate_examples("train", 1400)) == {s: slow.get(s, 100) for s in SKILLS}
    for skill in SKILLS:  # keys are used in rounds: none twice before all once
        uses = Counter(solve(e)[0] for e in test if e["skill"] == skill).values()
        assert max(uses) - min(uses) <= 1


def test_conversations_are_short_and_ascii(train, test):
    tokenizer = CharTokenizer.train(string.printable)
    lengths = [len(render_conversation(tokenizer, e["messages"])[0]) for e in train + test]
    assert max(lengths) < 128  # fits a block of 128 (the promise is < 200)
    assert sum(n < 100 for n in lengths) > 0.9 * len(lengths)
    assert all(m["content"].isascii() for e in train + test for m in e["messages"])


def test_deterministic():
    first = generate_examples("train", 300, seed=1)
    assert first == generate_examples("train", 300, seed=1)
    assert first != generate_examples("train", 300, seed=2)
    assert generate_examples("test", 50, seed=1) == generate_examples("test", 50, seed=1)


@pytest.mark.parametrize("split, n, error", [
    ("valid", 10, "split must be one of 'train', 'test'"),
    ("train", 0, "positive integer"),
    ("train", -5, "positive integer"),
    ("train", 2.5, "positive integer"),
    ("test", True, "positive integer"),
])
def test_bad_arguments(split, n, error):
    with pytest.raises(ValueError, match=error):
        generate_examples(split, n)


def test_scoring_helpers():
    example = {"messages": [{"role": "user", "content": "My name is Ana."},
                            {"role": "assistant", "content": "OK, I will remember that."},
                            {"role": "user", "content": "What is my name?"},
                            {"role": "assistant", "content": "Your name is Ana."}], "skill": "memory"}
    assert final_answer(example) == "Your name is Ana."
    assert prompt_messages(example) == example["messages"][:3]
    assert is_correct(example, "  Your name is Ana.\n")
    assert not is_correct(example, "Your name is Ana")
    assert not is_correct(example, "your name is ana.")
    with pytest.raises(ValueError, match="does not end with an assistant message"):
        final_answer({"messages": example["messages"][:3]})


def test_jsonl_round_trip(tmp_path):
    train_path, test_path = make_tinychat(tmp_path / "tinychat", n_train=40, n_test=20, seed=3)
    assert (train_path.name, test_path.name) == ("train.jsonl", "test.jsonl")
    assert read_conversations(train_path) == generate_examples("train", 40, seed=3)
    assert read_conversations(test_path) == generate_examples("test", 20, seed=3)
    assert len(test_path.read_text().splitlines()) == 20
    chat = [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}]
    assert read_conversations(write_jsonl(chat, tmp_path / "other.jsonl")) == chat  # any chat data, no "skill" needed


@pytest.mark.parametrize("text, error", [
    ("not json\n", "line 1: not valid JSON"),
    ('{"text": "hi"}\n', "line 1: not a"),
    ('{"messages": [{"role": "user", "content": "a"}]}\n{"messages": [{"role": "bot", "content": "b"}]}\n',
     "line 2: .*unknown role 'bot'"),
])
def test_read_conversations_errors(tmp_path, text, error):
    path = tmp_path / "data.jsonl"
    path.write_text(text)
    with pytest.raises(DataError, match=error):
        read_conversations(path)
    with pytest.raises(DataError, match="not found"):
        read_conversations(tmp_path / "missing.jsonl")


def test_made_up_words_are_every_pronounceable_word_but_the_taken_ones():
    assert len(made_up_words()) == 14 * 5 * 14 + 14 * 5 * 14 * 5 + 14 * 5 * 14 * 5 * 14  # 3, 4 and 5 letters
    assert all(re.fullmatch(r"([bdfgklmnprstvz][aeiou])+[bdfgklmnprstvz]?", w) and 3 <= len(w) <= 5 for w in WORDS)
    assert made_up_words(avoid={"bab", "tavo"})[:2] == ("bad", "baf") and "tavo" not in made_up_words({"tavo"})
    assert not {"red", "pet", "lima"} & WORD_SET  # pronounceable, but in a template or a fact value
    assert set(MEMORY_NAMES) <= NAME_SET and NAMES[0] == WORDS[0].capitalize()


def test_training_words_hardly_repeat(train):
    """So that remembering a word never pays: reading it is the only way to answer."""
    for skill in ("reverse", "spell", "count", "upper", "greet", "identity"):
        keys = [solve(e)[0] for e in train if e["skill"] == skill]
        assert len(keys) > 1800 and len(set(keys)) == len(keys), skill
