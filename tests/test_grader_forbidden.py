"""The forbidden-name check on its own: what counts as a use, what the check refuses to guess about,
and what an honest answer may write.  Each case is a few cells and the verdict it must get."""

import pytest

from grader.forbidden import Cell, parse_cell, violation

BANNED = ["scipy.special.softmax", "torch", "statistics"]


def check(cells, banned=BANNED, test_names=("softmax",)):
    """``cells``: (code, kind) with kind "answer" (the question's cell), "student" or "lesson"."""
    parsed = []
    for index, (code, kind) in enumerate(cells, 1):
        tree, problem = parse_cell(code)
        assert tree is not None, problem
        parsed.append(Cell(index, tree, authored=kind != "lesson", answer=kind == "answer"))
    found = violation(parsed, banned, test_names)
    return found and found[0]


USES = {
    "an import in the answer": [("from scipy.special import softmax as s", "answer")],
    "a helper in another cell": [("from scipy.special import softmax as s\ndef h(x):\n    return s(x)", "student"),
                                 ("def softmax(x):\n    return h(x)", "answer")],
    "the tested name defined elsewhere": [("import scipy.special\ndef softmax(x):\n    return scipy.special.softmax(x)",
                                           "student"), ("pass", "answer")],
    "getattr with a literal": [("import scipy.special as sp\ndef softmax(x):\n    return getattr(sp, 'softmax')(x)",
                                "answer")],
    "an alias chain": [("import scipy\nm = scipy.special", "student"), ("def softmax(x):\n    return m.softmax(x)", "answer")],
    "another path in the package": [("import scipy.special._logsumexp as l\ndef softmax(x):\n    return l.softmax(x)",
                                     "answer")],
    "a module the lesson imports": [("import torch", "lesson"), ("def softmax(x):\n    return torch.softmax(x, 0)", "answer")],
    "a list the answer reads": [("fns = []", "student"), ("from scipy.special import softmax as s\nfns.append(s)", "student"),
                                ("def softmax(x):\n    return fns[0](x)", "answer")],
    "a forbidden module passed on": [("import torch", "lesson"),
                                     ("def g(m):\n    return m.softmax\ndef softmax(x):\n    return g(torch)(x)", "answer")],
}
HIDDEN = {
    "__import__": "def softmax(x):\n    __import__('stat' + 'istics')",
    "a computed getattr": "import scipy.special as sp\ndef softmax(x):\n    return getattr(sp, 'soft' + 'max')(x)",
    "get_ipython": "get_ipython().input_transformers_post.append(lambda lines: lines)",
    "a shell command": "!python -c 'import torch'",
    "%run": "%run other.py",
    "reflection": "def softmax(x):\n    return ().__class__.__base__.__subclasses__()",
    "sys.modules": "import sys\ndef softmax(x):\n    return sys.modules['scipy']",
    "a module passed around": "import scipy.special as sp\ndef f(m):\n    return m.softmax\ndef softmax(x):\n    return f(sp)(x)",
    "patching a module": "import numpy as np\nnp.exp = lambda x: x",
    "a module the student wrote": "import mymodule\ndef softmax(x):\n    return mymodule.f(x)",
    "pickle": "import pickle\ndef softmax(x):\n    return pickle.loads(b'')",
    "allow_pickle": "import numpy as np\ndef softmax(x):\n    return np.load('f.npy', allow_pickle=True)",
    "exec": "def softmax(x):\n    exec('x = 1')",
    "a relative import": "from . import thing",
}
HONEST = {
    "NumPy": [("import numpy as np", "lesson"), ("def softmax(x):\n    e = np.exp(x - x.max())\n    np.random.seed(0)\n"
                                                 "    return e / e.sum()", "answer")],
    "a dictionary key": [("def softmax(x):\n    d = {'softmax': 1, 'torch': 2}\n    return d", "answer")],
    "an attribute": [("class A:\n    def __init__(self):\n        self.softmax = 1\n        super().__init__()", "answer")],
    "a variable": [("special = 3\ndef softmax(x):\n    return special", "answer")],
    "a parameter named like a module": [("def softmax(torch):\n    return torch", "answer")],
    "another question's own use": [("import statistics\ndef mean(x):\n    return statistics.mean(x)", "student"),
                                   ("def softmax(x):\n    return x", "answer")],
    "a module the lesson imports, unused": [("import torch", "lesson"), ("def softmax(x):\n    return x", "answer")],
    "an object the lesson hands over": [("from scipy.special import softmax as given", "lesson"),
                                        ("def softmax(x):\n    return x", "answer")],
    "the student's own help": [("def help():\n    return 1\ndef softmax(x):\n    return help()", "answer")],
    "%timeit": [("%timeit sum([1, 2])", "student"), ("def softmax(x):\n    return x", "answer")],
}


@pytest.mark.parametrize("case", sorted(USES))
def test_uses_are_found(case):
    assert "uses forbidden name" in (check(USES[case]) or ""), case


@pytest.mark.parametrize("case", sorted(HIDDEN))
def test_code_the_check_cannot_follow_is_refused(case):
    found = check([(HIDDEN[case], "student"), ("def softmax(x):\n    return x", "answer")])
    assert found and "cannot follow" in found, (case, found)


@pytest.mark.parametrize("case", sorted(HONEST))
def test_honest_code_passes(case):
    assert check(HONEST[case]) is None, case


def test_a_question_without_forbidden_names_is_never_checked():
    assert check([("import torch\neval('1')", "answer")], banned=[]) is None


@pytest.mark.parametrize("code", ["this line is not python", "x = (" * 200 + "1", "-" * 200_000 + "1", "x = 1\n" * 20_000])
def test_cells_that_cannot_be_read_say_why(code):
    tree, problem = parse_cell(code)
    assert tree is None and problem
