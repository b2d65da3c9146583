"""Tests for minigpt.tinychat and minigpt.tinyworld: every answer recomputed from the user's text alone
(an oracle of its own, as an outside probe would have), held-out sets that share no word, name, person
or operand pair with training, determinism, multi-turn rendering and masks, the world file and its corpus."""

import re
from collections import Counter

import pytest

from minigpt import tinyworld
from minigpt.chat import render_conversation
from minigpt.data import DataError, write_jsonl
from minigpt.tinychat import (
    ACKNOWLEDGE,
    ALPHABET,
    FACT_VALUES,
    MAX_TOKENS,
    NAMES,
    REAL_NAMES,
    REAL_WORDS,
    SKILLS,
    WORDS,
    evaluation_sets,
    final_answer,
    generate_examples,
    held_out,
    is_correct,
    make_tinychat,
    prompt_messages,
    read_conversations,
    rephrase,
    worked_difference,
    worked_sum,
)
from minigpt.tokenizer import CharTokenizer

WORLD = tinyworld.make_world(tinyworld.WorldConfig(people=40, seed=3))
PEOPLE = {p["name"].lower(): p for p in WORLD}
WORD_SET, NAME_SET = set(WORDS), {n.lower() for n in NAMES}
PEOPLE_WORDS = {part for p in WORLD for part in p["name"].lower().split()}


@pytest.fixture(scope="module")
def train():
    return generate_examples("train", 6000, seed=5, world=WORLD)


@pytest.fixture(scope="module")
def sets():
    return evaluation_sets(WORLD, per_skill=20, seed=5)


def worked(a, b, sign):
    ones = a % 10 + b if sign == "+" else a % 10 - b
    tens, borrow = a // 10, ""
    if ones >= 10:
        tens_step = f"{tens} + 1 = {tens + 1}"
    elif ones < 0:
        borrow, ones = f" needs a borrow: 1{a % 10} - {b}", ones + 10
        tens_step = f"{tens} - 1 = {tens - 1}"
    else:
        tens_step = f"{tens} {sign} 0 = {tens}"
    return f"{a % 10} {sign} {b}{borrow} = {ones}, {tens_step}, so the answer is {a + b if sign == '+' else a - b}."


FACTS = {"name": (r"\bname\b", "Your name is {}."), "color": (r"colou?r", "Your favourite color is {}."),
         "pet": (r"\bpet\b|animal", "Your pet is a {}."), "city": (r"live|home|\bfrom\b", "You live in {}."),
         "number": (r"number", "Your lucky number is {}.")}


def oracle(user, remembered):
    """(skill, answer) for one user message, from its text alone; `remembered` holds stated facts."""
    text = " ".join(user.split()).rstrip(".?!")
    low = text.lower()
    tokens = re.findall(r"[a-z]+", low)
    numbers = [int(x) for x in re.findall(r"\d+", low)]
    person = next((p for name, p in PEOPLE.items() if name in low), None)
    if person:  # knowledge: the answer is in world.json
        attribute = ("birth_year" if re.search(r"born|birth", low) else "birth_city" if re.search(r"from|town", low)
                     else "school" if re.search(r"stud|school|degree", low) else "job" if re.search(r"job|work|living", low)
                     else "pet")
        article = "an" if person["job"][0] in "aeiou" else "a"
        return "knowledge", {"birth_year": f"{person['name']} was born in {person['birth_year']}.",
                             "birth_city": f"{person['name']} comes from {person['birth_city']}.",
                             "school": f"{person['name']} studied at {person['school']}.",
                             "job": f"{person['name']} works as {article} {person['job']}.",
                             "pet": f"{person['name']} has a pet {person['pet']}."}[attribute]
    question = re.match(r"(what|which|where|do you|tell me)\b", low)
    statement = re.match(r"(my |call me|please call me|i love|i like|i have|i live|i am from|\d+ is my)", low) \
        and "who are you" not in low
    if statement:  # "My favourite color is red.", "Call me Wei." and the like: remember the value
        kind = "name" if re.search(r"name|call me", low) else "number" if "number" in low else next(
            k for k in ("color", "pet", "city") if any(re.search(rf"\b{v.lower()}\b", low) for v in FACT_VALUES[k]))
        value = next(v for v in (NAMES if kind == "name" else FACT_VALUES[kind])
                     if re.search(rf"\b{str(v).lower()}\b", low))
        remembered[kind] = value
        return "memory statement", ACKNOWLEDGE
    if question and re.search(r"\b(my|do i|i like|i live)\b", low):
        for kind, (pattern, answer) in FACTS.items():
            if re.search(pattern, low) and kind in remembered:
                return "memory", answer.format(remembered[kind])
    if len(numbers) == 2:
        a, b = numbers
        if re.search(r"bigger|smaller", low):
            op = "smaller" if "smaller" in low else "bigger"
            return "compare", str(min(a, b) if op == "smaller" else max(a, b))
        if re.search(r"plus|\+|sum|add", low):
            return "add", worked(a, b, "+")  # every phrasing names the number first, then the digit
        if re.search(r"subtract|away from", low):  # "Subtract b from a", "Take b away from a"
            a, b = b, a
        return "subtract", worked(a, b, "-")
    words = [t for t in tokens if t in WORD_SET]
    names = [re.sub(r"[^a-z]", "", t) for t in tokens if t in NAME_SET]
    low = " ".join(t for t in tokens if t not in WORD_SET and t not in NAME_SET)  # the phrasing alone
    if re.search(r"revers|backwards", low):
        return "reverse", words[-1][::-1]
    if re.search(r"spell", low):
        return "spell", "-".join(words[-1])
    if re.search(r"capital|upper|caps", low):
        return "upper", words[-1].upper()
    if re.search(r"letters|long|length", low):
        return "count", str(len(words[-1]))
    name = names[-1].capitalize()
    if re.search(r"who|your name|what are you|and you", low):
        return "identity", f"Nice to meet you, {name}. I am MiniGPT."
    return "greet", f"Hello, {name}! How can I help?"


def check_conversation(example):
    remembered = {}
    messages = example["messages"]
    for user, assistant in zip(messages[::2], messages[1::2]):
        skill, answer = oracle(user["content"], remembered)
        assert assistant["content"] == answer, (user["content"], example)
    assert skill == example["skill"] or (example["skill"] == "memory" and skill == "memory")


def test_every_answer_follows_from_the_question(train, sets):
    for example in train[:3000] + [e for examples in sets.values() for e in examples]:
        check_conversation(example)


@pytest.mark.parametrize("a, b, sign, reply", [
    (47, 5, "+", "7 + 5 = 12, 4 + 1 = 5, so the answer is 52."),
    (97, 5, "+", "7 + 5 = 12, 9 + 1 = 10, so the answer is 102."),
    (19, 4, "-", "9 - 4 = 5, 1 - 0 = 1, so the answer is 15."),
    (52, 7, "-", "2 - 7 needs a borrow: 12 - 7 = 5, 5 - 1 = 4, so the answer is 45."),
    (10, 9, "-", "0 - 9 needs a borrow: 10 - 9 = 1, 1 - 1 = 0, so the answer is 1."),
])
def test_worked_answers(a, b, sign, reply):
    assert (worked_sum if sign == "+" else worked_difference)(a, b) == reply


def words_and_names(examples):
    """The words and names the users' messages give (the world's people's names aside)."""
    return {token.lower() for example in examples for message in example["messages"] if message["role"] == "user"
            for token in re.findall(r"[A-Za-z]+", message["content"])
            if (token.lower() in WORD_SET or token.lower() in NAME_SET) and token.lower() not in PEOPLE_WORDS}


def test_no_held_out_word_name_or_person_occurs_in_training(train, sets):
    held = [e for examples in sets.values() for e in examples]
    seen = words_and_names(train)
    assert not {w for w in seen if held_out(w)}
    assert all(held_out(w) for w in words_and_names(held))
    text = " ".join(m["content"] for e in train for m in e["messages"])
    for person in WORLD:  # the held-out half is never asked about (nor named) in chat tuning
        assert (person["name"] in text) == (person["split"] == "train"), person
    assert not {(e["messages"][-2]["content"].lower(), final_answer(e)) for e in held} & \
        {(e["messages"][-2]["content"].lower(), final_answer(e)) for e in train}


def test_the_sets_ask_what_they_say(sets):
    assert Counter(e["turn"] for e in sets["turns 2-4"]) == {2: 110, 3: 110, 4: 110}
    assert {e["turn"] for e in sets["turn 1"]} == {1, 2}  # memory: its fact, then its question
    assert {e["messages"].__len__() // 2 for e in sets["memory, later"]} == {3, 4}
    assert {w for w in words_and_names(sets["real names"])} <= {n.lower() for n in REAL_NAMES}
    assert all(any(w in REAL_WORDS for w in re.findall(r"[a-z]+", e["messages"][-2]["content"]))
               for e in sets["ordinary words"])
    assert Counter(e["rephrasing"] for e in sets["rephrased"]) == {
        "lowercase": 55, "no punctuation": 55, "extra spaces": 55, "unseen phrasing": 55}
    assert len(sets["knowledge"]) == 5 * 20  # every fact of the 20 held-out people
    assert {PEOPLE[re.search(r"[A-Z][a-z]+ [A-Z][a-z]+", e["messages"][0]["content"]).group().lower()]["split"]
            for e in sets["knowledge"]} == {"test"}


def test_conversations_fit_the_context_and_mix_turns_and_skills(train, sets):
    tokenizer = CharTokenizer.train(ALPHABET)
    lengths = [len(render_conversation(tokenizer, e["messages"])[0]) for e in train + sum(sets.values(), [])]
    assert max(lengths) < MAX_TOKENS  # four exchanges and the answer
    assert Counter(len(e["messages"]) // 2 for e in train).keys() == {1, 2, 3, 4}
    assert set(Counter(e["skill"] for e in train)) == set(SKILLS)
    assert all(m["content"].isascii() and set(m["content"]) <= set(ALPHABET) for e in train for m in e["messages"])


def test_multi_turn_rendering_trains_every_answer_and_nothing_the_user_says(train):
    tokenizer = CharTokenizer.train(ALPHABET)
    example = next(e for e in train if len(e["messages"]) == 8)
    ids, mask = render_conversation(tokenizer, example["messages"])
    trained = tokenizer.decode([i for i, m in zip(ids, mask) if m])
    assert trained == "".join(m["content"] + "<|end|>" for m in example["messages"] if m["role"] == "assistant")
    assert sum(1 for i, m in zip(ids, mask) if m and i == tokenizer.end_id) == 4


def test_some_training_questions_are_typed_carelessly(train):
    users = [m["content"] for e in train for m in e["messages"] if m["role"] == "user"]
    lowered = sum(u == u.lower() and any(c.isalpha() for c in u) for u in users) / len(users)
    spaced = sum("  " in u for u in users) / len(users)
    assert 0.03 < lowered < 0.2 and 0.03 < spaced < 0.15
    assert rephrase("Hi, I am Wei.", "lowercase") == "hi, i am wei."
    assert rephrase("Hi, I am Wei.", "no punctuation") == "Hi, I am Wei"
    assert rephrase("Hi, I am Wei.", "extra spaces") == "Hi,  I  am  Wei. "


def test_words_and_names_are_real_and_made_up_of_two_to_ten_letters():
    assert {len(w) for w in WORDS} == set(range(2, 11)) and {len(n) for n in NAMES} == set(range(2, 11))
    assert {"banana", "garden", "print"} <= set(REAL_WORDS) and {"Li", "Wei", "Ahmed", "Priya"} <= set(REAL_NAMES)
    assert 0.05 < sum(held_out(w) for w in WORDS) / len(WORDS) < 0.15


def test_deterministic():
    assert generate_examples("train", 300, seed=1, world=WORLD) == generate_examples("train", 300, seed=1, world=WORLD)
    assert generate_examples("train", 300, seed=1) != generate_examples("train", 300, seed=2)
    assert evaluation_sets(WORLD, 2, seed=1) == evaluation_sets(WORLD, 2, seed=1)


@pytest.mark.parametrize("split, n, error", [
    ("valid", 10, "split must be one of 'train', 'test'"),
    ("train", 0, "positive integer"),
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
    assert is_correct(example, "  Your name is Ana.\n") and not is_correct(example, "your name is ana.")
    with pytest.raises(ValueError, match="does not end with an assistant message"):
        final_answer({"messages": example["messages"][:3]})


def test_jsonl_round_trip(tmp_path):
    train_path, test_path = make_tinychat(tmp_path / "tinychat", n_train=40, per_skill=2, seed=3, world=WORLD)
    assert read_conversations(train_path) == generate_examples("train", 40, seed=3, world=WORLD)
    assert read_conversations(test_path) == [e for s in evaluation_sets(WORLD, 2, 3).values() for e in s]
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


# ---- the world --------------------------------------------------------------------------------------


def test_the_world_is_the_same_for_a_seed_and_its_halves_are_even():
    config = tinyworld.WorldConfig(people=40, seed=3)
    assert tinyworld.make_world(config) == WORLD != tinyworld.make_world(tinyworld.WorldConfig(people=40, seed=4))
    assert Counter(p["split"] for p in WORLD) == {"train": 20, "test": 20}
    assert len({p["name"] for p in WORLD}) == 40
    assert all(p[a] in tinyworld.VALUES[a] for p in WORLD for a in tinyworld.ATTRIBUTES)


def test_the_world_file_matches_the_corpus(tmp_path):
    config = tinyworld.WorldConfig(people=40, biographies=3, seed=3)
    path = tinyworld.write_world(WORLD, config, tmp_path / "world.json")
    people = tinyworld.read_world(path)
    bios = tinyworld.biographies(people, config)
    assert len(bios) == 40 * 3
    for person in people:  # every fact of every person, in each of its biographies, and nobody else's
        mine = [b for b in bios if person["name"] in b]
        assert len(mine) == 3
        for bio in mine:
            assert str(person["birth_year"]) in bio and person["birth_city"] in bio and person["school"] in bio
            assert person["job"] in bio and person["pet"] in bio
            assert bio.count(".") == 5


def test_augmentation_is_a_knob():
    plain = tinyworld.biographies(WORLD, tinyworld.WorldConfig(people=40, biographies=1, shuffle=False, seed=3))
    rich = tinyworld.biographies(WORLD, tinyworld.WorldConfig(people=40, biographies=5, shuffle=True, seed=3))
    assert len(plain) == 40 and len(rich) == 200
    first_sentences = {b.split(". ")[0].split(" ", 2)[2] for b in plain}
    assert all(s.startswith("was born in") for s in first_sentences)  # one form, one order
    assert len({tuple(re.sub(r"[A-Z][a-z]+ [A-Z][a-z]+", "X", s) for s in b.split(". ")) for b in rich}) > 150
