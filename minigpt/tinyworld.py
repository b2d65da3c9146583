"""TinyWorld: made-up people whose facts a model can only learn by reading their biographies.

A chat model answers questions about the world from what it read in
pretraining.  TinyWorld makes that measurable: a few hundred people with
attributes (birth year, birth city, school, job, pet), described in short
biographies that are the pretraining corpus.  Half of the people are the *train
half*: chat tuning asks questions about them ("Where was Suna Tavo born?" ->
"Suna Tavo was born in Lima.").  The other half is *held out*: their facts
appear nowhere but in the biographies, so a right answer about them is
knowledge the model stored while pretraining and learned to extract.

**Knowledge augmentation is a knob** (`WorldConfig`): how many differently
worded biographies each person gets, and whether the order of the sentences is
shuffled.  This is the setting of Allen-Zhu & Li, *Physics of Language Models:
Part 3.1, Knowledge Storage and Extraction* (arXiv 2309.14316): with a single
biography per person in a fixed form, a model memorises the text, yet
question-answer tuning cannot extract the facts of people it never saw in QA
form; with several shuffled paraphrases per person, it can.  At a CPU's scale
that is not enough: question-answer tuning also erases what the model read,
unless it rehearses the biographies (`minigpt.sft.Rehearsal`).  The measured
ablation is in docs/performance.md (`benchmarks/knowledge.py`).

The world is a plain list of dicts, written as JSON next to every run
(`world.json`), so anyone can check a model's answers against it.
"""

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path

from minigpt.options import option

ATTRIBUTES = ("birth_year", "birth_city", "school", "job", "pet")
CITIES = ("Paris", "London", "Tokyo", "Rome", "Berlin", "Madrid", "Cairo", "Lima", "Oslo", "Delhi", "Seoul",
          "Sydney", "Toronto", "Dublin", "Vienna", "Boston", "Lagos", "Quito", "Hanoi", "Prague", "Athens",
          "Nairobi", "Lisbon", "Havana", "Manila", "Dakar", "Riga", "Tunis", "Bogota", "Perth")
SCHOOLS = tuple(f"{name} {kind}" for name, kind in zip(
    ("Oakridge", "Riverside", "Hillcrest", "Northgate", "Westbrook", "Eastfield", "Lakeside", "Stonebridge",
     "Maplewood", "Ashford", "Kingsley", "Fairview", "Brookline", "Clearwater", "Redmont", "Silverlake"),
    ("University", "College", "Institute", "Academy") * 4))
JOBS = ("teacher", "baker", "doctor", "pilot", "farmer", "nurse", "painter", "lawyer", "chef", "dentist",
        "engineer", "writer", "singer", "tailor", "plumber", "banker", "actor", "judge", "sailor", "miner",
        "architect", "librarian", "florist", "mechanic")
PETS = ("cat", "dog", "fish", "bird", "horse", "rabbit", "turtle", "hamster", "snake", "frog", "parrot", "goat")
YEARS = tuple(range(1900, 2000))
VALUES = {"birth_year": YEARS, "birth_city": CITIES, "school": SCHOOLS, "job": JOBS, "pet": PETS}


def _article(word):
    return "an" if word[0] in "aeiou" else "a"


# Sentences of a biography, several wordings per attribute; the first is the plain one.
SENTENCES = {
    "birth_year": ("{name} was born in {birth_year}.", "{name} came into the world in {birth_year}.",
                   "The year {name} was born was {birth_year}.", "{name} has a birthday in the year {birth_year}."),
    "birth_city": ("{name} comes from {birth_city}.", "{name} grew up in the city of {birth_city}.",
                   "The home town of {name} is {birth_city}.", "{name} spent a childhood in {birth_city}."),
    "school": ("{name} studied at {school}.", "{name} went to {school}.", "{name} is a graduate of {school}.",
               "{name} got a degree from {school}."),
    "job": ("{name} works as {a_job}.", "{name} is {a_job} by trade.", "{name} earns a living as {a_job}.",
            "By profession, {name} is {a_job}."),
    "pet": ("{name} has a pet {pet}.", "{name} owns {a_pet}.", "{name} keeps {a_pet} at home.",
            "At home, {name} looks after {a_pet}."),
}
# Questions of the knowledge skill, and the answer that states the fact.
QUESTIONS = {
    "birth_year": ("When was {name} born?", "In which year was {name} born?", "What year was {name} born in?"),
    "birth_city": ("Where does {name} come from?", "Which city is {name} from?", "What is the home town of {name}?"),
    "school": ("Where did {name} study?", "Which school did {name} go to?", "Where did {name} get a degree?"),
    "job": ("What does {name} do for a living?", "What is the job of {name}?", "What does {name} work as?"),
    "pet": ("What pet does {name} have?", "Which animal does {name} keep?", "What kind of pet does {name} own?"),
}
# Phrasings no training question uses: the report card asks them to see whether it generalises.
UNSEEN_QUESTIONS = {
    "birth_year": ("Tell me the birth year of {name}.",),
    "birth_city": ("Name the city {name} comes from.",),
    "school": ("Tell me where {name} studied.",),
    "job": ("Tell me the job of {name}.",),
    "pet": ("Tell me which pet {name} has.",),
}
# The answer states the fact in the plain biography wording: the chat model answers by copying
# the name from the question and completing the sentence it read in pretraining.
ANSWERS = {attribute: wordings[0] for attribute, wordings in SENTENCES.items()}


@dataclass
class WorldConfig:
    people: int = option(200, "people in the generated world (half of them held out)")
    biographies: int = option(5, "differently worded biographies per person (knowledge augmentation)")
    shuffle: bool = option(True, "shuffle the sentences of each biography (knowledge augmentation)")
    seed: int = option(0, "seed of the world")

    def __post_init__(self):
        if self.people < 2 or self.biographies < 1:
            raise ValueError(f"a world needs at least 2 people and 1 biography each, got {asdict(self)}")


_CONSONANTS, _VOWELS = "bdfgklmnprstvz", "aeiou"


def _made_up_name(rng):
    """A pronounceable capitalised word of 3-6 letters (consonant, vowel, ...)."""
    return "".join(rng.choice(_VOWELS if i % 2 else _CONSONANTS) for i in range(rng.randint(3, 6))).capitalize()


def make_world(config=WorldConfig()):
    """The people of a world: ``{"name", attribute: value, ..., "split": "train"|"test"}``, the same
    for the same seed.  Every full name is unique; the first half (in a shuffled order) is the train half."""
    rng = random.Random(f"tinyworld:{config.seed}")
    names = set()
    while len(names) < config.people:
        names.add(f"{_made_up_name(rng)} {_made_up_name(rng)}")
    people = [dict({"name": name}, **{a: rng.choice(VALUES[a]) for a in ATTRIBUTES})
              for name in sorted(names)]
    rng.shuffle(people)
    for index, person in enumerate(people):
        person["split"] = "train" if index < config.people // 2 else "test"
    return people


def fields(person):
    """A person's attributes as the templates name them, with "a baker" and "an owl" spelled out."""
    return dict(person, a_job=f"{_article(person['job'])} {person['job']}", a_pet=f"{_article(person['pet'])} {person['pet']}")


def biographies(people, config=WorldConfig()):
    """The pretraining corpus: ``config.biographies`` texts per person.

    Without augmentation (one biography, not shuffled) every person's text has
    the plain wording and the same order; with it, each biography picks a
    wording per sentence at random and, if ``shuffle``, a random sentence order.
    """
    rng = random.Random(f"tinyworld-bios:{config.seed}")
    texts = []
    plain = config.biographies == 1 and not config.shuffle
    for person in people:
        values = fields(person)
        for _ in range(config.biographies):
            sentences = [SENTENCES[a][0 if plain else rng.randrange(len(SENTENCES[a]))].format(**values)
                         for a in ATTRIBUTES]
            if config.shuffle:
                rng.shuffle(sentences)
            texts.append(" ".join(sentences))
    rng.shuffle(texts)
    return texts


def question(person, attribute, rng, unseen=False):
    """A question about one attribute of a person, and the answer that states it."""
    values = fields(person)
    template = rng.choice((UNSEEN_QUESTIONS if unseen else QUESTIONS)[attribute])
    return template.format(**values), ANSWERS[attribute].format(**values)


def prompt_of(person, attribute):
    """The start of the plain biography sentence, for the pretrained model to complete."""
    sentence, value = SENTENCES[attribute][0].format(**fields(person)), str(person[attribute])
    return sentence[:sentence.rindex(value)], value


def write_world(people, config, path):
    """``world.json``: the config and every person with their split, for anyone to check answers against."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"config": asdict(config), "attributes": list(ATTRIBUTES), "people": people}, indent=1))
    return path


def read_world(path):
    return json.loads(Path(path).read_text())["people"]
