"""nbgrader's ``### AUTOTEST`` lines: written out at release from the solution's values, then graded."""

import base64
import json
import os
import re
import subprocess
import sys
import zipfile

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "grader_fixtures"))
import demo  # noqa: E402

from grader import grade_submissions, problems, release_notebook  # noqa: E402
from grader.autotest import problems as autotest_problems  # noqa: E402
from grader.notebook import NotebookError, read_source  # noqa: E402
from grader.sandbox import Limits  # noqa: E402

# nbgrader's format (its docs' autotests.yml has the same keys), with fewer types.
TEMPLATES = """python3:
    setup: "from hashlib import sha1"
    hash: 'sha1({{snippet}}.encode("utf-8")+b"{{salt}}").hexdigest()'
    dispatch: "type({{snippet}})"
    normalize: "str({{snippet}})"
    check: 'assert {{snippet}} == \"\"\"{{value}}\"\"\", \"\"\"{{message}}\"\"\"'
    success: "print('Success!')"
    templates:
        default:
            - test: "type({{snippet}})"
              fail: "type of {{snippet}} is not correct"
            - test: "{{snippet}}"
              fail: "value of {{snippet}} is not correct"
        list:
            - test: "len({{snippet}})"
              fail: "length of {{snippet}} is not correct"
            - test: "{{snippet}}"
              fail: "order of elements of {{snippet}} is not correct"
"""
SOLUTION = "### BEGIN SOLUTION\na = 5\nb = 'hello'\nc = [1, 2, 'test']\n### END SOLUTION\n"
LIMITS = Limits(cell_timeout=20, total_timeout=60)


def lesson(folder, tests, solution=SOLUTION, templates=TEMPLATES):
    """A lesson of one question whose test cells are ``tests``: [(grade_id, code), ...]."""
    if templates is not None:
        (folder / "autotests.yml").write_text(templates)
    cells = [demo.solution("soln", solution)] + [demo.test(gid, code, 1) for gid, code in tests]
    return demo.write(folder / "auto.ipynb", demo.notebook(cells))


def cell_code(released, gid):
    return "".join(next(c for c in json.loads(released)["cells"] if c["id"] == f"{gid}-cell")["source"])


def check_payload(released):
    setup = "".join(json.loads(released)["cells"][0]["source"])
    packed = re.search(r"make_check\('auto', '([^']+)'\)", setup).group(1)
    return base64.b64decode(packed).decode()


def grade(source, folder, answers):
    """Scores of submissions whose solution cell is each of ``answers`` ({student: code})."""
    submitted = folder / "submitted"
    submitted.mkdir(exist_ok=True)
    notebook = json.load(open(source))
    for student, code in answers.items():
        notebook["cells"][0]["source"] = code.splitlines(keepends=True)
        demo.write(submitted / f"{student}.ipynb", notebook)
    return {r.student: r.score for r in grade_submissions(source, str(submitted), LIMITS, workers=1)}


def test_autotest_lines_become_asserts_that_grade_like_the_solution(tmp_path):
    source = lesson(tmp_path, [("t_values", "### AUTOTEST a; b\n### AUTOTEST c\n")])
    assert problems(read_source(source)) == [] and autotest_problems(read_source(source), source) == []
    released = release_notebook(source, LIMITS)
    code = cell_code(released, "t_values")
    assert "AUTOTEST" not in code and code.startswith("from hashlib import sha1\n")
    assert "assert str(type(a)) == \"\"\"<class 'int'>\"\"\", \"\"\"type of a is not correct\"\"\"" in code
    assert 'assert str(a) == """5"""' in code and 'assert str(b) == """hello"""' in code
    assert 'assert str(len(c)) == """3"""' in code and "assert str(c) == \"\"\"[1, 2, 'test']\"\"\"" in code
    assert code.rstrip().endswith("print('Success!')")
    assert release_notebook(source, LIMITS) == released  # the same bytes on every release
    scores = grade(source, tmp_path, {"solution": SOLUTION, "same values": "a = 2 + 3\nb = 'hel' + 'lo'\nc = [1, 2, 'test']\n",
                                      "wrong a": "a = 6\nb = 'hello'\nc = [1, 2, 'test']\n",
                                      "float a": "a = 5.0\nb = 'hello'\nc = [1, 2, 'test']\n"})
    assert scores == {"solution": 1, "same values": 1, "wrong a": 0, "float a": 0}
    untouched = tmp_path / "untouched"
    untouched.mkdir()
    (untouched / "release.ipynb").write_text(released)
    assert [r.score for r in grade_submissions(source, str(untouched), LIMITS, workers=1)] == [0]


def test_hashed_and_hidden_autotests_keep_their_values_from_students(tmp_path):
    tests = [("t_hashed", "### HASHED AUTOTEST b\n"),
             ("t_hidden", "### AUTOTEST type(c)\n### BEGIN HIDDEN TESTS\n### AUTOTEST c\n### END HIDDEN TESTS\n")]
    source = lesson(tmp_path, tests, solution=SOLUTION.replace("'hello'", "'zebra'").replace("'test'", "'quokka'"))
    released = release_notebook(source, LIMITS)
    hashed = cell_code(released, "t_hashed")
    assert "zebra" not in hashed and re.search(r'sha1\(str\(b\)\.encode\("utf-8"\)\+b"[0-9a-f]+"\)\.hexdigest\(\) == '
                                               r'"""[0-9a-f]{40}"""', hashed)
    hidden = cell_code(released, "t_hidden")
    assert "<class 'list'>" in hidden and "quokka" not in hidden and "HIDDEN" not in hidden
    assert "quokka" not in check_payload(released) and "quokka" not in released
    right = SOLUTION.replace("'hello'", "'zebra'").replace("'test'", "'quokka'")
    scores = grade(source, tmp_path, {"right": right, "wrong hidden": right.replace("quokka", "emu"),
                                      "wrong hashed": right.replace("zebra", "Zebra")})
    assert scores == {"right": 2, "wrong hidden": 1, "wrong hashed": 1}


def test_a_helper_an_earlier_test_defines_serves_later_autotests(tmp_path):
    """nbgrader's docs course: one test cell defines test_func_throws, later cells' AUTOTEST lines call it."""
    solution = "def f(x):\n    ### BEGIN SOLUTION\n    if x < 0:\n        raise ValueError('negative')\n" \
               "    return x\n    ### END SOLUTION\n"
    helper = ("def throws(func, error):\n    try:\n        func()\n    except error:\n        return True\n"
              "    return False\n### AUTOTEST throws(lambda: f(-1), ValueError)\n"
              "f = None  # a lesson's name: later tests still get the student's f\n")
    source = lesson(tmp_path, [("t_helper", helper), ("t_later", "### AUTOTEST throws(lambda: f(-4), ValueError); f(3)\n")],
                    solution=solution)
    later = cell_code(release_notebook(source, LIMITS), "t_later")
    assert 'assert str(throws(lambda: f(-4), ValueError)) == """True"""' in later
    scores = grade(source, tmp_path, {"right": solution, "never raises": "def f(x):\n    return x\n"})
    assert scores == {"right": 2, "never raises": 0}


@pytest.mark.parametrize("tests, solution, templates, message", [
    ([("t", "### AUTOTEST a\n")], SOLUTION, None, "no autotests.yml next to it"),
    ([("t", "### AUTOTEST a\n")], SOLUTION, "python2:\n  dispatch: x\n", "no section for the notebook's kernel 'python3'"),
    ([("t", "### AUTOTEST a\n")], SOLUTION, "python3:\n  dispatch: x\n", "lacks normalize, check, templates"),
    ([("t", "### AUTOTEST a\n")], SOLUTION, "python3: [unclosed\n", "cannot be read as YAML"),
    ([("t", "### HASHED AUTOTEST a\n")], SOLUTION, TEMPLATES.replace("    hash:", "    unused:"), "no 'hash' template"),
    ([("t", "assert a == 5\n#   AUTOTEST   \n")], SOLUTION, TEMPLATES, "AUTOTEST line with no expression"),
    ([("t", "assert a == 5\n")], SOLUTION + "# AUTOTEST a\n", TEMPLATES, "AUTOTEST line outside a test cell"),
])
def test_validate_says_what_stops_autotests(tmp_path, tests, solution, templates, message):
    source = lesson(tmp_path, tests, solution=solution, templates=templates)
    run = subprocess.run([sys.executable, "-m", "grader", "validate", source], capture_output=True, text=True,
                         cwd=tmp_path.parent)  # no autotests.yml in the current folder either
    assert run.returncode == 1 and message in run.stdout, run.stdout
    with pytest.raises(NotebookError, match=re.escape(message)):
        release_notebook(source, LIMITS)


@pytest.mark.parametrize("kernel, message", [("ir", "AUTOTEST lines of a 'ir' notebook: this grader runs Python"),
                                             ("", "the notebook names no kernel")])
def test_autotests_need_a_python_kernel(tmp_path, kernel, message):
    source = lesson(tmp_path, [("t", "### AUTOTEST a\n")])
    notebook = read_source(source)
    notebook["metadata"]["kernelspec"]["name"] = kernel
    assert any(message in problem for problem in autotest_problems(notebook, source))


@pytest.mark.parametrize("snippet, message", [
    ("nothing_here", "writing out its AUTOTEST lines, 'nothing_here' raised NameError"),
    ("box", "AUTOTEST 'box' is an object that stays in the student's process"),
    ("[box]", "AUTOTEST '[box]' is an object that stays in the student's process"),
    ("{'x': set(b)}", "AUTOTEST \"{'x': set(b)}\" is a set, whose printed order depends on how it was built"),
])
def test_release_refuses_in_one_line_what_it_cannot_write_out(tmp_path, snippet, message):
    """An expression that fails on the solution, or whose text the student's code would write."""
    source = lesson(tmp_path, [("t", f"### AUTOTEST {snippet}\n")],
                    solution=SOLUTION + "class Box:\n    pass\nbox = Box()\n")
    assert problems(read_source(source)) == []  # the format is fine: only running the solution tells
    run = subprocess.run([sys.executable, "-m", "grader", "release", source, "-o", str(tmp_path / "out")],
                         capture_output=True, text=True, env=dict(os.environ, GLOG_v="3"))
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and message in run.stderr, run.stderr
    assert not (tmp_path / "out" / "auto.ipynb").exists()
    lint = subprocess.run([sys.executable, "-m", "grader", "validate", source], capture_output=True, text=True,
                          env=dict(os.environ, GLOG_v="3"))
    assert lint.returncode == 1 and message in lint.stdout, lint.stdout  # validate runs it as release does


def test_the_gradescope_zip_carries_the_written_out_tests(tmp_path):
    """The container never needs autotests.yml: the zip's source has the asserts already."""
    source = lesson(tmp_path, [("t_values", "### AUTOTEST a\n")])
    archive = tmp_path / "autograder.zip"
    run = subprocess.run([sys.executable, "-m", "grader", "gradescope-autograder", source, "-o", str(archive)],
                         capture_output=True, text=True, env=dict(os.environ, GLOG_v="3"))
    assert run.returncode == 0, run.stderr
    with zipfile.ZipFile(archive) as opened:
        zipped = json.loads(opened.read("source/auto.ipynb"))
    code = "".join(zipped["cells"][1]["source"])
    assert "AUTOTEST" not in code and 'assert str(a) == """5"""' in code
