"""TinyChat: synthetic conversations with exact answers and a held-out split.

A chat model of a few million parameters, tuned for minutes on a laptop CPU,
cannot hold a real conversation, but it can learn small skills well enough to
answer questions it has never seen. TinyChat makes that measurable: every
conversation ends in an assistant answer that is exactly right or wrong.

Skills (one example each):

    add        What is 7 plus 5?                       -> 12
    subtract   Subtract 4 from 19.                     -> 15
    compare    Which is bigger, 42 or 17?              -> 42
    reverse    Write cat backwards.                    -> tac
    spell      How do you spell cat?                   -> c-a-t
    count      How many letters are in house?          -> 5
    upper      Write cat in capital letters.           -> CAT
    memory     My name is Ana. / OK, I will remember that. / What is my name?
                                                       -> Your name is Ana.
    greet      Hi, I am Ana.                           -> Hello, Ana! How can I help?
    identity   I am Ana. Who are you?                  -> Nice to meet you, Ana. I am MiniGPT.

Designed to be learnable: operands are small (sums and differences of 0..20,
never negative; comparisons of two different numbers 0..99), words are 3-5
lowercase letters from the built-in WORDS, every answer follows one fixed
template per skill, everything is ASCII, and every conversation renders to
fewer than 128 tokens with a character tokenizer (under 100 for most).

The split. Each example is built from a *content key*: the operands (a, b) of
add and subtract, (a, b, "bigger"/"smaller") of compare, the word of the four
word skills, the (fact, value) pair of memory, and the user's name of greet and
identity. A hash of (skill, key) sends about 10% of each skill's keys to the
test split and the rest to train, for every seed. The question templates are
shared: a test question is phrased the way training questions are, but asks
about operands, a word, a fact or a name that skill never saw in training, so
no (question, answer) pair of the test split occurs in train. (For add, the
swapped pair may be in train: 5 + 3 can teach 3 + 5.)

Examples are {"messages": [{"role", "content"}, ...], "skill": name}, the
common chat form; any JSONL of that form works with `read_jsonl`.
"""

import hashlib
import json
import random
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Callable, NamedTuple

from minigpt.chat import check_messages

SPLITS = ("train", "test")
TEST_PERCENT = 10

WORDS = tuple("""
    ant apple arm baby bag ball band bank bark bath bean bear bed bee bell belt bike bird boat
    body bone book boot bowl box boy bread brick bus cake calm camp card cart cat chair chalk
    cheek chess child chin city clay clock cloud coat coin cold cook corn cow crab crow cup dark
    deer desk dish dog doll door dove dream dress drum duck dust ear earth egg farm fern field
    fig film fire fish flag floor flute fly foam fog food foot fork fox frog fruit game gate
    gift girl glass glove goat grape grass hand hat heart hill home honey horse hour house ice
    ink iron jam jar jelly juice key king kite lake lamp leaf lemon lion lip lunch map maple
    milk mint moon moth mouse mud music nail nest net night nose nut oak ocean olive owl paint
    pan paper park pea peach pear pen piano pig pine plant plate plum pond pot queen quiz rain
    river road robot rock roof room rope rose salt sand scarf sea seed sheep shell ship shirt
    shoe sky smile snow sock song soup spoon star stone storm sugar sun swan table tea teeth
    tent tiger toast toe tooth town toy train tree truck van vase wall water whale wheel wind
    wing wolf wood wool yard zebra zoo
""".split())

NAMES = tuple("""
    Ada Adam Alex Ali Amir Ana Anna Ben Bob Carl Chen Chloe Dan Dara Dave Eli Ella Emma Eva Ezra
    Finn Gia Gus Hana Hugo Ian Ida Ines Ivan Jack Jade Jane Jin Joe Jon Juan Kai Kate Kim Kofi
    Lars Lea Leo Lily Lina Liam Lou Luca Lucy Maya Max Mia Mila Nia Nick Nina Noah Nora Olga
    Omar Otto Paul Pia Raj Ravi Rosa Ruby Ryan Sam Sara Sean Sofia Tara Ted Tia Tom Uma Vera Wei
    Wes Yara Yuki Zara Zoe Amy Ari Bea Cleo Dina Ema Fay Gil Hal Ike Ivy Jay Kurt Lev Mo Ned
    Oli Pat
""".split())

NUMBERS = range(21)  # operands of add and subtract
COMPARE_NUMBERS = range(100)


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


class Fact(NamedTuple):
    values: tuple
    statements: tuple[str, ...]
    questions: tuple[str, ...]
    answer: str


FACTS = {
    "name": Fact(NAMES, ("My name is {}.", "Call me {}.", "Please call me {}."),
                 ("What is my name?", "What's my name?", "Do you remember my name?", "Tell me my name."),
                 "Your name is {}."),
    "color": Fact(("red", "blue", "green", "yellow", "pink", "purple", "orange", "black", "white", "brown",
                   "gray", "gold", "silver"),
                  ("My favourite color is {}.", "I love the color {}.", "I like {} best."),
                  ("What is my favourite color?", "Which color do I like best?", "Do you remember my color?"),
                  "Your favourite color is {}."),
    "pet": Fact(("cat", "dog", "fish", "bird", "horse", "rabbit", "turtle", "hamster", "snake", "frog",
                 "mouse", "parrot", "pony", "duck", "goat"),
                ("I have a pet {}.", "My pet is a {}."),
                ("What pet do I have?", "What is my pet?", "Which animal is my pet?"),
                "Your pet is a {}."),
    "city": Fact(("Paris", "London", "Tokyo", "Rome", "Berlin", "Madrid", "Cairo", "Lima", "Oslo", "Delhi",
                  "Seoul", "Sydney", "Toronto", "Dublin", "Vienna", "Boston"),
                 ("I live in {}.", "My home is in {}.", "I am from {}."),
                 ("Where do I live?", "Which city do I live in?", "Where is my home?"),
                 "You live in {}."),
    "number": Fact(tuple(range(100)), ("My lucky number is {}.", "{} is my lucky number."),
                   ("What is my lucky number?", "Do you remember my lucky number?"),
                   "Your lucky number is {}."),
}
ACKNOWLEDGE = "OK, I will remember that."


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


def _word_skill(questions, answer):
    return Skill(("word",), tuple((w,) for w in WORDS), questions, answer)


def _name_skill(questions, answer):
    return Skill(("name",), tuple((n,) for n in NAMES), questions, lambda name: answer.format(name=name))


_SKILLS = {
    "add": Skill(
        ("a", "b"), tuple((a, b) for a in NUMBERS for b in NUMBERS),
        ("What is {a} plus {b}?", "What is {a} + {b}?", "How much is {a} plus {b}?", "Add {a} and {b}.",
         "Compute {a} + {b}.", "{a} + {b} = ?", "What is the sum of {a} and {b}?"),
        lambda a, b: str(a + b)),
    "subtract": Skill(
        ("a", "b"), tuple((a, b) for a in NUMBERS for b in NUMBERS if a >= b),
        ("What is {a} minus {b}?", "What is {a} - {b}?", "How much is {a} minus {b}?", "Subtract {b} from {a}.",
         "Compute {a} - {b}.", "{a} - {b} = ?", "What is {a} take away {b}?"),
        lambda a, b: str(a - b)),
    "compare": Skill(
        ("a", "b", "op"),
        tuple((a, b, op) for a in COMPARE_NUMBERS for b in COMPARE_NUMBERS if a != b for op in ("bigger", "smaller")),
        ("Which is {op}, {a} or {b}?", "Which number is {op}: {a} or {b}?", "Of {a} and {b}, which is {op}?",
         "{a} or {b}, which one is {op}?", "Tell me which is {op}: {a} or {b}."),
        lambda a, b, op: str(max(a, b) if op == "bigger" else min(a, b))),
    "reverse": _word_skill(
        ("Reverse the word {word}.", "Write {word} backwards.", "What is {word} spelled backwards?",
         "Say {word} in reverse.", "Reverse {word}."),
        lambda word: word[::-1]),
    "spell": _word_skill(
        ("Spell the word {word}.", "Spell {word}.", "How do you spell {word}?", "Spell {word} letter by letter.",
         "Can you spell {word}?"),
        lambda word: "-".join(word)),
    "count": _word_skill(
        ("How many letters are in {word}?", "How many letters does {word} have?", "Count the letters in {word}.",
         "How long is the word {word}?", "What is the length of {word}?"),
        lambda word: str(len(word))),
    "upper": _word_skill(
        ("Write {word} in capital letters.", "Make {word} uppercase.", "Say {word} in upper case.",
         "Uppercase the word {word}.", "Write {word} in caps."),
        lambda word: word.upper()),
    "memory": Memory(),
    "greet": _name_skill(
        ("Hi, I am {name}.", "Hello! I'm {name}.", "Hey, {name} here.", "Good morning! I am {name}.",
         "Hi there, I'm {name}."),
        "Hello, {name}! How can I help?"),
    "identity": _name_skill(
        ("I am {name}. Who are you?", "Hi, I'm {name}. What is your name?", "Hello, I am {name}. What are you?",
         "{name} here. Who am I talking to?", "I'm {name}. And you are?"),
        "Nice to meet you, {name}. I am MiniGPT."),
}
SKILLS = tuple(_SKILLS)


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
    """n examples of `split`, the skills in turn (equal shares); the same (split, n, seed)
    always gives the same list."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(map(repr, SPLITS))}, got {split!r}")
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    rng = random.Random(f"tinychat:{split}:{seed}")
    shares = [len(range(i, n, len(SKILLS))) for i in range(len(SKILLS))]
    keys = {skill: _draw(rng, _split_keys(skill, split), share) for skill, share in zip(SKILLS, shares)}
    examples = []
    for i in range(n):
        skill = SKILLS[i % len(SKILLS)]
        key = keys[skill][i // len(SKILLS)]
        examples.append({"messages": _SKILLS[skill].conversation(key, rng), "skill": skill})
    return examples


# --- Files ------------------------------------------------------------------------


def write_jsonl(examples, path) -> Path:
    """One JSON object per line; the folder is created if needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for example in examples:
            f.write(json.dumps(example) + "\n")
    return path


def read_jsonl(path) -> list[dict]:
    """Conversations from a chat JSONL file (one {"messages": [...]} per line), read
    with `datasets` like any other data set, as plain dicts."""
    import datasets

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"chat data file not found: {path}")
    bars_were_on = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        # A private cache folder: nothing is left behind in ~/.cache, nothing stale is reused.
        with tempfile.TemporaryDirectory() as cache_dir:
            rows = list(datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=cache_dir))
    except datasets.exceptions.DatasetGenerationError as e:
        raise ValueError(f"{path} is not a JSON-lines file: {e.__cause__ or e}") from None
    finally:
        if bars_were_on:
            datasets.enable_progress_bars()
    for i, row in enumerate(rows, start=1):
        try:
            check_messages(row.get("messages"))
        except ValueError as e:
            raise ValueError(f'{path}, line {i}: not a {{"messages": [...]}} conversation: {e}') from None
    return rows


def make_tinychat(out_dir, n_train=20000, n_test=500, seed=0) -> tuple[Path, Path]:
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
