"""TinyChat: synthetic conversations with exact answers and a held-out split.

A chat model of a few million parameters, tuned for minutes on a laptop CPU,
cannot hold a real conversation, but it can learn small skills well enough to
answer questions it has never seen. TinyChat makes that measurable: every
conversation ends in an assistant answer that is exactly right or wrong.

Skills (one example each):

    add        What is 47 plus 5?                      -> 7 + 5 = 12, 4 + 1 = 5, so the answer is 52.
    subtract   Subtract 4 from 19.                     -> 9 - 4 = 5, 1 - 0 = 1, so the answer is 15.
    compare    Which is bigger, 42 or 17?              -> 42
    reverse    Write tavo backwards.                   -> ovat
    spell      How do you spell tavo?                  -> t-a-v-o
    count      How many letters are in mirek?          -> 5
    upper      Write tavo in capital letters.          -> TAVO
    memory     My name is Suna. / OK, I will remember that. / What is my name?
                                                       -> Your name is Suna.
    greet      Hi, I am Suna.                          -> Hello, Suna! How can I help?
    identity   I am Suna. Who are you?                 -> Nice to meet you, Suna. I am MiniGPT.

Designed to be learnable: sums and differences of a number 0..99 and a digit
0..9 (never negative), so that the digit facts (7 + 5 = 12) recur under every
tens digit and a held-out pair can be worked out from facts seen in training,
worked out digit by digit, ones first (see `worked_sum`); comparisons of two
different numbers 0..99; words and names are made up (3-5 letters, so they
must be read, not recalled: see `made_up_words`; a name is a capitalised word);
every answer follows a fixed template of its skill (subtraction has two: with
and without a borrow); everything is ASCII, and every conversation renders to fewer than 128 tokens
with a character tokenizer (under 100 for most). The training split asks two
add, two subtract and three compare questions for every one of the others: they
are the slowest skills to learn (docs/performance.md); the test split asks every
skill equally often.

The split. Each example is built from a *content key*: the operands (a, b) of
add and subtract, (a, b, "bigger"/"smaller") of compare, the word of the four
word skills, the (fact, value) pair of memory, and the user's name of greet and
identity. A hash of (skill, key) sends about 10% of each skill's keys to the
test split and the rest to train, for every seed. The question templates are
shared: a test question is phrased the way training questions are, but asks
about operands, a word, a fact or a name that skill never saw in training, so
no (question, answer) pair of the test split occurs in train. (For add, a
swapped pair of digits may be in train: 5 + 3 can teach 3 + 5.)

Examples are {"messages": [{"role", "content"}, ...], "skill": name}, the
common chat form; any JSONL of that form works with `read_conversations`.
"""

import hashlib
import itertools
import random
import re
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Callable, NamedTuple

from minigpt.chat import check_messages
from minigpt.data import read_jsonl, write_jsonl

SPLITS = ("train", "test")
TEST_PERCENT = 10

NUMBERS, DIGITS = range(100), range(10)  # add and subtract: a number and a digit
COMPARE_NUMBERS = range(100)

QUESTIONS = {
    "add": ("What is {a} plus {b}?", "What is {a} + {b}?", "How much is {a} plus {b}?", "Add {a} and {b}.",
            "Compute {a} + {b}.", "{a} + {b} = ?", "What is the sum of {a} and {b}?"),
    "subtract": ("What is {a} minus {b}?", "What is {a} - {b}?", "How much is {a} minus {b}?",
                 "Subtract {b} from {a}.", "Compute {a} - {b}.", "{a} - {b} = ?", "What is {a} take away {b}?"),
    "compare": ("Which is {op}, {a} or {b}?", "Which number is {op}: {a} or {b}?", "Of {a} and {b}, which is {op}?",
                "{a} or {b}, which one is {op}?", "Tell me which is {op}: {a} or {b}."),
    "reverse": ("Reverse the word {word}.", "Write {word} backwards.", "What is {word} spelled backwards?",
                "Say {word} in reverse.", "Reverse {word}."),
    "spell": ("Spell the word {word}.", "Spell {word}.", "How do you spell {word}?", "Spell {word} letter by letter.",
              "Can you spell {word}?"),
    "count": ("How many letters are in {word}?", "How many letters does {word} have?", "Count the letters in {word}.",
              "How long is the word {word}?", "What is the length of {word}?"),
    "upper": ("Write {word} in capital letters.", "Make {word} uppercase.", "Say {word} in upper case.",
              "Uppercase the word {word}.", "Write {word} in caps."),
    "greet": ("Hi, I am {name}.", "Hello! I'm {name}.", "Hey, {name} here.", "Good morning! I am {name}.",
              "Hi there, I'm {name}."),
    "identity": ("I am {name}. Who are you?", "Hi, I'm {name}. What is your name?", "Hello, I am {name}. What are you?",
                 "{name} here. Who am I talking to?", "I'm {name}. And you are?"),
}


class Fact(NamedTuple):
    values: tuple
    statements: tuple[str, ...]
    questions: tuple[str, ...]
    answer: str


FACT_TEMPLATES = {  # kind: (statements, questions, answer)
    "name": (("My name is {}.", "Call me {}.", "Please call me {}."),
             ("What is my name?", "What's my name?", "Do you remember my name?", "Tell me my name."),
             "Your name is {}."),
    "color": (("My favourite color is {}.", "I love the color {}.", "I like {} best."),
              ("What is my favourite color?", "Which color do I like best?", "Do you remember my color?"),
              "Your favourite color is {}."),
    "pet": (("I have a pet {}.", "My pet is a {}."),
            ("What pet do I have?", "What is my pet?", "Which animal is my pet?"),
            "Your pet is a {}."),
    "city": (("I live in {}.", "My home is in {}.", "I am from {}."),
             ("Where do I live?", "Which city do I live in?", "Where is my home?"),
             "You live in {}."),
    "number": (("My lucky number is {}.", "{} is my lucky number."),
               ("What is my lucky number?", "Do you remember my lucky number?"),
               "Your lucky number is {}."),
}
FACT_VALUES = {
    "color": ("red", "blue", "green", "yellow", "pink", "purple", "orange", "black", "white", "brown", "gray",
              "gold", "silver"),
    "pet": ("cat", "dog", "fish", "bird", "horse", "rabbit", "turtle", "hamster", "snake", "frog", "mouse",
            "parrot", "pony", "duck", "goat"),
    "city": ("Paris", "London", "Tokyo", "Rome", "Berlin", "Madrid", "Cairo", "Lima", "Oslo", "Delhi", "Seoul",
             "Sydney", "Toronto", "Dublin", "Vienna", "Boston"),
    "number": tuple(range(100)),
}
ACKNOWLEDGE = "OK, I will remember that."

CONSONANTS, VOWELS = "bdfgklmnprstvz", "aeiou"


def made_up_words(avoid=frozenset()) -> tuple[str, ...]:
    """Every pronounceable made-up word of 3-5 letters (consonant, vowel, consonant, ...), except `avoid`.

    Why made up: with real words and names, a small model learns to answer from
    memory (it recalls "c-a-t" for cat, or a familiar name that starts with the
    right letter). Words it has never seen can only be answered by reading them
    letter by letter, which is the skill the held-out split measures. Why all of
    them (about 74,000): a training set of 26,000 conversations then hardly
    repeats a word, so remembering words never pays and reading is learned sooner.
    """
    patterns = ([VOWELS if i % 2 else CONSONANTS for i in range(length)] for length in (3, 4, 5))
    return tuple(word for pattern in patterns for word in map("".join, itertools.product(*pattern))
                 if word not in avoid)


# Made-up words never coincide with a word of the templates or a fact's value,
# so every question mentions exactly one of them.
_TEXTS = [*(q for questions in QUESTIONS.values() for q in questions),
          *(s for statements, questions, answer in FACT_TEMPLATES.values() for s in (*statements, *questions, answer)),
          *(str(v) for values in FACT_VALUES.values() for v in values), ACKNOWLEDGE]
_TAKEN = frozenset(w.lower() for text in _TEXTS for w in re.findall(r"[A-Za-z]+", text))
WORDS = made_up_words(_TAKEN)  # the word skills' words
NAMES = tuple(word.capitalize() for word in WORDS)  # greet and identity; memory uses every 64th
MEMORY_NAMES = NAMES[::64]  # about 1,200, so that the other facts keep a fair share of memory questions

FACTS = {kind: Fact(MEMORY_NAMES if kind == "name" else FACT_VALUES[kind], *templates)
         for kind, templates in FACT_TEMPLATES.items()}


def _message(role, content):
    return {"role": role, "content": content}


@dataclass(frozen=True)
class Skill:
    """A one-turn skill: a question and its exact answer, both made from a content key."""

    fields: tuple[str, ...]  # names of the key's parts, as the templates use them
    keys: tuple[tuple, ...]  # every content key; each goes to train or to test as a whole
    questions: tuple[str, ...]  # phrasings, all used in both splits
    answer: Callable[..., str]

    def conversation(self, key, rng) -> list[dict]:
        values = dict(zip(self.fields, key))
        question = rng.choice(self.questions).format(**values)
        return [_message("user", question), _message("assistant", self.answer(**values))]


class Memory:
    """The multi-turn skill: the user states a fact, then asks for it back."""

    keys = tuple((kind, value) for kind, fact in FACTS.items() for value in fact.values)

    def conversation(self, key, rng) -> list[dict]:
        kind, value = key
        fact = FACTS[kind]
        return [
            _message("user", rng.choice(fact.statements).format(value)),
            _message("assistant", ACKNOWLEDGE),
            _message("user", rng.choice(fact.questions)),
            _message("assistant", fact.answer.format(value)),
        ]


def _word_skill(skill, answer):
    return Skill(("word",), tuple((w,) for w in WORDS), QUESTIONS[skill], answer)


def _name_skill(skill, answer):
    return Skill(("name",), tuple((n,) for n in NAMES), QUESTIONS[skill], lambda name: answer.format(name=name))


def worked_sum(a, b):
    """a + b worked out the way it is taught: ones first, then tens with the carry.

    Why: a small model cannot write the 5 of 47 + 5 = 52 in one step, because that
    digit depends on three digits of the question at once (4, 7 and 5). Worked out,
    every digit of the answer is a copy, or a one-digit fact about the two digits
    written just before it, which a two-layer model learns in minutes; the final
    number then copies what was worked out. This is chain-of-thought in miniature.
    Exact match scores the whole reply, steps included.
    """
    tens, ones = divmod(a, 10)
    carry = (ones + b) // 10
    return f"{ones} + {b} = {ones + b}, {tens} + {carry} = {tens + carry}, so the answer is {a + b}."


def worked_difference(a, b):
    """a - b (a >= b) worked out like `worked_sum`: the ones, borrowing a ten when needed, then the tens."""
    tens, ones = divmod(a, 10)
    if ones >= b:
        return f"{ones} - {b} = {ones - b}, {tens} - 0 = {tens}, so the answer is {a - b}."
    return (f"{ones} - {b} needs a borrow: 1{ones} - {b} = {10 + ones - b}, {tens} - 1 = {tens - 1}, "
            f"so the answer is {a - b}.")


_SKILLS = {
    "add": Skill(("a", "b"), tuple((a, b) for a in NUMBERS for b in DIGITS), QUESTIONS["add"], worked_sum),
    "subtract": Skill(("a", "b"), tuple((a, b) for a in NUMBERS for b in DIGITS if a >= b), QUESTIONS["subtract"],
                      worked_difference),
    "compare": Skill(
        ("a", "b", "op"),
        tuple((a, b, op) for a in COMPARE_NUMBERS for b in COMPARE_NUMBERS if a != b for op in ("bigger", "smaller")),
        QUESTIONS["compare"], lambda a, b, op: str(max(a, b) if op == "bigger" else min(a, b))),
    "reverse": _word_skill("reverse", lambda word: word[::-1]),
    "spell": _word_skill("spell", lambda word: "-".join(word)),
    "count": _word_skill("count", lambda word: str(len(word))),
    "upper": _word_skill("upper", lambda word: word.upper()),
    "memory": Memory(),
    "greet": _name_skill("greet", "Hello, {name}! How can I help?"),
    "identity": _name_skill("identity", "Nice to meet you, {name}. I am MiniGPT."),
}
SKILLS = tuple(_SKILLS)
# Questions per round of the training split; the test split asks each skill once per round.
# Comparisons are learned last, and only with the most practice (docs/performance.md).
TRAIN_SHARES = {skill: {"add": 2, "subtract": 2, "compare": 3}.get(skill, 1) for skill in SKILLS}


def split_of(skill: str, key: tuple) -> str:
    """"train" or "test": a fixed hash of (skill, key), independent of any seed."""
    digest = hashlib.sha256(f"{skill}:{key!r}".encode()).hexdigest()
    return "test" if int(digest[:8], 16) % 100 < TEST_PERCENT else "train"


@cache
def _split_keys(skill: str, split: str) -> tuple:
    return tuple(key for key in _SKILLS[skill].keys if split_of(skill, key) == split)


def _draw(rng, keys, k) -> list:
    """k keys in shuffled rounds: every key is used once before any is used again."""
    drawn = []
    while len(drawn) < k:
        drawn += rng.sample(keys, len(keys))
    return drawn[:k]


def generate_examples(split: str, n: int, seed: int = 0) -> list[dict]:
    """n examples of `split`, the skills in turn (in TRAIN_SHARES for train, equal shares
    for test); the same (split, n, seed) always gives the same list."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(map(repr, SPLITS))}, got {split!r}")
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    rng = random.Random(f"tinychat:{split}:{seed}")
    shares = TRAIN_SHARES if split == "train" else dict.fromkeys(SKILLS, 1)
    one_round = [skill for skill in SKILLS for _ in range(shares[skill])]
    order = [one_round[i % len(one_round)] for i in range(n)]
    counts = Counter(order)
    keys = {skill: iter(_draw(rng, _split_keys(skill, split), counts[skill])) for skill in SKILLS}
    return [{"messages": _SKILLS[skill].conversation(next(keys[skill]), rng), "skill": skill} for skill in order]


# --- Files ------------------------------------------------------------------------


def read_conversations(path) -> list[dict]:
    """Conversations from a chat JSONL file (one {"messages": [...]} per line), checked."""
    def problem(row):
        try:
            check_messages(row.get("messages"))
        except ValueError as e:
            return f'not a {{"messages": [...]}} conversation: {e}'
        return None

    return read_jsonl(path, problem)


def make_tinychat(out_dir, n_train=26000, n_test=500, seed=0) -> tuple[Path, Path]:
    """Write out_dir/train.jsonl and out_dir/test.jsonl."""
    out_dir = Path(out_dir)
    return (write_jsonl(generate_examples("train", n_train, seed), out_dir / "train.jsonl"),
            write_jsonl(generate_examples("test", n_test, seed), out_dir / "test.jsonl"))


# --- Scoring -----------------------------------------------------------------------


def final_answer(example) -> str:
    """The last assistant message: the answer that exact match compares."""
    messages = example["messages"]
    if not messages or messages[-1]["role"] != "assistant":
        raise ValueError("the example does not end with an assistant message, so it has no answer to score")
    return messages[-1]["content"]


def prompt_messages(example) -> list[dict]:
    """Every message before the final answer: what the model is given to answer."""
    final_answer(example)  # refuses an example that has no final answer
    return example["messages"][:-1]


def is_correct(example, generated: str) -> bool:
    """Exact match, ignoring whitespace around the generated answer."""
    return generated.strip() == final_answer(example).strip()
