"""Batch grading: gradebook, feedback, isolation between submissions, idempotence, MindSpore values."""

import csv
import json
import os
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "grader_fixtures"))
import demo  # noqa: E402

from grader import grade_notebook, grade_submissions, problems, release_notebook, write_reports  # noqa: E402
from grader.sandbox import Limits  # noqa: E402

LIMITS = Limits(cell_timeout=3, total_timeout=30, memory_mb=512)


@pytest.fixture(scope="module")
def lesson(tmp_path_factory):
    """A source notebook, its release, and a folder of varied submissions."""
    root = tmp_path_factory.mktemp("lesson")
    source = demo.write(root / "demo.ipynb", demo.notebook(demo.demo_cells()))
    subs = root / "submitted"
    subs.mkdir()
    (subs / "released.ipynb").write_text(release_notebook(source), encoding="utf-8")
    demo.write(subs / "solution.ipynb", demo.notebook(demo.demo_cells(), assignment="demo"))
    demo.write(subs / "partial.ipynb", demo.notebook(demo.demo_cells(softmax="def softmax(x):\n    return x\n")))
    demo.write(subs / "crash.ipynb", demo.notebook(demo.demo_cells(square="import os\nos._exit(1)\n")))
    demo.write(subs / "loop.ipynb", demo.notebook(demo.demo_cells(
        square="while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass\n")))
    demo.write(subs / "bomb.ipynb", demo.notebook(demo.demo_cells(
        square="x = []\nwhile True:\n    x.append(b'x' * 10**7)\n")))
    demo.write(subs / "other.ipynb", demo.notebook(demo.demo_cells(), assignment="another_lesson"))
    (subs / "notes.txt").write_text("not a notebook")
    (subs / "broken.ipynb").write_text("{ half a notebook")
    nested = subs / "dana" / "demo"
    nested.mkdir(parents=True)
    demo.write(nested / "demo.ipynb", demo.notebook(demo.demo_cells()))
    (subs / "empty_folder").mkdir()
    return source, subs


EXPECTED = {  # student: (score, status)
    "bomb": (0, "memory"), "broken": (0, "invalid"), "crash": (0, "crashed"), "dana": (8, "ok"),
    "empty_folder": (0, "invalid"), "loop": (0, "timeout"), "notes.txt": (0, "invalid"),
    "other": (0, "invalid"), "partial": (4, "ok"), "released": (0, "ok"), "solution": (8, "ok"),
}


@pytest.fixture(scope="module")
def graded(lesson):
    source, subs = lesson
    return grade_submissions(source, subs, LIMITS, workers=2)


def test_every_submission_gets_its_exact_score_and_status(graded):
    assert {r.student: (r.score, r.status) for r in graded} == EXPECTED
    assert all(r.max_score == 8 for r in graded)


def test_solution_scores_full_marks_and_release_zero(graded):
    by_student = {r.student: r for r in graded}
    assert all(t.status == "pass" for q in by_student["solution"].questions for t in q.tests)
    released = by_student["released"]
    assert released.status == "ok" and released.score == 0
    assert "NotImplementedError" in released.questions[0].tests[0].message


def test_bad_submissions_say_why(graded):
    messages = {r.student: r.message for r in graded}
    assert "not a notebook" in messages["notes.txt"] and "not valid JSON" in messages["broken"]
    assert "another_lesson" in messages["other"] and "no notebook" in messages["empty_folder"]


def test_one_bad_submission_leaves_the_others_unchanged(lesson, graded):
    source, subs = lesson
    alone = grade_notebook(source, str(subs / "solution.ipynb"), LIMITS, student="solution")
    in_batch = next(r for r in graded if r.student == "solution")
    assert alone.to_dict() == in_batch.to_dict()


def test_reports_are_complete_and_idempotent(tmp_path, lesson, graded):
    source, subs = lesson
    out = tmp_path / "results"
    write_reports(graded, out, gradescope=True)
    with open(out / "grades.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [row["student"] for row in rows] == sorted(EXPECTED)
    assert {k: rows[0][k] for k in ("q_square", "q_softmax", "q_counter", "total", "max", "status")} == \
        {"q_square": "0", "q_softmax": "0", "q_counter": "0", "total": "0", "max": "8", "status": "memory"}
    detail = json.loads((out / "grades.json").read_text())
    statuses = {t["status"] for r in detail for q in r["questions"] for t in q["tests"]}
    assert statuses <= {"pass", "fail", "error", "timeout", "memory"}
    markdown = (out / "feedback" / "partial.md").read_text()
    assert "## q_softmax: 0 / 4" in markdown and "0 of 1 hidden tests passed" in markdown
    assert "Score: 4 / 8" in (out / "feedback" / "partial.html").read_text()
    assert demo.SECRET not in "".join(p.read_text() for p in out.rglob("*") if p.is_file())
    gradescope = json.loads((out / "gradescope" / "solution.json").read_text())
    assert gradescope["score"] == 8 and len(gradescope["tests"]) == 5

    snapshot = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    again = grade_submissions(source, subs, LIMITS, workers=1)
    write_reports(again, out, gradescope=True)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == snapshot


def test_the_dashboard_shows_the_class_at_a_glance(tmp_path, lesson, graded):
    import html
    import html.parser

    from grader.assignment import Assignment

    out = tmp_path / "results"
    write_reports(graded + [Assignment(lesson[0]).empty_result("<b>eve</b>", "invalid", "not a notebook")], out)
    page = (out / "index.html").read_text()

    class Page(html.parser.HTMLParser):
        links, images, text = [], [], []

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            self.links += [attrs["href"]] if tag == "a" else []
            self.images += [attrs["src"]] if tag == "img" else []

        def handle_data(self, data):
            self.text.append(data)

    parsed = Page()
    parsed.feed(page)
    text = "".join(parsed.text)
    assert len(parsed.images) == 2 and all(src.startswith("data:image/png;base64,") for src in parsed.images)
    problems = [student for student, (_, status) in EXPECTED.items() if status != "ok"] + ["<b>eve</b>"]
    assert all((out / link).is_file() for link in parsed.links) and len(parsed.links) == len(EXPECTED) + 1 + 8
    assert "12 submissions, out of 8 points" in text
    assert "Of the 7 submissions that could be graded. Failed most often: t_softmax_sum (question q_softmax), " \
           "passed by 29%." in text
    assert "<b>eve</b>" in text and "<b>eve</b>" not in page  # a student's name is text, never markup
    assert len(problems) == 8 and all(f">{html.escape(student)}</a></td><td>" in page for student in problems)


def test_extra_tests_add_private_points(tmp_path, lesson):
    source, subs = lesson
    extra = tmp_path / "private" / "q_counter"
    extra.mkdir(parents=True)
    (extra / "negative.py").write_text("# points: 3\nc = Counter()\nassert c.add(-4) == -4\n")
    (extra / "never.py").write_text("assert Counter().total == 1\n")  # 1 point, fails
    result = grade_notebook(source, str(subs / "solution.ipynb"), LIMITS, extra_tests=str(tmp_path / "private"))
    counter = result.questions[2]
    assert (counter.score, counter.max_score) == (4, 5)
    assert [(t.id, t.status, t.visible) for t in counter.tests[1:]] == \
        [("q_counter.negative", "pass", False), ("q_counter.never", "fail", False)]


def test_cli_grade_writes_the_results(tmp_path, lesson):
    source, subs = lesson
    small = tmp_path / "subs"
    small.mkdir()
    shutil.copy(subs / "solution.ipynb", small / "ann.ipynb")
    shutil.copy(subs / "broken.ipynb", small / "bob.ipynb")
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "grader", "grade", "--source", source, str(small), "-o", str(out),
                          "--gradescope", "--cell-timeout", "5"], capture_output=True, text=True,
                         env=dict(os.environ, GLOG_v="3"))
    assert run.returncode == 0, run.stderr
    assert "ann: 8/8 ok" in run.stdout and "bob: 0/8 invalid" in run.stdout
    assert {p.name for p in (out / "feedback").iterdir()} == {"ann.md", "ann.html", "bob.md", "bob.html"}
    missing = subprocess.run([sys.executable, "-m", "grader", "grade", "--source", source, str(tmp_path / "nope"),
                              "-o", str(out)], capture_output=True, text=True)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "does not exist" in missing.stderr


def test_mindspore_cell_and_tensors_travel_as_plain_data(tmp_path):
    source = demo.write(tmp_path / "ms.ipynb", demo.notebook(demo.mindspore_cells()))
    limits = Limits(cell_timeout=60, total_timeout=120)
    solved = grade_notebook(source, source, limits)
    assert (solved.score, solved.status) == (2, "ok"), solved
    cheat = demo.MINDSPORE_NET.replace("return x * self.factor", "return AlwaysEqual()").replace(
        "class Scale", "class AlwaysEqual:\n    shape = (2, 3)\n    def __eq__(self, other):\n        return True\n"
                       "    def asnumpy(self):\n        return self\n\nclass Scale")
    cheated = grade_notebook(source, demo.write(tmp_path / "cheat.ipynb", demo.notebook(demo.mindspore_cells(cheat))),
                             limits)
    assert (cheated.score, cheated.status) == (0, "ok"), cheated


def test_sets_a_student_returns_arrive_as_sets(tmp_path):
    """A set or frozenset crosses as plain data (it used to arrive as a handle, equal to nothing)."""
    answer = "def letters(word):\n    ### BEGIN SOLUTION\n    return set(word), frozenset(word.upper())\n    ### END SOLUTION\n"
    test = "found, upper = letters('banana')\nassert found == {'a', 'b', 'n'} and type(found) is set\n" \
           "assert upper == frozenset('ABN') and type(upper) is frozenset\n"
    source = demo.write(tmp_path / "sets.ipynb", demo.notebook([demo.solution("q", answer), demo.test("t", test, 1)]))
    wrong = demo.write(tmp_path / "wrong.ipynb", demo.notebook([
        demo.solution("q", answer.replace("set(word),", "set(word) | {'z'},")), demo.test("t", test, 1)]))
    assert grade_notebook(source, source, LIMITS).score == 1
    assert grade_notebook(source, wrong, LIMITS).score == 0


def test_a_test_above_every_solution_is_a_question_of_its_own(tmp_path):
    """nbgrader grades a test cell that no solution precedes (open_relative_file.ipynb): so does the grader,
    with NBGRADER_EXECUTION=autograde in the student's process and in the tests, as nbgrader sets it."""
    cells = [demo.code_cell("import os\nmode = os.getenv('NBGRADER_EXECUTION')\n", grade_id="setup", locked=True,
                            solution=False, grade=False),
             demo.test("t_mode", "assert mode == os.getenv('NBGRADER_EXECUTION') == 'autograde'\n", 2),
             demo.solution("q_square", demo.SQUARE), demo.test("t_square", "assert square(3) == 9\n", 1)]
    source = demo.write(tmp_path / "early.ipynb", demo.notebook(cells))
    assert problems(json.load(open(source))) == []
    solved = grade_notebook(source, source, LIMITS)
    assert [(q.id, q.score, q.max_score) for q in solved.questions] == [("t_mode", 2, 2), ("q_square", 1, 1)]
    released = demo.write(tmp_path / "released.ipynb", json.loads(release_notebook(source)))
    assert [(q.id, q.score) for q in grade_notebook(source, released, LIMITS).questions] == [("t_mode", 2),
                                                                                            ("q_square", 0)]
    assert os.environ.get("NBGRADER_EXECUTION") is None  # set for the tests only


def odd_submissions(folder):
    """Submissions whose metadata or cells are not what a notebook holds."""
    def with_cells(change):
        cells = demo.demo_cells()
        change(cells)
        return demo.notebook(cells, assignment="demo")

    odd = {
        "list_grade_id": with_cells(lambda c: c[2]["metadata"]["nbgrader"].update(grade_id=["q_square"])),
        "list_metadata": with_cells(lambda c: c[8].update(metadata=["not", "a", "dict"])),
        "number_source": with_cells(lambda c: c[2].update(source=[1, 2, None])),
        "deep_parser": with_cells(lambda c: c.insert(3, demo.code_cell("-" * 200_000 + "1\n"))),
        "huge_cell": with_cells(lambda c: c.insert(3, demo.code_cell("x = 1\n" * 40_000))),
        "list_notebook_metadata": dict(demo.notebook(demo.demo_cells()), metadata=[1]),
    }
    for name, notebook in odd.items():
        demo.write(folder / f"{name}.ipynb", notebook)
    return odd


@pytest.mark.parametrize("workers", [1, 2])
def test_odd_submissions_cost_only_their_own_row(tmp_path, lesson, workers):
    source, _ = lesson
    folder = tmp_path / "odd"
    folder.mkdir()
    odd = odd_submissions(folder)
    shutil.copy(lesson[1] / "solution.ipynb", folder / "zoe.ipynb")
    results = {r.student: r for r in grade_submissions(source, folder, LIMITS, workers=workers)}
    assert set(results) == set(odd) | {"zoe"}
    assert (results["zoe"].score, results["zoe"].status) == (8, "ok")
    assert all("Traceback" not in r.message and "grader could not" not in r.message for r in results.values())
    assert results["list_grade_id"].questions[0].score == 0 and "missing" in results["list_grade_id"].questions[0].message
    assert results["huge_cell"].status == "invalid" or "not run" in results["huge_cell"].message
    assert results["deep_parser"].score == 8 and "not run" in results["deep_parser"].message


def test_colliding_and_very_long_names_each_get_their_own_feedback(tmp_path, lesson):
    source, subs = lesson
    folder = tmp_path / "names"
    folder.mkdir()
    names = ["a b", "a_b", "A_b", "x" * 240, "\x1b[31mred", "-=1+2", "ann"]
    for name in names:
        shutil.copy(subs / "solution.ipynb", folder / f"{name}.ipynb")
    results = grade_submissions(source, folder, LIMITS, workers=2)
    out = tmp_path / "out"
    assert write_reports(results, out) == []
    written = sorted(p.name for p in (out / "feedback").glob("*.md"))
    assert len(written) == len(names) and "ann.md" in written
    assert all(len(name) < 100 for name in written)
    with open(out / "grades.csv", newline="") as file:
        students = [row["student"] for row in csv.DictReader(file)]
    assert "'-=1+2" in students  # a spreadsheet opens it as text, not as a formula


def test_two_entries_for_one_student_are_both_reported(tmp_path, lesson):
    source, subs = lesson
    folder = tmp_path / "twice"
    (folder / "ann").mkdir(parents=True)
    shutil.copy(subs / "solution.ipynb", folder / "ann.ipynb")
    shutil.copy(subs / "partial.ipynb", folder / "ann" / "demo.ipynb")
    results = grade_submissions(source, folder, LIMITS, workers=1)
    assert sorted((r.student, r.status) for r in results) == [("ann", "invalid"), ("ann.ipynb", "invalid")]
    assert all("two entries for ann" in r.message for r in results)


PARTIAL = "score = 0\nif square(2) == 4:\n    score += 1\nif square(-3) == 9:\n    score += 1\nscore{end}\n"


@pytest.mark.parametrize("answer, end, points, expected", [
    ("return x * x", "", 2, (2, "pass", "")),
    ("return abs(x) * 2", "", 2, (1, "partial", "partial credit: 1 of 2 points")),
    ("return 0", "", 2, (0, "partial", "partial credit: 0 of 2 points")),  # nbgrader would give 2 (docs/grader.md)
    ("return abs(x) * 2", "  # a comment", 2, (1, "partial", "partial credit: 1 of 2 points")),
    ("return abs(x) * 2", ";", 2, (2, "pass", "")),  # `;` hides the value, as in IPython: full points
    ("return x * x", "", 1, (0, "error", "the test's value 2 is more than its 1 points (a bug in the test)")),
    ("raise NotImplementedError()", "", 2, (0, "error", "not implemented yet")),
])
def test_a_test_cells_value_is_its_partial_credit(tmp_path, capsys, answer, end, points, expected):
    """nbgrader's partial credit: a number as the test cell's value is the points it scores."""
    cells = [demo.solution("q_square", f"def square(x):\n    ### BEGIN SOLUTION\n    {answer}\n    ### END SOLUTION\n"),
             demo.test("t_square", PARTIAL.format(end=end), points)]
    source = demo.write(tmp_path / "partial.ipynb", demo.notebook(cells))
    test = grade_notebook(source, source, LIMITS).questions[0].tests[0]
    assert (test.points, test.status) == expected[:2] and test.message.startswith(expected[2])
    scope = {}
    exec("".join(json.loads(release_notebook(source))["cells"][0]["source"]), scope)
    exec(f"def square(x):\n    {answer}\n", scope)
    exec("check('q_square')", scope)
    shown = capsys.readouterr().out
    assert f"{'✓' if expected[1] == 'pass' else '✗'} t_square: {expected[1]}" in shown and expected[2] in shown


def test_nbgrader_layout_takes_the_assignments_folder_never_a_guess(tmp_path, lesson):
    """submitted/<student>/<assignment>/<notebook>.ipynb, where the assignment is the source's folder."""
    source = tmp_path / "source" / "ps1" / "demo.ipynb"
    source.parent.mkdir(parents=True)
    shutil.copy(lesson[0], source)
    subs = tmp_path / "submitted"
    for student, folder, notebook in [("ann", "ps0", "released"), ("ann", "ps1", "solution"),
                                      ("bob", "old", "solution"), ("bob", "new", "solution")]:
        (subs / student / folder).mkdir(parents=True)
        shutil.copy(lesson[1] / f"{notebook}.ipynb", subs / student / folder / "demo.ipynb")
    results = {r.student: r for r in grade_submissions(str(source), subs, LIMITS, workers=1)}
    assert (results["ann"].score, results["ann"].status) == (8, "ok")
    assert results["bob"].status == "invalid"
    assert results["bob"].message == "several notebooks named demo.ipynb (new/demo.ipynb, old/demo.ipynb): keep one"


def test_strict_confinement_refuses_where_the_machine_cannot_confine(tmp_path, lesson, monkeypatch):
    from grader.sandbox import Sandbox

    config = Sandbox._config
    monkeypatch.setattr(Sandbox, "_config", lambda self, paths: dict(config(self, paths), seccomp=None,
                                                                      seccomp_note="no libseccomp here"))
    source = lesson[0]
    relaxed = grade_notebook(source, source, LIMITS)
    assert (relaxed.score, relaxed.status) == (8, "ok") and "system calls not filtered" in relaxed.message
    strict = grade_notebook(source, source, Limits(**{**LIMITS.__dict__, "strict": True}))
    assert (strict.score, strict.status) == (0, "refused")
    assert strict.message.startswith("not graded: strict confinement") and "system calls not filtered" in strict.message


def test_data_files_travel_with_the_release_and_into_grading(tmp_path):
    """metadata.grader.files: shipped with the release, read by the student's code and by the tests."""
    lesson = tmp_path / "lesson"
    (lesson / "data").mkdir(parents=True)
    (lesson / "data" / "words.txt").write_text("apple\nbanana\ncherry\n")
    cells = [demo.code_cell("WORDS = open('data/words.txt').read().split()\n", grade_id="load", locked=True,
                            solution=False, grade=False),
             demo.solution("q_count", "def count():\n    ### BEGIN SOLUTION\n    return len(WORDS)\n    ### END SOLUTION\n"),
             demo.test("t_count", "assert count() == len(open('data/words.txt').read().split())\n", 2)]
    notebook = demo.notebook(cells)
    notebook["metadata"]["grader"] = {"files": ["data/"]}
    source = demo.write(lesson / "count.ipynb", notebook)
    released = tmp_path / "release"
    assert subprocess.run([sys.executable, "-m", "grader", "release", source, "-o", str(released)],
                          capture_output=True).returncode == 0
    copy = released / "data" / "words.txt"
    assert copy.read_text() == "apple\nbanana\ncherry\n" and copy.stat().st_mode & 0o777 == 0o444
    result = grade_notebook(source, source, LIMITS)
    assert (result.score, result.status) == (2, "ok"), result
    for bad, message in [(["../secret.txt"], "not inside the notebook's folder"),
                         (["missing.txt"], "not a file or folder"), (["count.ipynb"], "cannot be notebooks")]:
        notebook["metadata"]["grader"] = {"files": bad}
        demo.write(lesson / "bad.ipynb", notebook)
        run = subprocess.run([sys.executable, "-m", "grader", "validate", str(lesson / "bad.ipynb")],
                             capture_output=True, text=True)
        assert run.returncode == 1 and message in run.stdout, run.stdout


def test_the_gradescope_autograder_zip_grades_a_fake_autograder_tree(tmp_path, lesson):
    """Unzipped as Gradescope does (/autograder/source), run_autograder writes results/results.json."""
    import zipfile

    archive = tmp_path / "autograder.zip"
    run = subprocess.run([sys.executable, "-m", "grader", "gradescope-autograder", lesson[0], "-o", str(archive),
                          "--cell-timeout", "5"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    root = tmp_path / "autograder"
    with zipfile.ZipFile(archive) as opened:
        names = opened.namelist()
        opened.extractall(root / "source")
    assert {"setup.sh", "run_autograder", "source/demo.ipynb", "project/pyproject.toml",
            "project/grader/grade.py"} <= set(names)
    assert not any(name.startswith(("project/tests/", "project/notebooks/")) for name in names)
    environment = dict(os.environ, AUTOGRADER_ROOT=str(root), AUTOGRADER_PYTHON=sys.executable, GLOG_v="3")
    for notebook, score in [("solution", 8), ("partial", 4), (None, 0)]:
        shutil.rmtree(root / "submission", ignore_errors=True)
        (root / "submission").mkdir()
        if notebook:
            shutil.copy(lesson[1] / f"{notebook}.ipynb", root / "submission" / "demo.ipynb")
        done = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=environment,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        results = json.loads((root / "results" / "results.json").read_text())
        assert results["score"] == score and results["execution_time"] >= 0
        assert (len(results["tests"]) == 5) if notebook else "Upload your notebook demo.ipynb" in results["output"]
    assert demo.SECRET not in (root / "results" / "results.json").read_text()


def test_an_assignment_of_several_notebooks_is_one_row_per_student(tmp_path, lesson):
    """--source source/ps1/ (nbgrader's layout): every notebook graded, the row adds them up."""
    ps1 = tmp_path / "source" / "ps1"
    ps1.mkdir(parents=True)
    shutil.copy(lesson[0], ps1 / "problem1.ipynb")
    square = [demo.solution("q_square", demo.SQUARE), demo.test("t_square", "assert square(3) == 9\n", 2)]
    demo.write(ps1 / "problem2.ipynb", demo.notebook(square))
    subs = tmp_path / "submitted"
    solved = {"problem1": demo.notebook(demo.demo_cells()), "problem2": demo.notebook(square)}
    for student, notebooks in [("ann", solved), ("cy", solved), ("bob", {"problem1": demo.notebook(
            demo.demo_cells(softmax="def softmax(x):\n    return x\n"))})]:
        (subs / student / "ps1").mkdir(parents=True)
        for notebook, content in notebooks.items():
            demo.write(subs / student / "ps1" / f"{notebook}.ipynb", content)
    (subs / "cy" / "ps0").mkdir()  # an older assignment's notebook of the same name is not taken
    shutil.copy(lesson[1] / "released.ipynb", subs / "cy" / "ps0" / "problem1.ipynb")
    (subs / "dee.ipynb").write_text(release_notebook(lesson[0]), encoding="utf-8")
    rows = {r.student: r for r in grade_submissions(str(ps1), subs, LIMITS, workers=1)}
    assert {s: (r.score, r.max_score, r.status) for s, r in rows.items()} == {
        "ann": (10, 10, "ok"), "bob": (4, 10, "invalid"), "cy": (10, 10, "ok"), "dee": (0, 10, "invalid")}
    assert rows["bob"].message == "problem2: no notebook named problem2.ipynb"
    assert "needs a folder per student" in rows["dee"].message
    assert [q.id for q in rows["ann"].questions] == ["problem1/q_square", "problem1/q_softmax", "problem1/q_counter",
                                                     "problem2/q_square"]
    out = tmp_path / "results"
    write_reports(list(rows.values()), out)
    assert (out / "grades.csv").read_text().splitlines()[0].startswith("student,problem1/q_square,")


def test_what_a_test_prints_goes_to_the_instructors_log_not_the_terminal(tmp_path, capfd):
    cells = [demo.solution("q_square", demo.SQUARE),
             demo.test("t_square", "print('checking square')\nassert square(3) == 9\n", 1)]
    source = demo.write(tmp_path / "printing.ipynb", demo.notebook(cells))
    result = grade_notebook(source, source, LIMITS)
    assert result.score == 1 and "--- test t_square printed ---\nchecking square\n" in result.log
    assert "checking square" not in capfd.readouterr().out
