"""Every attack from issue 3 against the demo lesson, each with the exact score it must get.

The demo has q_square (3 points: 1 visible + 2 with a hidden test),
q_softmax (4) and q_counter (1).  Most attacks leave softmax and Counter
correct, so a score of 5 means "the attack earned nothing and broke nothing".
"""

import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "grader_fixtures"))
import demo  # noqa: E402

from grader.grade import grade_notebook  # noqa: E402
from grader.sandbox import Limits  # noqa: E402

LIMITS = Limits(cell_timeout=3, total_timeout=60, memory_mb=512, max_processes=64)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return demo.write(tmp_path_factory.mktemp("src") / "demo.ipynb", demo.notebook(demo.demo_cells()))


def grade(tmp_path, source, cells):
    submission = demo.write(tmp_path / "demo.ipynb", demo.notebook(cells, assignment="demo"))
    return grade_notebook(source, submission, LIMITS, student="attacker")


def scores(result):
    return {q.id: q.score for q in result.questions}


ATTACKS = {
    "always_true_eq": (
        "class Anything:\n    def __eq__(self, other):\n        return True\n    __hash__ = object.__hash__\n"
        "def square(x):\n    return Anything()\n"),
    "int_subclass_eq": (
        "class Sneaky(int):\n    def __eq__(self, other):\n        return True\n"
        "def square(x):\n    return Sneaky(0)\n"),
    "rewrite_assert_and_builtins": (
        "import builtins\nbuiltins.AssertionError = type('Nothing', (Exception,), {})\n"
        "builtins.all = lambda x: True\nbuiltins.abs = lambda x: 0\n"
        "get_ipython().user_ns['__builtins__'].__dict__['any'] = lambda x: True\n"
        "def square(x):\n    return 0\n"),
    "monkeypatch_numpy_and_grader": (
        "import numpy as np, sys\nnp.testing.assert_allclose = lambda *a, **k: None\n"
        "np.allclose = lambda *a, **k: True\nnp.ndarray.__eq__ = lambda *a: True\n"
        "import grader.proxy, grader.grade\ngrader.proxy.ask = lambda *a, **k: 9\n"
        "grader.grade.test_result = lambda *a, **k: None\nsys.modules['grader'].grade = None\n"
        "def square(x):\n    return 0\n"),
    "sys_exit_zero": "def square(x):\n    return 0\nimport sys\nsys.exit(0)\n",
    "infinite_loop_in_cell": "while True:\n    pass\n",
    "infinite_loop_when_called": "def square(x):\n    while True:\n        pass\n",
    "non_utf8_strings": (
        "import sys\nsys.stdout.buffer.write(b'\\xff\\xfe garbage')\nprint('\\udcff')\n"
        "def square(x):\n    raise ValueError('bad \\udcff\\ud800 bytes')\n"),
    "fork_bomb": (
        "import os, time\nfor _ in range(100000):\n    try:\n        pid = os.fork()\n    except OSError:\n"
        "        break\n    if pid == 0:\n        time.sleep(600)\n        os._exit(0)\n"
        "def square(x):\n    return -1\n"),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_earns_nothing(tmp_path, source, name):
    result = grade(tmp_path, source, demo.demo_cells(square=ATTACKS[name]))
    assert scores(result) == {"q_square": 0, "q_softmax": 4, "q_counter": 1}, result
    assert result.status == "ok"


def test_input_transformers_and_hooks_cannot_touch_tests(tmp_path, source):
    # Under nbgrader, blanking every later cell blanks the tests too, so they "pass".
    # Here the tests never go through the student's shell: they run, and fail.
    hijack = ("ip = get_ipython()\nip.input_transformers_post.append(lambda lines: ['pass\\n'])\n"
              "ip.events.register('pre_run_cell', lambda info: ip.user_ns.update(AssertionError=Exception))\n")
    result = grade(tmp_path, source, demo.demo_cells(square=hijack))
    assert result.score == 0 and result.status == "ok"
    assert all(t.status == "error" for q in result.questions for t in q.tests)


def test_os_exit_stops_grading_and_scores_only_what_ran(tmp_path, source):
    result = grade(tmp_path, source, demo.demo_cells(square="import os\nos._exit(0)\n"))
    assert result.score == 0 and result.status == "crashed"


def test_os_exit_after_a_correct_answer_keeps_that_answer(tmp_path, source):
    counter = demo.COUNTER + "import os\nos._exit(0)\n"
    result = grade(tmp_path, source, demo.demo_cells(counter=counter))
    assert scores(result) == {"q_square": 3, "q_softmax": 4, "q_counter": 0}
    assert result.status == "crashed"


def test_interrupt_proof_loop_is_killed_and_reported_as_timeout(tmp_path, source):
    loop = "while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass\n"
    result = grade(tmp_path, source, demo.demo_cells(softmax=loop))
    assert scores(result) == {"q_square": 3, "q_softmax": 0, "q_counter": 0}
    assert result.status == "timeout"
    assert {t.status for t in result.questions[2].tests} == {"timeout"}


def test_memory_bomb_is_killed(tmp_path, source):
    bomb = "chunks = []\nwhile True:\n    chunks.append(b'x' * 10**7)\n"
    result = grade(tmp_path, source, demo.demo_cells(softmax=bomb))
    assert scores(result) == {"q_square": 3, "q_softmax": 0, "q_counter": 0}
    assert result.status == "memory"


def test_huge_allocation_fails_inside_the_student_process_only(tmp_path, source):
    result = grade(tmp_path, source, demo.demo_cells(square=demo.SQUARE + "big = bytearray(10**13)\n"))
    assert scores(result) == {"q_square": 3, "q_softmax": 4, "q_counter": 1}
    assert "MemoryError" in result.questions[0].message


def test_megabytes_of_output_are_capped(tmp_path, source):
    noisy = "def square(x):\n    print('x' * 5_000_000)\n    return x * x\nprint('y' * 5_000_000)\n"
    result = grade(tmp_path, source, demo.demo_cells(square=noisy))
    assert result.score == 8
    assert len(result.log) <= LIMITS.max_output_kb * 1024


def test_fake_results_files_cannot_be_written_outside_scratch(tmp_path, source):
    target = tmp_path / "grades.json"
    forge = (f"import json\ntry:\n    open({str(target)!r}, 'w').write(json.dumps({{'score': 100}}))\n"
             "except OSError as error:\n    print(error)\nopen('grades.json', 'w').write('{\"score\": 100}')\n"
             "def square(x):\n    return 0\n")
    result = grade(tmp_path, source, demo.demo_cells(square=forge))
    assert not target.exists()
    assert scores(result)["q_square"] == 0 and result.score == 5


def test_source_and_hidden_tests_cannot_be_read(tmp_path, source):
    steal = (f"import os\ndef square(x):\n    text = open({source!r}).read()\n"
             f"    return int(text.split('square(12345) == ')[1][:9]) if x == 12345 else x * x\n"
             f"try:\n    print(os.listdir({os.path.dirname(source)!r}))\nexcept OSError:\n    print('denied')\n"
             "print(sorted(os.listdir('.')))\n")
    result = grade(tmp_path, source, demo.demo_cells(square=steal))
    assert scores(result)["q_square"] == 0 and result.score == 5
    assert demo.SECRET not in result.log and "denied" in result.log
    assert "ipynb" not in result.log  # the scratch working directory holds no notebook


def test_hidden_test_failure_reveals_no_detail(tmp_path, source):
    almost = "def square(x):\n    return x * x if abs(x) < 100 else 0\n"
    result = grade(tmp_path, source, demo.demo_cells(square=almost))
    hidden = result.questions[0].tests[1]
    assert (hidden.status, hidden.message, hidden.points) == ("fail", "a hidden test failed", 0)
    assert demo.SECRET not in json.dumps(result.to_dict())
    assert result.score == 6


def test_deleted_test_cell_comes_back_with_its_hidden_test(tmp_path, source):
    almost = "def square(x):\n    return x * x if abs(x) < 100 else 0\n"
    cells = [c for c in demo.demo_cells(square=almost) if c["id"] != "t_square_more-cell"]
    result = grade(tmp_path, source, cells)
    assert scores(result) == {"q_square": 1, "q_softmax": 4, "q_counter": 1}


def test_edited_tests_and_points_are_ignored(tmp_path, source):
    cells = demo.demo_cells(square="def square(x):\n    return 0\n", softmax="def softmax(x):\n    return x\n")
    for cell in cells:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("grade"):
            meta["points"] = 100
            cell["source"] = ["assert True\n"]
    result = grade(tmp_path, source, cells)
    assert scores(result) == {"q_square": 0, "q_softmax": 0, "q_counter": 1}
    assert result.max_score == 8


def test_renamed_solution_cell_scores_zero_with_a_message(tmp_path, source):
    cells = demo.demo_cells()
    cells[2]["metadata"]["nbgrader"]["grade_id"] = "my_square"
    result = grade(tmp_path, source, cells)
    assert scores(result) == {"q_square": 0, "q_softmax": 4, "q_counter": 1}
    assert "missing" in result.questions[0].message


@pytest.mark.parametrize("answer", [
    "import torch\n" + demo.SOFTMAX,
    "from scipy.special import softmax as sm\n" + demo.SOFTMAX,
    "import importlib\nsp = importlib.import_module('scipy.special')\n"
    "def softmax(x):\n    return getattr(sp, 'softmax')(x)\n",
    "def softmax(x):\n    __import__('stat' + 'istics')\n    e = np.exp(x - np.max(x))\n    return e / e.sum()\n",
])
def test_forbidden_names_score_zero(tmp_path, source, answer):
    result = grade(tmp_path, source, demo.demo_cells(softmax=answer))
    assert scores(result) == {"q_square": 3, "q_softmax": 0, "q_counter": 1}
    assert "forbidden" in result.questions[1].message


def test_a_forbidden_module_imported_by_an_earlier_instructor_cell_is_not_held_against_the_student(tmp_path):
    cells = demo.demo_cells()
    cells.insert(5, demo.code_cell("import statistics\n", grade_id="setup", solution=False, grade=False, locked=True))
    source = demo.write(tmp_path / "src.ipynb", demo.notebook(cells))
    result = grade_notebook(source, source, LIMITS, student="instructor")
    assert scores(result) == {"q_square": 3, "q_softmax": 4, "q_counter": 1}


def test_no_student_process_survives_grading(tmp_path, source):
    grade(tmp_path, source, demo.demo_cells(square=ATTACKS["fork_bomb"]))
    leftovers = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as file:
                if b"grader.student" in file.read():
                    leftovers.append(pid)
        except OSError:
            pass
    assert leftovers == []


def test_cells_after_the_last_test_do_not_run(tmp_path):
    """A lesson may end with minutes of training; grading stops at the last verdict."""
    training = "print('training started')\n"
    cells = demo.demo_cells() + [demo.code_cell(training, grade_id="long_training", solution=False, grade=False,
                                                locked=True), demo.code_cell(training)]
    source = demo.write(tmp_path / "src.ipynb", demo.notebook(cells))
    result = grade_notebook(source, source, LIMITS, student="instructor")
    assert (result.status, scores(result)) == ("ok", {"q_square": 3, "q_softmax": 4, "q_counter": 1})
    assert "training started" not in result.log
