"""Every lesson is sound: graded as written it scores full marks, as released it
scores 0, the committed release is what the grader produces, every question has
a hidden test, and an answer that special-cases the visible tests loses points.

nbval (`--nbval-lax`, set in pyproject.toml) executes the lessons themselves.
Cheating answers live in tests/lesson_cheats/<lesson>.py as CHEATS = {question_id: code}.
"""

import importlib.util
import json
import pathlib

import pytest

import grader

ROOT = pathlib.Path(__file__).resolve().parent.parent
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
LIMITS = grader.Limits(cell_timeout=300, total_timeout=900)
pytestmark = pytest.mark.slow  # every lesson graded three ways: minutes


@pytest.fixture(params=LESSONS, ids=lambda path: path.stem)
def lesson(request):
    return request.param


def failures(result):
    return [f"{q.id}/{t.id}: {t.status} {t.message}" for q in result.questions for t in q.tests if t.status != "pass"]


def questions(lesson):
    """{question id: [test cell sources]} in notebook order."""
    found, current = {}, None
    for cell in grader.read_notebook(lesson)["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution") and cell["cell_type"] == "code":
            current = found.setdefault(meta["grade_id"], [])
        elif meta.get("grade") and current is not None:
            current.append("".join(cell["source"]))
    return found


def test_lesson_has_no_authoring_problems(lesson):
    assert grader.problems(grader.read_notebook(lesson)) == []


def test_lesson_is_committed_without_outputs(lesson):
    cells = grader.read_notebook(lesson)["cells"]
    assert [c.get("outputs") for c in cells if c["cell_type"] == "code" and c.get("outputs")] == []


def test_lesson_has_at_least_two_questions_each_with_a_hidden_test(lesson):
    found = questions(lesson)
    assert len(found) >= 2
    for question, tests in found.items():
        assert any("### BEGIN HIDDEN TESTS" in test for test in tests), f"{question} has no hidden test"


def test_committed_release_is_in_sync(lesson):
    committed = ROOT / "assignments" / lesson.name
    assert committed.exists(), f"run: python -m grader release {lesson.relative_to(ROOT)} -o assignments/"
    assert committed.read_text(encoding="utf-8") == grader.release_notebook(lesson), (
        f"assignments/{lesson.name} is stale: run python -m grader release {lesson.relative_to(ROOT)} -o assignments/")


def test_solutions_score_full_marks(lesson):
    result = grader.grade_notebook(lesson, lesson, LIMITS, student="instructor")
    assert result.status == "ok", result.message
    assert failures(result) == []
    assert result.score == result.max_score > 0


def test_release_scores_zero_without_crashing(lesson):
    result = grader.grade_notebook(lesson, ROOT / "assignments" / lesson.name, LIMITS, student="blank")
    assert result.status == "ok", result.message
    assert result.score == 0
    assert {t.status for q in result.questions for t in q.tests} <= {"fail", "error"}


def load_cheats(lesson):
    path = ROOT / "tests" / "lesson_cheats" / f"{lesson.stem}.py"
    assert path.exists(), f"{path.relative_to(ROOT)} must show an answer that special-cases the visible tests"
    spec = importlib.util.spec_from_file_location(f"cheats_{lesson.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.CHEATS


def test_special_casing_the_visible_tests_loses_points(lesson, tmp_path):
    cheats = load_cheats(lesson)
    notebook = grader.read_notebook(lesson)
    for cell in notebook["cells"]:
        question = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if question in cheats:
            cell["source"] = cheats[question]
    submission = tmp_path / lesson.name
    submission.write_text(json.dumps(notebook), encoding="utf-8")

    result = grader.grade_notebook(lesson, submission, LIMITS, student="cheat")
    assert result.status == "ok", result.message
    for question in result.questions:
        if question.id in cheats:
            assert question.score < question.max_score, f"{question.id}: the cheat got full marks"
            messages = [t.message for t in question.tests]
            assert "a hidden test failed" in messages, f"{question.id}: the cheat should pass the visible tests: {messages}"
        else:
            assert question.score == question.max_score, f"{question.id}: {failures(result)}"
