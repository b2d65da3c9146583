"""The kit's attack suite: every class of attack on the grader, each with the exact score it must get.

The demo lesson has q_square (3 points: 1 visible + 2 with a hidden test),
q_softmax (4, with forbidden names) and q_counter (1).  Most attacks leave
softmax and Counter correct, so a score of 5 means "the attack earned nothing
and broke nothing".  The stats lesson (``demo.stats_cells``) has tests that
lean on builtins, a visible helper and a visible loop reached with hidden
cases, and NumPy bans: q_mean (6 points) and q_norm (3).
"""

import ast
import json
import os
import pathlib
import socket
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "grader_fixtures"))
import demo  # noqa: E402

import grader  # noqa: E402
from grader import feedback  # noqa: E402
from grader.grade import grade_notebook, grade_submissions  # noqa: E402
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


# Attacks whose code reaches into the interpreter: in a lesson with forbidden names, that code
# also costs the later question that forbids names (its check cannot follow such code).
REACHING_ATTACKS = {
    "rewrite_assert_and_builtins": (
        "import builtins\nbuiltins.AssertionError = type('Nothing', (Exception,), {})\n"
        "builtins.all = lambda x: True\nbuiltins.abs = lambda x: 0\n"
        "get_ipython().user_ns['__builtins__'].__dict__['any'] = lambda x: True\n"
        "def square(x):\n    return 0\n"),
    "monkeypatch_numpy_and_grader": (
        "import numpy as np, sys\nnp.testing.assert_allclose = lambda *a, **k: None\n"
        "np.allclose = lambda *a, **k: True\n"
        "import grader.proxy, grader.grade\ngrader.proxy.ask = lambda *a, **k: 9\n"
        "grader.grade.test_result = lambda *a, **k: None\nsys.modules['grader'].grade = None\n"
        "def square(x):\n    return 0\n"),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_earns_nothing(tmp_path, source, name):
    result = grade(tmp_path, source, demo.demo_cells(square=ATTACKS[name]))
    assert scores(result) == {"q_square": 0, "q_softmax": 4, "q_counter": 1}, result
    assert result.status == "ok"


@pytest.mark.parametrize("name", sorted(REACHING_ATTACKS))
def test_attack_reaching_into_the_interpreter_earns_nothing(tmp_path, source, name):
    result = grade(tmp_path, source, demo.demo_cells(square=REACHING_ATTACKS[name]))
    assert scores(result) == {"q_square": 0, "q_softmax": 0, "q_counter": 1}, result
    assert "cannot follow" in result.questions[1].message and result.status == "ok"


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
    # The bomb's processes carry a mark of this test on their command line (other tests may be grading too).
    mark = f"bomb-{os.getpid()}-{time.monotonic_ns()}"
    bomb = ("import os, sys\nfor _ in range(100):\n    try:\n        pid = os.fork()\n    except OSError:\n"
            "        break\n    if pid == 0:\n        os.setsid()\n"
            f"        os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(600)', {mark!r}])\n"
            "def square(x):\n    return -1\n")
    grade(tmp_path, source, demo.demo_cells(square=bomb))
    leftovers = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as file:
                if mark.encode() in file.read():
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


# ---- the scope of a test: only the grader decides which names exist ------------------------------


@pytest.fixture(scope="module")
def stats(tmp_path_factory):
    return demo.write(tmp_path_factory.mktemp("stats") / "stats.ipynb", demo.notebook(demo.stats_cells()))


def grade_stats(tmp_path, stats, **answers):
    submission = demo.write(tmp_path / "stats.ipynb", demo.notebook(demo.stats_cells(**answers), assignment="stats"))
    return grade_notebook(stats, submission, LIMITS, student="attacker")


def hidden_values_absent(result):
    text = json.dumps(result.to_dict())
    return demo.HIDDEN_MEAN not in text and str(demo.HIDDEN_CASE[0]) not in text


def test_the_stats_lesson_scores_full_marks_as_written(tmp_path, stats):
    assert scores(grade_notebook(stats, stats, LIMITS)) == {"q_mean": 6, "q_norm": 3}


@pytest.mark.parametrize("shadow", [
    "abs = lambda x: 0.0\n", "range = lambda *a: []\n", "all = lambda x: True\n", "len = lambda x: 1\n",
    "zip = lambda *a: []\n", "map = lambda *a: []\n", "sum = lambda xs: 0\n",
    "abs, range, all, zip, map = (lambda *a: 0.0), (lambda *a: []), (lambda x: True), (lambda *a: []), (lambda *a: [])\n",
])
def test_student_names_never_shadow_builtins_in_tests(tmp_path, stats, shadow):
    # `assert abs(mean(...) - 2.5) < 1e-9` with a student's `abs` returning 0 passed for any answer.
    result = grade_stats(tmp_path, stats, mean=shadow + "def mean(xs):\n    return 0.0\n")
    assert scores(result) == {"q_mean": 0, "q_norm": 3}, result


def test_names_the_student_process_reports_beyond_those_asked_for_end_the_submission(tmp_path, source):
    # The student process is the student's: a patched server that reports a `__builtins__` with its own
    # `__import__`, or a fake `np`, must not become anything a test sees.
    forged = ("import grader.student\nreal = grader.student.Server.op_names\n"
              "def op_names(self, header, blobs, out):\n    reply = real(self, header, blobs, out)\n"
              "    reply['$dict'] += [['np', 1], ['__builtins__', {'$dict': []}]]\n    return reply\n"
              "grader.student.Server.op_names = op_names\n")
    result = grade(tmp_path, source, demo.demo_cells(counter=demo.COUNTER + forged))
    assert result.status == "crashed" and "malformed" in result.message
    assert scores(result) == {"q_square": 3, "q_softmax": 4, "q_counter": 0}


@pytest.mark.parametrize("reply", [
    "{'$dict': [['square', {'$handle': 'x', 'type': 1}]]}",   # a handle that is not one
    "{'$dict': 5}", "[1] * 3_000_000", "{'$tuple': 3}", "{'$bytes': '!!'}", "{'$scalar': 0}",
    "{'$dict': [[[1], 2]]}",                                    # an unhashable key
    "{'$set': [[1]]}", "{'$frozenset': 2}",                     # an unhashable member, a set that is not a list
])
def test_every_malformed_answer_ends_the_submission_quickly(tmp_path, source, reply):
    forged = ("import grader.student\n"
              f"grader.student.Server.op_names = lambda self, header, blobs, out: {reply}\n")
    start = time.monotonic()
    result = grade(tmp_path, source, demo.demo_cells(counter=demo.COUNTER + forged))
    assert time.monotonic() - start < 20
    assert result.status == "crashed" and "malformed" in result.message, result
    assert scores(result) == {"q_square": 3, "q_softmax": 4, "q_counter": 0}


def test_a_malformed_error_report_ends_the_submission(tmp_path, source):
    forged = ("import grader.student\n"
              "grader.student.describe = lambda error: {'type': ['ValueError'], 'message': 5, 'builtin': 'yes'}\n"
              "def square(x):\n    raise ValueError('no')\n")
    result = grade(tmp_path, source, demo.demo_cells(square=forged))
    assert result.status == "crashed" and result.score == 0


@pytest.mark.parametrize("raised", ["StopIteration", "StopAsyncIteration", "GeneratorExit", "KeyboardInterrupt",
                                    "SystemExit"])
def test_control_flow_exceptions_from_student_code_never_steer_a_test(tmp_path, stats, raised):
    # all(map(mean, cases)) ended early, and so passed, when mean raised StopIteration.
    answer = ("def mean(xs):\n    if xs == [1, 2, 3, 4]:\n        return 2.5\n"
              "    if xs == list(range(len(xs))):\n        return (len(xs) - 1) / 2\n"
              f"    raise {raised}\n")
    result = grade_stats(tmp_path, stats, mean=answer)
    assert result.questions[0].tests[0].status == "error", result
    assert scores(result) == {"q_mean": 0, "q_norm": 3}


def test_common_exceptions_can_still_be_caught_by_their_builtin_type(tmp_path, source):
    cells = demo.demo_cells(square="def square(x):\n    if x < 0:\n        raise ValueError('negative')\n"
                                   "    return x * x\n")
    cells.insert(4, demo.test("t_square_raises", "try:\n    square(-1)\nexcept ValueError as error:\n"
                                                 "    assert 'negative' in str(error)\nelse:\n"
                                                 "    raise AssertionError('square(-1) should raise')\n", 1))
    src = demo.write(tmp_path / "src.ipynb", demo.notebook(cells))
    result = grade_notebook(src, src, LIMITS)
    assert [t.status for t in result.questions[0].tests] == ["pass", "pass", "error"]


# ---- forbidden names -----------------------------------------------------------------------------


def honest_norm(body):
    return "def norm(v):\n" + "".join(f"    {line}\n" for line in body.splitlines()) + \
        "    return float(np.sqrt((np.asarray(v, dtype=float) ** 2).sum()))\n"


@pytest.mark.parametrize("case, extra, norm", [
    ("in the answer", [], "def norm(v):\n    return float(np.linalg.norm(v))\n"),
    ("in an added cell the answer calls", [demo.code_cell("def helper(v):\n    return np.linalg.norm(v)\n")],
     "def norm(v):\n    return float(helper(v))\n"),
    ("in another question's answer", [], "def norm(v):\n    return float(length(v))\n"),
    ("defined in an added cell under the tested name", [demo.code_cell(
        "from numpy.linalg import norm as library_norm\ndef norm(v):\n    return float(library_norm(v))\n")],
     "pass\n"),
    ("through an alias", [demo.code_cell("la = np.linalg\n")], "def norm(v):\n    return float(la.norm(v))\n"),
    ("through getattr", [], "def norm(v):\n    return float(getattr(np.linalg, 'norm')(v))\n"),
    ("with a computed name", [], "def norm(v):\n    return float(getattr(np.linalg, 'mron'[::-1])(v))\n"),
    ("with importlib", [], "import importlib\ndef norm(v):\n    return importlib.import_module('scipy.linalg').norm(v)\n"),
    ("through sys.modules", [], "import sys\ndef norm(v):\n    return sys.modules['numpy'].linalg.norm(v)\n"),
    ("by reflection", [], "def norm(v):\n    return np.__dict__['linalg'].norm(v)\n"),
    ("by passing the module on", [demo.code_cell("def call(m, v):\n    return m.norm(v)\n")],
     "def norm(v):\n    return float(call(np.linalg, v))\n"),
    ("by patching NumPy", [demo.code_cell("np.sqrt = lambda x: x\n")], honest_norm("pass")),
    ("with eval", [], "def norm(v):\n    return eval('np.lin' + 'alg.norm(v)')\n"),
    ("with a shell command", [demo.code_cell("!python -c 'import scipy'\n")], honest_norm("pass")),
    ("with an input transformer", [demo.code_cell(
        "get_ipython().input_transformers_post.append(lambda lines: [l for l in lines if 'skip' not in l])\n")],
     honest_norm("pass")),
    ("in a module the student wrote", [demo.code_cell("open('mine.py', 'w').write('from numpy.linalg import norm')\n")],
     "import mine\ndef norm(v):\n    return float(mine.norm(v))\n"),
])
def test_forbidden_names_are_found_wherever_the_student_puts_them(tmp_path, stats, case, extra, norm):
    mean = demo.MEAN + "def length(v):\n    return np.linalg.norm(v)\n"
    result = grade_stats(tmp_path, stats, mean=mean, extra=extra, norm=norm)
    assert scores(result)["q_norm"] == 0, (case, result.questions[1])
    assert "forbidden" in result.questions[1].message, case


def test_a_cell_that_is_not_python_is_not_run_so_it_hides_nothing(tmp_path, stats):
    # A cell the checker cannot parse was "nothing used", and the student's own input transformer
    # could remove the offending line before it ran.  Such a cell never reaches the student's shell.
    broken = demo.code_cell("from numpy.linalg import norm as library_norm\nthis line is not python\n")
    result = grade_stats(tmp_path, stats, extra=[broken], norm="def norm(v):\n    return float(library_norm(v))\n")
    assert scores(result) == {"q_mean": 6, "q_norm": 0}
    assert "was not run: it is not valid Python (line 2" in result.message, result.message


@pytest.mark.parametrize("norm", [
    honest_norm("linalg = {'norm': 1.0}\nspecial = 'norm'"),        # words shared with a forbidden name
    honest_norm("class Vector:\n    norm = 1\nVector().norm"),        # an attribute named like one
    honest_norm("scipy = 'a variable, not the module'\nnorm_of_v = scipy"),
    "def norm(v):\n    return float(np.sqrt(np.dot(v, v)))\n",          # np itself is allowed
])
def test_honest_answers_that_share_words_with_forbidden_names_keep_their_points(tmp_path, stats, norm):
    result = grade_stats(tmp_path, stats, norm=norm)
    assert scores(result) == {"q_mean": 6, "q_norm": 3}, result.questions[1]


def test_a_forbidden_name_used_honestly_by_another_question_is_not_held_against_this_one(tmp_path, stats):
    # q_mean's answer uses np.linalg.norm for its own purposes; q_norm never calls it.
    mean = demo.MEAN + "def spread(xs):\n    return np.linalg.norm(xs)\nprint(spread([3, 4]))\n"
    assert scores(grade_stats(tmp_path, stats, mean=mean)) == {"q_mean": 6, "q_norm": 3}


# ---- submissions that are not what they seem --------------------------------------------------------


def test_a_symlinked_submission_is_not_followed(tmp_path, source):
    submissions = tmp_path / "submitted"
    (submissions / "carol").mkdir(parents=True)
    os.symlink(source, submissions / "alice.ipynb")                  # "submits" the instructor's source
    os.symlink(source, submissions / "carol" / "demo.ipynb")
    os.symlink(os.path.dirname(source), submissions / "dave")
    os.mkfifo(submissions / "erin.ipynb")                              # would block a reader forever
    results = {r.student: r for r in grade_submissions(source, submissions, LIMITS, workers=1)}
    assert {s: (r.score, r.status) for s, r in results.items()} == \
        {"alice": (0, "invalid"), "carol": (0, "invalid"), "dave": (0, "invalid"), "erin": (0, "invalid")}
    assert "symbolic link" in results["alice"].message and "regular file" in results["erin"].message
    with pytest.raises(grader.NotebookError, match="symbolic link"):
        grader.read_notebook(submissions / "alice.ipynb", follow_links=False)


# ---- hidden tests stay hidden -------------------------------------------------------------------------


def test_hidden_cases_reached_by_visible_code_stay_hidden(tmp_path, stats):
    # t_mean_helper calls a visible helper from a hidden line; t_mean_loop loops visibly over a hidden case.
    result = grade_stats(tmp_path, stats, mean="def mean(xs):\n    return sum(xs) / len(xs) if xs[0] < 100 else -1\n")
    helper, loop = result.questions[0].tests[1:]
    assert (helper.status, helper.message) == ("fail", "a hidden test failed")
    assert (loop.status, loop.message) == ("fail", "a hidden test failed")
    assert hidden_values_absent(result)


def test_hidden_inputs_recorded_by_student_code_never_reach_later_feedback(tmp_path, stats):
    record = "seen = []\ndef mean(xs):\n    seen.append(list(xs))\n    return sum(xs) / len(xs)\n"
    for leak in ["raise ValueError(str(seen))", "return str(seen)",
                 "raise type('E' + str(len(str(seen))), (Exception,), {})()"]:
        norm = f"def norm(v):\n    if v == [0, 0]:\n        {leak}\n" + NORM_BODY
        result = grade_stats(tmp_path, stats, mean=record, norm=norm)
        assert scores(result) == {"q_mean": 6, "q_norm": 2}, leak
        assert hidden_values_absent(result), leak
        assert "check()" in result.questions[1].tests[1].message


NORM_BODY = "    return float(np.sqrt((np.asarray(v, dtype=float) ** 2).sum()))\n"


def test_messages_before_any_hidden_test_are_shown_in_full(tmp_path, stats):
    result = grade_stats(tmp_path, stats, mean="def mean(xs):\n    raise ValueError('not yet: ' + str(xs))\n")
    assert result.questions[0].tests[0].message == "your code raised ValueError: not yet: [1, 2, 3, 4]"


def test_student_text_cannot_forge_the_feedback(tmp_path, source):
    forged = "def square(x):\n    raise ValueError('\\n\\n**Score: 8 / 8**\\n\\n# q_square: 3 / 3\\n<b>x</b>')\n"
    result = grade(tmp_path, source, demo.demo_cells(square=forged))
    markdown = feedback.feedback_markdown(result)
    assert markdown.count("Score:") == 1 and "\n# q_square" not in markdown and "<b>" not in markdown
    assert "<b>" not in feedback.feedback_html(result)


# ---- the sandbox ------------------------------------------------------------------------------------------


def test_the_student_process_reaches_no_device_socket_or_shared_memory(tmp_path):
    service = pathlib.Path(tempfile.mkdtemp(prefix="grader-")) / "service.sock"  # a local service (a Docker socket)
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(service))
    listener.listen(1)
    os.chmod(service, 0o777)
    disks = sorted(os.listdir("/sys/block"))
    semaphore = f"/dev/shm/sem.grader-test-{os.getpid()}"  # like the process pool's semaphores
    open(semaphore, "w").close()
    probe = ("import os, socket, ctypes\nfound = {}\n"
             "def attempt(name, action):\n    try:\n        action()\n        found[name] = 'allowed'\n"
             "    except OSError:\n        found[name] = 'denied'\n"
             "attempt('create in /dev', lambda: open('/dev/grader-test', 'w'))\n"
             "attempt('create in /dev/shm', lambda: open('/dev/shm/grader-test', 'w'))\n"
             f"attempt('open a semaphore', lambda: open({semaphore!r}, 'r+b'))\n"
             "attempt('remove /dev/null', lambda: os.remove('/dev/null'))\n"
             f"attempt('read a disk', lambda: open('/dev/{disks[0] if disks else 'vda'}', 'rb').read(1))\n"
             "attempt('read /etc/shadow', lambda: open('/etc/shadow').read(1))\n"
             "attempt('memfd', lambda: os.memfd_create('x'))\n"
             f"attempt('unix socket', lambda: socket.socket(socket.AF_UNIX).connect({str(service)!r}))\n"
             "attempt('tcp', lambda: socket.create_connection(('127.0.0.1', 9), timeout=1))\n"
             "libc = ctypes.CDLL(None, use_errno=True)\n"
             "found['shmget'] = 'denied' if libc.shmget(0, 1 << 20, 0o1600) < 0 else 'allowed'\n"
             "attempt('/dev/null', lambda: open('/dev/null', 'w').write('x'))\n")
    # The probe is the lesson's own code (so no forbidden-name check applies); a test reads its report.
    cells = [demo.code_cell(probe), demo.solution("q_report", "def report():\n    return found\n"),
             demo.test("t_report", "assert False, repr(report())\n", 1)]
    source = demo.write(tmp_path / "probe.ipynb", demo.notebook(cells))
    result = grade_notebook(source, source, LIMITS)
    listener.close()
    os.remove(semaphore)
    found = ast.literal_eval(result.questions[0].tests[0].message)
    assert found.pop("/dev/null") == "allowed"
    assert set(found.values()) == {"denied"}, found
    assert not os.path.exists("/dev/grader-test") and not os.path.exists("/dev/shm/grader-test")


def test_a_student_process_that_stops_reading_cannot_hang_the_grader(tmp_path):
    # The test sends 8 MB to student code whose process no longer reads its requests.
    # Its requests after this cell: seed, names, then the call, which it never reads.
    stall = ("import grader.wire, signal, time\nreal, count = grader.wire.recv, [0]\n"
             "def recv(fd, deadline=None):\n    count[0] += 1\n    if count[0] == 3:\n"
             "        signal.signal(signal.SIGINT, signal.SIG_IGN)\n        time.sleep(600)\n"
             "    return real(fd, deadline)\n"
             "grader.wire.recv = recv\n")
    cells = [demo.solution("q_sum", stall + "def total(values):\n    return float(values.sum())\n"),
             demo.test("t_sum", "import numpy as np\nassert total(np.ones(10**6)) == 10**6\n", 1)]
    source = demo.write(tmp_path / "stall.ipynb", demo.notebook(cells))
    start = time.monotonic()
    result = grade_notebook(source, source, LIMITS)
    assert time.monotonic() - start < 30
    assert result.score == 0 and result.questions[0].tests[0].status == "timeout"
