"""Authoring format, validate, release and the student's instant check()."""

import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "grader_fixtures"))
import demo  # noqa: E402

from grader import problems, release_notebook  # noqa: E402
from grader.release import STUB  # noqa: E402

PYTHON = sys.executable


@pytest.fixture
def source(tmp_path):
    return demo.write(tmp_path / "demo.ipynb", demo.notebook(demo.demo_cells()))


def cli(*args, cwd=None):
    return subprocess.run([PYTHON, "-m", "grader", *args], capture_output=True, text=True, cwd=cwd,
                          env=dict(os.environ, GLOG_v="3"))


def test_demo_source_is_valid(source):
    assert problems(json.load(open(source))) == []
    assert cli("validate", source).returncode == 0


@pytest.mark.parametrize("change, message", [
    (lambda cells: cells[3]["metadata"]["nbgrader"].update(grade_id="q_square"), "used twice"),
    (lambda cells: cells[3]["metadata"]["nbgrader"].pop("points"), "points"),
    (lambda cells: cells[2]["source"].remove("    ### END SOLUTION\n"), "never closed"),
    (lambda cells: cells[4]["source"].append("### BEGIN HIDDEN TESTS\n"), "never closed"),
    (lambda cells: cells.pop(9), "'q_counter' has no test cell"),
    (lambda cells: cells[5]["metadata"]["grader"].update(forbidden="torch"), "list of names"),
    (lambda cells: cells[3]["source"].append("assert (\n"), "not valid Python"),
    (lambda cells: cells[3]["metadata"]["nbgrader"].update(points=float("nan")), "finite"),
    (lambda cells: cells[3]["metadata"]["nbgrader"].update(schema_version=99), "newer than this grader"),
    (lambda cells: cells[3]["metadata"]["nbgrader"].update(grade_id=""), "non-empty string"),
    (lambda cells: cells[2]["source"].insert(0, "# AUTOTEST square(2)\n"), "AUTOTEST line outside a test cell"),
    (lambda cells: cells.insert(4, dict(demo.test("essay", "", 2), cell_type="markdown")), "a manually graded answer"),
    (lambda cells: cells.insert(4, dict(demo.code_cell("", grade_id="t", task=True))), "must be a markdown cell"),
    (lambda cells: cells[3].update(source=["# assert square(3) == 9\n"]), "only comments"),
    (lambda cells: cells.__setitem__(slice(None), cells[1:2]), "no questions"),  # a locked cell, nothing to grade
    (lambda cells: cells[3]["source"].append("#assert square(4) == 16  # later\n"), "line 3 is an assert inside"),
])
def test_validate_names_each_problem(tmp_path, change, message):
    cells = demo.demo_cells()
    change(cells)
    path = demo.write(tmp_path / "bad.ipynb", demo.notebook(cells))
    found = problems(json.load(open(path)))
    assert any(message in problem for problem in found), found
    run = cli("validate", path)
    assert run.returncode == 1 and message in run.stdout


def test_nbgrader_formats_are_read_as_nbgrader_reads_them(tmp_path):
    """Any line holding a marker is one; toolbar ids are fine; schema 0 metadata is upgraded."""
    cells = demo.demo_cells()
    cells[2]["source"] = [line.replace("### BEGIN", "## BEGIN") for line in cells[2]["source"]]
    cells[3]["metadata"]["nbgrader"].update(grade_id="cell-0123456789abcdef")
    del cells[3]["metadata"]["nbgrader"]["schema_version"]
    cells[3]["metadata"]["nbgrader"]["points"] = "2"
    path = demo.write(tmp_path / "old.ipynb", demo.notebook(cells))
    run = cli("validate", path)
    assert run.returncode == 0, run.stdout


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b"\xff\xfe"])
def test_cli_reports_bad_input_in_one_line(tmp_path, content):
    path = tmp_path / "broken.ipynb"
    path.write_bytes(content)
    for args in (["validate", str(path)], ["release", str(path), "-o", str(tmp_path / "out")]):
        run = cli(*args)
        assert run.returncode == 2
        assert run.stderr.startswith("error: ") and len(run.stderr.strip().splitlines()) == 1


def test_cli_help_lists_commands():
    run = cli("--help")
    assert run.returncode == 0 and all(word in run.stdout for word in ("validate", "release", "grade",
                                                                        "gradescope-autograder"))
    assert all(option in cli("grade", "--help").stdout for option in ("--extra-tests", "--strict"))
    missing = cli("gradescope-autograder", "nope.ipynb", "-o", "x.zip")
    assert missing.returncode == 2 and missing.stderr == "error: cannot read nope.ipynb: No such file or directory\n"


def test_release_strips_solutions_and_hidden_tests(source):
    released = json.loads(release_notebook(source))
    text = json.dumps(released)
    assert "x * x" not in text and demo.SECRET not in text and "HIDDEN" not in text and "BEGIN SOLUTION" not in text
    cells = {c["id"]: c for c in released["cells"]}
    assert "".join(cells["q_square-cell"]["source"]) == "def square(x):\n    " + "\n    ".join(STUB) + "\n"
    assert "".join(cells["t_square_more-cell"]["source"]) == "assert square(-2) == 4\n"
    for cid in ("t_square-cell", "t_square_more-cell", "imports-cell"):
        assert cells[cid]["metadata"]["editable"] is False and cells[cid]["metadata"]["deletable"] is False
    assert cells["q_square-cell"]["metadata"].get("editable", True) is True
    assert released["cells"][0]["id"] == "grader-setup"
    assert released["metadata"]["grader"] == {"assignment": "demo"}


def test_release_clears_outputs_and_is_byte_identical(tmp_path, source):
    data = json.load(open(source))
    data["cells"][2]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["hi\n"]}]
    data["cells"][2]["execution_count"] = 7
    demo.write(source, data)
    first = release_notebook(source)
    assert all(c.get("outputs", []) == [] for c in json.loads(first)["cells"])
    out = tmp_path / "assignments"
    assert cli("release", source, "-o", str(out)).returncode == 0
    assert (out / "demo.ipynb").read_text(encoding="utf-8") == first == release_notebook(source)


def released_kernel(source):
    """A namespace in which the release's first cell (the one that defines check) has run."""
    scope = {}
    exec("".join(json.loads(release_notebook(source))["cells"][0]["source"]), scope)
    return scope


def test_check_in_a_released_notebook(tmp_path, source, capsys):
    """Run the release's setup cell, a half-written answer, then check()."""
    scope = released_kernel(source)
    exec("import numpy as np\ndef square(x):\n    return x + x\n", scope)
    exec("check(\'q_square\')", scope)
    out = capsys.readouterr().out
    assert "q_square: 0/2 visible tests passed" in out
    assert "square(3) should be 9" in out and "hint: multiply x by itself" in out
    assert "assertion failed: assert square(-2) == 4" in out
    assert demo.SECRET not in out

    exec("def square(x):\n    return x * x\n", scope)
    exec("check(\'q_square\')", scope)
    assert "q_square: 2/2 visible tests passed" in capsys.readouterr().out

    exec("check(\'q_softmax\')", scope)  # still the stub, or not even defined: no crash
    assert "0/1 visible tests passed" in capsys.readouterr().out
    exec("check(\'nope\')", scope)
    assert "Questions: q_square, q_softmax, q_counter" in capsys.readouterr().out


def test_check_tells_a_test_it_is_validating_as_nbgrader_does(tmp_path, capsys):
    cells = [demo.solution("q_square", demo.SQUARE),
             demo.test("t_mode", "import os\nassert os.getenv('NBGRADER_EXECUTION') == 'validate'\n", 1)]
    scope = released_kernel(demo.write(tmp_path / "mode.ipynb", demo.notebook(cells)))
    exec("check('q_square')", scope)
    assert "q_square: 1/1 visible tests passed" in capsys.readouterr().out
    assert "NBGRADER_EXECUTION" not in os.environ  # only while the test runs


def test_check_sees_the_students_names_as_the_grader_does(tmp_path, capsys):
    # A student's `abs` (or `len`, or `range`) never replaces the tests' builtins, in check() as in grading.
    scope = released_kernel(demo.write(tmp_path / "stats.ipynb", demo.notebook(demo.stats_cells())))
    exec("abs = lambda x: 0.0\ndef mean(xs):\n    return 0.0\n", scope)
    exec("check('q_mean')", scope)
    assert "q_mean: 0/3 visible tests passed" in capsys.readouterr().out


def test_check_stops_an_endless_loop(tmp_path, source, capsys, monkeypatch):
    from grader import check

    monkeypatch.setattr(check, "TIME_LIMIT_S", 0.5)
    scope = released_kernel(source)
    exec("def square(x):\n    while True:\n        pass\n", scope)
    exec("check(\'q_square\')", scope)
    assert "took longer than 0.5 s" in capsys.readouterr().out


def test_a_test_setup_cell_serves_every_test_and_never_reaches_the_student(tmp_path, capsys):
    helper = demo.code_cell("def expected_square(x):\n    return x * x\n", grade_id="helpers", solution=False,
                            grade=False, locked=True)
    helper["metadata"]["grader"] = {"test_setup": True}
    cells = demo.demo_cells()
    cells.insert(1, helper)
    cells[4]["source"] = ["assert square(3) == expected_square(3)\n"]  # t_square uses the helper
    source = demo.write(tmp_path / "demo.ipynb", demo.notebook(cells))
    assert problems(json.load(open(source))) == []
    released = json.loads(release_notebook(source))
    assert "helpers" not in {c["id"] for c in released["cells"]} and all(
        "def expected_square" not in "".join(c["source"]) for c in released["cells"][1:])
    from grader import grade_notebook
    from grader.sandbox import Limits

    limits = Limits(cell_timeout=5, total_timeout=60)
    assert grade_notebook(source, source, limits).score == 8
    cheat = demo.write(tmp_path / "cheat.ipynb", demo.notebook(
        demo.demo_cells(square="def square(x):\n    return 0\ndef expected_square(x):\n    return 0\n"),
        assignment="demo"))
    assert grade_notebook(source, cheat, limits).questions[0].score == 0  # the student cannot replace the helper
    scope = released_kernel(source)
    exec("def square(x):\n    return x * x\n", scope)
    exec("check('q_square')", scope)
    assert "q_square: 2/2 visible tests passed" in capsys.readouterr().out


@pytest.mark.parametrize("change, message", [
    (lambda cell: cell.update(source=["x = (\n"]), "test setup is not valid Python"),
    (lambda cell: cell.update(source=["### BEGIN HIDDEN TESTS\n", "x = 1\n", "### END HIDDEN TESTS\n"]), "cannot hide"),
    (lambda cell: cell["metadata"]["nbgrader"].update(solution=True), "neither a solution nor a test"),
])
def test_a_test_setup_cell_is_validated(tmp_path, change, message):
    helper = demo.code_cell("x = 1\n", grade_id="helpers", solution=False, grade=False, locked=True)
    helper["metadata"]["grader"] = {"test_setup": True}
    change(helper)
    assert any(message in p for p in problems(demo.notebook([helper] + demo.demo_cells())))
