"""Manually graded answers and tasks: validate, release, check(), the review sheet and merge-manual."""

import csv
import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "grader_fixtures"))
import demo  # noqa: E402

from grader import problems, release_notebook  # noqa: E402

PYTHON = sys.executable


def cli(*args):
    return subprocess.run([PYTHON, "-m", "grader", *args, *(["--workers", "1", "--timeout", "30"]
                                                            if args[0] == "grade" else [])],
                          capture_output=True, text=True, env=dict(os.environ, GLOG_v="3"))


def released_cells(path):
    return {c["metadata"].get("nbgrader", {}).get("grade_id"): c for c in json.loads(release_notebook(path))["cells"]}


def test_manual_cells_are_valid_and_misuses_are_named(tmp_path):
    assert problems(demo.notebook(demo.manual_cells())) == []
    for cell, message in [
        (dict(demo.markdown_answer("essay", "x\n", 5), metadata={"nbgrader": {
            "grade_id": "essay", "grade": True, "solution": False, "points": 5, "schema_version": 3}}),
         "must also be a solution cell"),
        (dict(demo.task("t", "x\n", 2), cell_type="code", outputs=[], execution_count=None), "must be a markdown cell"),
        (demo.markdown_answer("essay", "x\n", float("inf")), "finite, non-negative"),
        (demo.markdown_answer("essay", "### BEGIN SOLUTION\nx\n", 1), "never closed"),
    ]:
        cells = demo.demo_cells()
        cells.insert(8, cell)
        found = problems(demo.notebook(cells))
        assert any(message in p for p in found), (message, found)


def test_release_leaves_the_answers_place_and_check_says_who_grades(tmp_path, capsys):
    source = demo.write(tmp_path / "demo.ipynb", demo.notebook(demo.manual_cells()))
    cells = released_cells(source)
    assert cells["essay"]["source"] == ["YOUR ANSWER HERE\n"]  # nbgrader's stub, the solution gone
    assert "So that exp" not in release_notebook(source)
    assert "".join(cells["plot"]["source"]) == "def plot():\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"
    assert cells["task_explain"]["metadata"]["editable"] is False
    assert cells["essay"]["metadata"].get("editable", True) is True
    namespace = {}
    exec("".join(json.loads(release_notebook(source))["cells"][0]["source"]), namespace)  # the setup cell
    namespace["check"]("essay")
    namespace["check"]("nothing")
    out = capsys.readouterr().out
    assert "essay: graded by hand" in out
    assert "Questions: q_square, q_softmax, q_counter, essay, plot, task_explain" in out


def _submissions(tmp_path, answers):
    source = demo.write(tmp_path / "demo.ipynb", demo.notebook(demo.manual_cells()))
    subs = tmp_path / "submitted"
    subs.mkdir(exist_ok=True)
    for student, essay in answers.items():
        cells = demo.manual_cells(essay=essay) if essay is not None else \
            [c for c in demo.manual_cells() if c["id"] != "essay-cell"]
        demo.write(subs / f"{student}.ipynb", demo.notebook(cells))
    return source, subs


def _sheet(path):
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def _write_sheet(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, ["student", "question", "points", "score", "answer"])
        writer.writeheader()
        writer.writerows(rows)


def _grades(results):
    return {row["student"]: row for row in csv.DictReader(open(results / "grades.csv", encoding="utf-8"))}


def test_review_sheet_merge_and_regrade_keep_every_score(tmp_path):
    source, subs = _submissions(tmp_path, {"ana": "Exp of a large number overflows.\n",
                                           "ben": "=HYPERLINK(\"http://x\")\n", "cy": None})
    results = tmp_path / "results"
    run = cli("grade", "--source", source, str(subs), "-o", str(results))
    assert run.returncode == 0, run.stderr
    assert "3 answers to grade" not in run.stdout and "9 answers to grade" in run.stdout  # 3 students x 3 cells
    grades = _grades(results)
    assert list(grades["ana"])[:7] == ["student", "q_square", "q_softmax", "essay", "plot", "task_explain",
                                       "q_counter"]
    assert grades["ana"]["total"] == "8" and grades["ana"]["max"] == "18"
    rows = _sheet(results / "manual.csv")
    by_key = {(r["student"], r["question"]): r for r in rows}
    assert by_key[("ana", "essay")]["answer"] == "Exp of a large number overflows.\n"
    assert by_key[("ben", "essay")]["answer"].startswith("'=HYPERLINK")  # never a formula in a spreadsheet
    assert by_key[("ana", "plot")]["answer"].startswith("def plot():")
    assert by_key[("cy", "essay")]["answer"] == "" and all(r["score"] == "" for r in rows)
    assert "9 answers graded by hand are not scored yet" in (results / "index.html").read_text()
    feedback = (results / "feedback" / "ana.md").read_text()
    assert "graded by hand\\: not graded yet" in feedback  # Markdown-escaped

    # A bad score: refused with its line, nothing written.
    by_key[("ana", "essay")]["score"] = "7"
    by_key[("ben", "plot")]["score"] = "lots"
    _write_sheet(tmp_path / "filled.csv", rows)
    before = (results / "grades.csv").read_bytes()
    run = cli("merge-manual", str(tmp_path / "filled.csv"), str(results))
    assert run.returncode == 2 and "line" in run.stderr and "more than the question's 5 points" in run.stderr
    assert "'lots' is not a number" in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert (results / "grades.csv").read_bytes() == before

    by_key[("ana", "essay")].update(points="10", score="7")  # the points column is not the record
    by_key[("ben", "plot")]["score"] = ""
    _write_sheet(tmp_path / "filled.csv", rows)
    run = cli("merge-manual", str(tmp_path / "filled.csv"), str(results))
    assert run.returncode == 2 and "more points than the question has: ana/essay (7 of 5)" in run.stderr
    assert (results / "grades.csv").read_bytes() == before

    by_key[("ana", "essay")].update(points="5", score="4,5")  # a spreadsheet's decimal comma
    by_key[("ben", "plot")]["score"] = "3"
    by_key[("ben", "essay")]["score"] = "0"
    _write_sheet(tmp_path / "filled.csv", rows)
    run = cli("merge-manual", str(tmp_path / "filled.csv"), str(results))
    assert run.returncode == 0, run.stderr
    assert "3 manually graded answers scored, 6 still to grade" in run.stdout
    grades = _grades(results)
    assert (grades["ana"]["essay"], grades["ana"]["total"]) == ("4.5", "12.5")
    assert (grades["ben"]["plot"], grades["ben"]["total"]) == ("3", "11")
    saved = {r["student"]: r for r in json.load(open(results / "grades.json"))}
    assert saved["ana"]["score"] == 12.5
    assert "graded by hand" in (results / "feedback" / "ana.md").read_text()
    assert "6 answers graded by hand are not scored yet" in (results / "index.html").read_text()

    # Grading again keeps the scores of unchanged answers; a changed answer is graded anew,
    # and the sheet holding its old score is kept.
    _submissions(tmp_path, {"ana": "I changed my mind.\n"})
    run = cli("grade", "--source", source, str(subs), "-o", str(results))
    assert run.returncode == 0, run.stderr
    assert "2 scores kept" in run.stdout and "manual.previous.csv" in run.stdout
    grades = _grades(results)
    assert (grades["ana"]["essay"], grades["ben"]["plot"], grades["ben"]["essay"]) == ("0", "3", "0")
    assert {(r["student"], r["question"]): r["score"] for r in _sheet(results / "manual.previous.csv")}[
        ("ana", "essay")] == "4.5"

    # The sheet is the record: a score taken back is not graded any more.
    rows = _sheet(results / "manual.csv")
    for row in rows:
        row["score"] = "" if (row["student"], row["question"]) == ("ben", "plot") else row["score"]
    _write_sheet(tmp_path / "filled.csv", rows)
    assert cli("merge-manual", str(tmp_path / "filled.csv"), str(results)).returncode == 0
    assert (_grades(results)["ben"]["plot"], _grades(results)["ben"]["total"]) == ("0", "8")


def test_merge_refuses_a_sheet_of_other_results(tmp_path):
    source, subs = _submissions(tmp_path, {"ana": "An answer.\n"})
    results = tmp_path / "results"
    assert cli("grade", "--source", source, str(subs), "-o", str(results)).returncode == 0
    _write_sheet(tmp_path / "other.csv", [{"student": "zoe", "question": "essay", "points": "5", "score": "5",
                                           "answer": ""}])
    run = cli("merge-manual", str(tmp_path / "other.csv"), str(results))
    assert run.returncode == 2 and "no manually graded question zoe/essay" in run.stderr
    (tmp_path / "junk.csv").write_text("a,b\n1,2\n")
    run = cli("merge-manual", str(tmp_path / "junk.csv"), str(results))
    assert run.returncode == 2 and "is not a review sheet" in run.stderr
    run = cli("merge-manual", str(tmp_path / "other.csv"), str(tmp_path / "nowhere"))
    assert run.returncode == 2 and "grade into" in run.stderr


def test_gradescope_lists_manual_questions(tmp_path):
    from grader.feedback import gradescope_results
    from grader.results import SubmissionResult, manual_result
    from grader.notebook import ManualQuestion

    result = SubmissionResult("ana", "demo", "ok", "", [manual_result(ManualQuestion("essay", 5.0, "answer",
                                                                                      "markdown"), "text")])
    entry = gradescope_results(result)["tests"][0]
    assert (entry["name"], entry["score"], entry["max_score"], entry["output"]) == \
        ("essay", 0.0, 5.0, "graded by hand: not graded yet")


def test_grade_refuses_an_earlier_sheet_it_cannot_read_before_grading_anything(tmp_path, monkeypatch, capsys):
    from grader import __main__ as cli_main
    from grader import grade

    source, subs = _submissions(tmp_path, {"ana": "An answer.\n"})
    results = tmp_path / "results"
    results.mkdir()
    (results / "manual.csv").write_text("student,question,points,score,answer\nana,essay,5,lots,An answer.\n")
    monkeypatch.setattr(grade, "grade_submissions", lambda *args: pytest.fail("graded before the sheet was read"))
    assert cli_main.main(["grade", "--source", source, str(subs), "-o", str(results)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and "line 2 (ana, essay): score 'lots' is not a number" in error
    assert len(error.strip().splitlines()) == 1
    assert sorted(os.listdir(results)) == ["manual.csv"]  # the instructor's sheet as it was, nothing written


def test_a_tasks_mark_scheme_stays_with_the_instructor(tmp_path):
    scheme = "Explain your counter.\n\n=== BEGIN MARK SCHEME ===\n- 1 point: it counts\n=== END MARK SCHEME ===\n"
    cells = demo.manual_cells()
    cells[11] = demo.task("task_explain", scheme, 2)
    source = demo.write(tmp_path / "demo.ipynb", demo.notebook(cells))
    assert problems(json.load(open(source))) == []
    released = release_notebook(source)
    assert "".join(released_cells(source)["task_explain"]["source"]) == "Explain your counter.\n\n"
    assert "MARK SCHEME" not in released and "it counts" not in released  # not in the cell, not in check()'s data
    for cell, message in [
        (demo.task("t", "x\n=== BEGIN MARK SCHEME ===\nsecret\n", 2), "never closed"),
        (demo.task("t", "x\n=== BEGIN MARK SCHEME ===\n![plot](attachment:plot.png)\n=== END MARK SCHEME ===\n", 2),
         "an attachment in the mark scheme"),
        (demo.markdown_answer("essay2", "### BEGIN SOLUTION\nx\n### END SOLUTION\n=== BEGIN MARK SCHEME ===\n"
                                        "secret\n=== END MARK SCHEME ===\n", 1), "outside a task cell"),
        ({"cell_type": "markdown", "id": "note", "metadata": {},
          "source": ["=== BEGIN MARK SCHEME ===\n", "secret\n", "=== END MARK SCHEME ===\n"]}, "outside a task cell"),
    ]:
        found = problems(demo.notebook(demo.manual_cells()[:8] + [cell] + demo.manual_cells()[8:]))
        assert any(message in p for p in found), (message, found)
