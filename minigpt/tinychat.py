"""TinyChat: synthetic conversations with exact answers and a held-out split.

A chat model of a few million parameters, tuned for minutes on a laptop CPU,
cannot hold a real conversation, but it can learn small skills well enough to
answer questions it has never seen. TinyChat makes that measurable: every
conversation ends in an assistant answer that is exactly right or wrong.

Skills (one example each):

    add        What is 47 plus 5?                      -> 7 + 5 = 12, 4 + 1 = 5, so the answer is 52.
    subtract   Subtract 4 from 19.                     -> 9 - 4 = 5, 1 - 0 = 1, so the answer is 15.
    compare    Which is bigger, 42 or 17?              -> 42
    reverse    Write banana backwards.                 -> ananab
    spell      How do you spell tavo?                  -> t-a-v-o
    count      How many letters are in mirek?          -> 5
    upper      Write tavo in capital letters.          -> TAVO
    memory     My name is Wei. / OK, I will remember that. / (other turns) / What is my name?
                                                       -> Your name is Wei.
    greet      Hi, I am Priya.                         -> Hello, Priya! How can I help?
    identity   I am Suna. Who are you?                 -> Nice to meet you, Suna. I am MiniGPT.
    knowledge  Where does Suna Tavo come from?         -> Suna Tavo comes from Lima.

A conversation holds one to four exchanges of any skills; the skill it is
kept for is its last exchange (memory's question may come one or two
exchanges after the fact).  The knowledge skill asks about the people of a
generated world (`minigpt.tinyworld`): only about the world's train half, whose
facts the model also read in pretraining.

What people type, not only the templates: words are real ones (Python's own
documentation and everyday words: banana, garden) and made-up ones (any
letters, 2-10 of them, so that they must be read, not recalled), names are real
ones (Li, Ahmed, Priya, Kenji) and made-up ones; user messages are now and then
lower-cased, stripped of their final punctuation or given extra spaces (the
answer stays the same, with names capitalised as always).

Designed to be learnable: sums and differences of a number 0..99 and a digit
0..9 (never negative), worked out digit by digit, ones first (see
`worked_sum`); comparisons of two different numbers 0..99; every answer
follows a fixed template of its skill; everything is ASCII, and every
conversation renders to fewer than `MAX_TOKENS` tokens with a character
tokenizer.  The training split asks two add, two subtract, three compare and
two knowledge questions for every one of the others.

The split. Each exchange is built from a *content key*: the operands (a, b) of
add and subtract, (a, b, "bigger"/"smaller") of compare, the word of the word
skills, the (fact, value) of memory, the name of greet and identity, the
(person, attribute) of knowledge.  Words and names are split by themselves,
whatever the skill: about 10% of them are held out, and no held-out word or
name occurs anywhere in training.  Knowledge is split by person (the world's
halves), the rest by a hash of (skill, key).  A held-out conversation is made
of held-out exchanges only.  (For add, a swapped pair of digits may be in
train: 5 + 3 can teach 3 + 5.)

Examples are {"messages": [{"role", "content"}, ...], "skill": name, "turn": n}
(the final exchange's position), the common chat form; any JSONL of that form
works with `read_conversations`.  `evaluation_sets` gives the held-out sets of
the report card: turn 1, turns 2-4, memory across other turns, real names,
ordinary words, rephrased questions, knowledge of the held-out people.
"""

import hashlib
import random
import re
import string
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pydoc_data.topics

from minigpt import tinyworld
from minigpt.chat import check_messages
from minigpt.data import read_jsonl, write_jsonl

SPLITS = ("train", "test")
TEST_PERCENT = 10
MAX_TOKENS = 384  # the longest conversation, in characters and chat tokens
# Every character TinyChat and TinyWorld write, and the rest of what people type on an ASCII
# keyboard ("<|user|>" typed by a user must encode, as ordinary characters).
ALPHABET = string.ascii_letters + string.digits + string.punctuation + " \n"

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
              "Hi there, I'm {name}.", "Hello, my name is {name}."),
    "identity": ("I am {name}. Who are you?", "Hi, I'm {name}. What is your name?", "Hello, I am {name}. What are you?",
                 "{name} here. Who am I talking to?", "I'm {name}. And you are?"),
}
# Phrasings no training question uses: the report card asks them to see whether the model generalises.
UNSEEN_QUESTIONS = {
    "add": ("Please add {a} to {b}.",), "subtract": ("Take {b} away from {a}.",),
    "compare": ("Between {a} and {b}, which is {op}?",), "reverse": ("Can you reverse {word}?",),
    "spell": ("Please spell {word}.",), "count": ("Tell me how many letters {word} has.",),
    "upper": ("Can you write {word} in capitals?",), "greet": ("Hiya, I'm {name}.",),
    "identity": ("People call me {name}. Who are you?",),
}


@dataclass(frozen=True)
class Fact:
    values: tuple
    statements: tuple
    questions: tuple
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

# ---- words and names ------------------------------------------------------------------------------

EVERYDAY = """apple banana cherry grape lemon mango melon orange peach pear plum berry strawberry tomato potato carrot onion
garlic pepper salt sugar bread butter cheese milk water coffee tea juice soup rice pasta pizza cake cookie honey egg
table chair window door house garden kitchen bedroom bottle glass plate spoon fork knife cup bowl pillow blanket
lamp mirror clock phone camera radio guitar piano violin drum ticket letter paper pencil book notebook school
teacher student friend family mother father sister brother baby child city street river ocean mountain forest
island desert valley beach flower tree grass leaf stone rain snow cloud storm wind sun moon star planet sky fire
summer winter spring autumn morning evening night today monday friday holiday birthday party music movie story
dog cat horse cow sheep goat pig chicken duck rabbit mouse tiger lion bear wolf fox zebra monkey elephant giraffe
dolphin whale shark turtle snake frog bird eagle owl parrot penguin bee ant spider butterfly green yellow purple
black white silver golden happy sad quick slow bright dark warm cold sweet bitter little big small tall short
train plane boat bicycle car truck bus road bridge market shop bank hospital doctor nurse farmer pilot chef
jacket shirt shoes socks hat scarf gloves dress skirt wallet umbrella basket candle hammer ladder rocket robot
computer keyboard screen internet email picture painting dance song poem game puzzle football tennis soccer""".split()

REAL_NAMES = """Li Wei Ana Ahmed Priya Kenji Yuki Omar Fatima Lena Maria Juan Pedro Sofia Lucas Emma Noah Olivia Liam
Mia Ethan Ava Mason Zoe Leo Ivan Olga Dmitri Anya Sven Ingrid Lars Freya Hans Greta Karl Heidi Pierre Claire
Louis Chloe Marco Giulia Luca Elena Paolo Chiara Diego Lucia Carlos Carmen Jose Rosa Miguel Elena Raj Anil Deepa
Arjun Kavya Ravi Sunita Vikram Meera Amit Neha Chen Mei Ling Jun Hao Xin Yan Bo Hui Min Tao Jin Sato Hiro Aiko
Taro Emi Kaito Rin Sora Haruto Yuna Kim Minho Jisoo Hyun Seo Yuna Bao Linh Minh Anh Tuan Hoa Nam Kofi Ama Kwame
Abena Chidi Ngozi Emeka Ade Bola Tunde Zara Amir Leila Hassan Yusuf Aisha Karim Nadia Samir Layla Tariq Hana Ali
Omid Reza Dara Sara Nina Eva Adam Eli Ben Sam Max Tom Tim Dan Jon Ian Ray Roy Guy Ned Ted Ada Amy Eve Ivy Joy Kay
Liz Meg Pam Sue Ann Bea Cleo Dora Edith Fiona Gwen Hazel Iris Jade June Kate Lily Mabel Nora Opal Pearl Quinn Ruby
Stella Tessa Uma Vera Wendy Xena Yara Zelda Alex Brian Colin Derek Edgar Felix Gavin Henry Isaac Jacob Kevin
Logan Martin Nathan Oscar Peter Quentin Robert Simon Thomas Victor Walter Xavier Yosef Zachary Alejandro Benjamin
Christina Elizabeth Gabriella Isabella Katherine Maximilian Natalia Sebastian Valentina Alexandra Charlotte
Frederick Josephine Leonardo Margarita Francesca Rafael Mateo Santiago Camila Valeria Daniela Gabriel Andres
Fernando Ricardo Eduardo Beatriz Ines Joao Tiago Rui Helga Astrid Bjorn Erik Nils Tove Jukka Aino Eino Mikko
Piotr Kasia Tomasz Marta Jakub Agata Ondrej Petra Jana Milan Goran Ana Dragan Mila Nikos Eleni Yannis Dimitra
Ayse Mehmet Emre Elif Can Deniz Baran Selin Avi Noa Yael Itai Tamar Moshe Rivka Shira Kai Mana Keoni Leilani
Aroha Tane Wiremu Mere Sione Losa Tupac Inti Nayeli Citlali Mateus Thiago Bruna Larissa Rodrigo Paula""".split()


def _documentation_words():
    text = "\n".join(pydoc_data.topics.topics[k] for k in sorted(pydoc_data.topics.topics))
    return set(re.findall(r"\b[a-z]{2,10}\b", text))


# Made-up words: letters drawn as often as in English text, so they look like words without being words.
_LETTER_WEIGHTS = dict(zip("etaoinshrdlcumwfgypbvkjxqz", (12, 9, 8, 8, 7, 7, 6, 6, 6, 4, 4, 3, 3, 2, 2, 2, 2, 2,
                                                            2, 1.5, 1, 0.8, 0.2, 0.2, 0.1, 0.1)))
MADE_UP_PER_LENGTH = 4000


def made_up_words(avoid=frozenset()):
    """About 4,000 made-up words of each length 2-10 (all of the 2-letter ones), the same every time.

    Why made up: with real words only, a small model learns to answer from
    memory; a word it has never seen can only be answered by reading it letter
    by letter, which is the skill the held-out split measures.
    """
    rng = random.Random("tinychat:words")
    letters, weights = zip(*_LETTER_WEIGHTS.items())
    words = set()
    for length in range(2, 11):
        target = min(MADE_UP_PER_LENGTH, 26 ** length // 2)
        found = set()
        while len(found) < target:
            found.add("".join(rng.choices(letters, weights, k=length)))
        words |= found
    return tuple(sorted(words - set(avoid)))


REAL_WORDS = tuple(sorted((_documentation_words() | set(EVERYDAY)) - {"i"}))
# Words and names never coincide with a word of the templates, so every question holds exactly one of them.
_TEXTS = [*(q for questions in QUESTIONS.values() for q in questions),
          *(q for questions in UNSEEN_QUESTIONS.values() for q in questions),
          *(s for statements, questions, answer in FACT_TEMPLATES.values() for s in (*statements, *questions, answer)),
          *(str(v) for values in FACT_VALUES.values() for v in values), ACKNOWLEDGE, "bigger smaller",
          *(t for texts in (*tinyworld.SENTENCES.values(), *tinyworld.QUESTIONS.values(),
                            *tinyworld.UNSEEN_QUESTIONS.values(), tinyworld.ANSWERS.values()) for t in texts),
          *(str(v) for values in tinyworld.VALUES.values() for v in values)]
_TAKEN = frozenset(w.lower() for text in _TEXTS for w in re.findall(r"[A-Za-z]+", text))
MADE_UP_WORDS = made_up_words(_TAKEN | set(REAL_WORDS))
REAL_WORDS = tuple(w for w in REAL_WORDS if w not in _TAKEN)
WORDS = REAL_WORDS + MADE_UP_WORDS
REAL_NAMES = tuple(sorted(set(REAL_NAMES) - {w.capitalize() for w in _TAKEN}))
MADE_UP_NAMES = tuple(w.capitalize() for w in MADE_UP_WORDS[::3])
NAMES = REAL_NAMES + MADE_UP_NAMES
REAL_SHARE = 0.3  # of the words and names in training questions: real ones, the rest made up


def held_out(value):
    """Whether a word or name is in the test split: a fixed hash of its letters, any seed.

    Words and names share it (a made-up name is a capitalised made-up word), so a
    held-out word is never a training name either."""
    digest = hashlib.sha256(f"word:{value.lower()}".encode()).hexdigest()
    return int(digest[:8], 16) % 100 < TEST_PERCENT


@cache
def pool(kind, split, real):
    """The words or names of one split, real ones or made-up ones."""
    values = {("word", True): REAL_WORDS, ("word", False): MADE_UP_WORDS,
              ("name", True): REAL_NAMES, ("name", False): MADE_UP_NAMES}[kind, real]
    return tuple(v for v in values if held_out(v) == (split == "test"))


def _pick(kind, split, rng, real=None):
    real = rng.random() < REAL_SHARE if real is None else real
    return rng.choice(pool(kind, split, real))


# ---- exchanges --------------------------------------------------------------------------------------


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


ANSWERS = {
    "add": lambda a, b: worked_sum(a, b),
    "subtract": lambda a, b: worked_difference(a, b),
    "compare": lambda a, b, op: str(max(a, b) if op == "bigger" else min(a, b)),
    "reverse": lambda word: word[::-1],
    "spell": lambda word: "-".join(word),
    "count": lambda word: str(len(word)),
    "upper": lambda word: word.upper(),
    "greet": lambda name: f"Hello, {name}! How can I help?",
    "identity": lambda name: f"Nice to meet you, {name}. I am MiniGPT.",
}
FIELDS = {"add": ("a", "b"), "subtract": ("a", "b"), "compare": ("a", "b", "op"), "reverse": ("word",),
          "spell": ("word",), "count": ("word",), "upper": ("word",), "greet": ("name",), "identity": ("name",)}
SKILLS = ("add", "subtract", "compare", "reverse", "spell", "count", "upper", "memory", "greet", "identity",
          "knowledge")
WORD_SKILLS, NAME_SKILLS = ("reverse", "spell", "count", "upper"), ("greet", "identity")
# Exchanges per round of the training split (as the last exchange). Add, subtract and compare get more
# because they were the slowest skills of the earlier TinyChat; knowledge, because it is what pretraining
# is for. The three are now learned first, but asking the copying skills more instead moved accuracy
# between the skills without adding any (docs/performance.md).
TRAIN_SHARES = {skill: {"add": 2, "subtract": 2, "compare": 3, "knowledge": 2}.get(skill, 1) for skill in SKILLS}
EXCHANGES = {1: 0.35, 2: 0.25, 3: 0.2, 4: 0.2}  # how many exchanges a training conversation has


def split_of(skill, key):
    """"train" or "test" for the numbers skills and memory's facts: a fixed hash of (skill, key)."""
    digest = hashlib.sha256(f"{skill}:{key!r}".encode()).hexdigest()
    return "test" if int(digest[:8], 16) % 100 < TEST_PERCENT else "train"


@cache
def _number_keys(skill, split):
    keys = {"add": [(a, b) for a in NUMBERS for b in DIGITS],
            "subtract": [(a, b) for a in NUMBERS for b in DIGITS if a >= b],
            "compare": [(a, b, op) for a in COMPARE_NUMBERS for b in COMPARE_NUMBERS if a != b
                        for op in ("bigger", "smaller")]}[skill]
    return tuple(k for k in keys if split_of(skill, k) == split)


@cache
def _fact_values(kind, split):
    """Memory's values of one kind in one split (at least one of each kind is held out)."""
    test = [v for v in FACT_VALUES[kind] if split_of("memory", (kind, v)) == "test"] or [FACT_VALUES[kind][0]]
    return tuple(test) if split == "test" else tuple(v for v in FACT_VALUES[kind] if v not in test)


def _message(role, content):
    return {"role": role, "content": content}


def rephrase(text, how):
    """A light change to what a user typed: "lowercase", "no punctuation" or "extra spaces"."""
    if how == "lowercase":
        return text.lower()
    if how == "no punctuation":
        return text.rstrip(".?!")
    if how == "extra spaces":
        return "  ".join(text.split(" ")) + " "
    raise ValueError(f"unknown rephrasing {how!r}")


REPHRASINGS = ("lowercase", "no punctuation", "extra spaces")
REPHRASE_SHARE = 0.2  # of the user messages in training: one of the REPHRASINGS


@dataclass
class Maker:
    """Makes the exchanges of one split: every content key is drawn from that split."""

    split: str
    rng: random.Random
    world: list = None
    unseen: bool = False     # ask in phrasings no training question uses
    real: bool = None        # real words and names only (True), made-up only (False), or a mix (None)

    def ask(self, text):
        if self.split == "train" and self.rng.random() < REPHRASE_SHARE:
            return rephrase(text, self.rng.choice(REPHRASINGS))
        return text

    def exchange(self, skill):
        """One (user, assistant) exchange of a skill other than memory."""
        rng = self.rng
        if skill == "knowledge":
            people = [p for p in self.world if p["split"] == self.split]
            user, answer = tinyworld.question(rng.choice(people), rng.choice(tinyworld.ATTRIBUTES), rng, self.unseen)
            return [_message("user", self.ask(user)), _message("assistant", answer)]
        if skill in WORD_SKILLS:
            values = {"word": _pick("word", self.split, rng, self.real)}
        elif skill in NAME_SKILLS:
            values = {"name": _pick("name", self.split, rng, self.real)}
        else:
            values = dict(zip(FIELDS[skill], rng.choice(_number_keys(skill, self.split))))
        template = rng.choice((UNSEEN_QUESTIONS if self.unseen else QUESTIONS)[skill])
        return [_message("user", self.ask(template.format(**values))), _message("assistant", ANSWERS[skill](**values))]

    def memory(self):
        """The fact the user states, and the exchange that asks for it back (with its answer)."""
        rng = self.rng
        kind = rng.choice(tuple(FACT_TEMPLATES))
        statements, questions, answer = FACT_TEMPLATES[kind]
        if kind == "name":
            value = _pick("name", self.split, rng, self.real)
        else:
            value = rng.choice(_fact_values(kind, self.split))
        return ([_message("user", self.ask(rng.choice(statements).format(value))), _message("assistant", ACKNOWLEDGE)],
                [_message("user", self.ask(rng.choice(questions))), _message("assistant", answer.format(value))])

    def filler(self):
        skills = [s for s in SKILLS if s != "memory" and (s != "knowledge" or self.world)]
        return self.exchange(self.rng.choice(skills))

    def conversation(self, skill, before=0, between=0):
        """``before`` other exchanges, then the skill's exchange; memory's fact comes ``between``
        exchanges before its question."""
        messages = [m for _ in range(before) for m in self.filler()]
        if skill == "memory":
            fact, ask = self.memory()
            messages += fact + [m for _ in range(between) for m in self.filler()] + ask
        else:
            messages += self.exchange(skill)
        return {"messages": messages, "skill": skill, "turn": len(messages) // 2}


def generate_examples(split, n, seed=0, world=None):
    """n conversations of `split`: for train, the skills in TRAIN_SHARES and one to four exchanges
    each; for test, every skill equally often, one exchange (memory: two).  The knowledge skill
    needs a world (`minigpt.tinyworld.make_world`).  The same arguments give the same list."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(map(repr, SPLITS))}, got {split!r}")
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    rng = random.Random(f"tinychat:{split}:{seed}")
    maker = Maker(split, rng, world)
    skills = [s for s in SKILLS if s != "knowledge" or world]
    shares = TRAIN_SHARES if split == "train" else dict.fromkeys(skills, 1)
    one_round = [skill for skill in skills for _ in range(shares[skill])]
    examples = []
    for i in range(n):
        skill = one_round[i % len(one_round)]
        exchanges = rng.choices(list(EXCHANGES), list(EXCHANGES.values()))[0] if split == "train" else 1
        if skill == "memory":
            between = rng.randint(0, min(2, max(0, exchanges - 2)))
            before = max(0, exchanges - 2 - between)
        else:
            between, before = 0, exchanges - 1
        examples.append(maker.conversation(skill, before, between))
    return examples


def evaluation_sets(world=None, per_skill=20, seed=0):
    """The report card's held-out sets, each {name: [examples]}; every key is from the test split.

    turn 1          every skill as the first exchange (memory: its fact, then its question)
    turns 2-4       every skill after one to three other exchanges, ``per_skill // 2`` at each position
    memory, later   memory with one or two other exchanges between the fact and the question
    real names      greet, identity and memory with real names only (Li, Ahmed, Priya, ...)
    ordinary words  the word skills with real words only (banana, garden, ...)
    rephrased       every skill lower-cased, without punctuation, with extra spaces, or in a phrasing
                    no training question uses
    knowledge       every fact of every held-out person of the world
    """
    rng = random.Random(f"tinychat:evaluation:{seed}")
    maker = Maker("test", rng, world)
    skills = [s for s in SKILLS if s != "knowledge" or world]
    sets = {"turn 1": [maker.conversation(s) for s in skills for _ in range(per_skill)],
            # memory's question comes one exchange after its fact: one exchange fewer before it
            "turns 2-4": [maker.conversation(s, before=b - (s == "memory")) for s in skills for b in (1, 2, 3)
                          for _ in range(max(1, per_skill // 2))],
            "memory, later": [maker.conversation("memory", between=1 + i % 2) for i in range(2 * per_skill)]}
    real = Maker("test", rng, world, real=True)
    sets["real names"] = [real.conversation(s) for s in ("greet", "identity", "memory") for _ in range(per_skill)]
    sets["ordinary words"] = [real.conversation(s) for s in WORD_SKILLS for _ in range(per_skill)]
    unseen = Maker("test", rng, world, unseen=True)
    rephrased = []
    for skill in skills:
        for i in range(per_skill):
            how = (*REPHRASINGS, "unseen phrasing")[i % 4]
            example = (unseen if how == "unseen phrasing" and skill != "memory" else maker).conversation(skill)
            if how in REPHRASINGS:
                example["messages"] = [_message(m["role"], rephrase(m["content"], how) if m["role"] == "user"
                                                else m["content"]) for m in example["messages"]]
            rephrased.append(dict(example, rephrasing=how))
    sets["rephrased"] = rephrased
    if world:  # every fact of every held-out person, each asked once
        sets["knowledge"] = [
            {"messages": [_message("user", q), _message("assistant", a)], "skill": "knowledge", "turn": 1}
            for person in world if person["split"] == "test" for attribute in tinyworld.ATTRIBUTES
            for q, a in [tinyworld.question(person, attribute, rng)]]
    for name, examples in sets.items():
        for example in examples:
            example["set"] = name
    return sets


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


def make_tinychat(out_dir, n_train=26000, per_skill=20, seed=0, world=None) -> tuple[Path, Path]:
    """Write out_dir/train.jsonl and out_dir/test.jsonl (every evaluation set, each example with its "set")."""
    out_dir = Path(out_dir)
    test = [e for examples in evaluation_sets(world, per_skill, seed).values() for e in examples]
    return (write_jsonl(generate_examples("train", n_train, seed, world), out_dir / "train.jsonl"),
            write_jsonl(test, out_dir / "test.jsonl"))


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
