"""Write the gradebook and per-student feedback from grading results.

Every file is a pure function of the results, so re-running a grade writes
identical files.  Feedback shows visible tests in full and hidden tests only
as a count.  Text that student code or a submission's name could have written
is escaped for each format (Markdown, HTML, a spreadsheet), so it can never
pose as the grader's own words, such as a score line.
"""

import csv
import hashlib
import html
import io
import json
import os
import re
import shutil
import sys

from .dashboard import dashboard_html

MAX_NAME = 80  # characters of a student's name kept in a file name
MANUAL_SHEET = "manual.csv"  # the review sheet of manually graded questions (grader.manual)
MANUAL_COLUMNS = ("student", "question", "points", "score", "answer")


def write_reports(results, output_dir, gradescope=False):
    """Write grades.csv, grades.json, index.html (the class dashboard), feedback/, manual.csv (the
    review sheet, if there are manually graded questions) and (optionally) gradescope/.

    Returns the students whose feedback could not be written (each one is
    reported on stderr; nobody else's files are affected).
    """
    os.makedirs(output_dir, exist_ok=True)
    _write(os.path.join(output_dir, "grades.csv"), gradebook_csv(results))
    _write(os.path.join(output_dir, "grades.json"),
           json.dumps([r.to_dict() for r in results], indent=1, ensure_ascii=False) + "\n")
    if any(q.manual for r in results for q in r.questions):
        _write(os.path.join(output_dir, MANUAL_SHEET), review_sheet_csv(results))
    folders = ["feedback"] + (["gradescope"] if gradescope else [])
    for folder in folders:  # start clean, so students removed from the batch leave no files
        shutil.rmtree(os.path.join(output_dir, folder), ignore_errors=True)
        os.makedirs(os.path.join(output_dir, folder))
    names, failed = file_names([r.student for r in results]), []
    _write(os.path.join(output_dir, "index.html"), dashboard_html(results, names))
    for result in results:
        name = names[result.student]
        try:
            _write(os.path.join(output_dir, "feedback", name + ".md"), feedback_markdown(result))
            _write(os.path.join(output_dir, "feedback", name + ".html"), feedback_html(result))
            if gradescope:
                _write(os.path.join(output_dir, "gradescope", name + ".json"),
                       json.dumps(gradescope_results(result), indent=1, ensure_ascii=False) + "\n")
        except OSError as error:
            print(f"feedback for {name} not written: {error.strerror}", file=sys.stderr)
            failed.append(result.student)
    return failed


def _write(path, text):
    # Student strings may hold lone surrogates (non-UTF-8 bytes); escape, never crash.
    with open(path, "w", encoding="utf-8", errors="backslashreplace", newline="\n") as file:
        file.write(text)


def file_names(students):
    """A distinct, safe file name (without extension) for each student name.

    Letters, digits, ``.``, ``_`` and ``-`` are kept, at most MAX_NAME of
    them; a name that had to change, or that would collide with another on a
    case-insensitive disk, gets ``~`` and a hash of the whole name.  A name
    kept as it is has no ``~``, so two students never share a feedback file.
    """
    plain = {student: re.sub(r"[^A-Za-z0-9._-]", "_", student).lstrip(".")[:MAX_NAME] or "_" for student in students}
    folded = {}
    for name in plain.values():
        folded[name.lower()] = folded.get(name.lower(), 0) + 1
    return {student: name if name == student and folded[name.lower()] == 1 else
            f"{name}~{hashlib.sha256(student.encode('utf-8', 'surrogatepass')).hexdigest()[:12]}"
            for student, name in plain.items()}


def markdown_text(text):
    """``text`` as literal Markdown: one line, every punctuation mark escaped."""
    return re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", " ".join(str(text).split()))


def spreadsheet_cell(text):
    """A spreadsheet cell that opens as text: a leading = + - @ would make it a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _number(value):
    return f"{value:g}"


def gradebook_csv(results):
    """A row per student, a column per question, then total, max and status."""
    questions = [q.id for q in results[0].questions] if results else []
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student"] + questions + ["total", "max", "status", "message"])
    for result in results:
        writer.writerow([spreadsheet_cell(result.student)] + [_number(q.score) for q in result.questions]
                        + [_number(result.score), _number(result.max_score), result.status,
                           spreadsheet_cell(result.message)])
    return buffer.getvalue()


def review_sheet_csv(results):
    """A row per student and manually graded question: the answer, and an empty score for a person
    to fill in (or the score already given)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(MANUAL_COLUMNS)
    for result in results:
        for q in result.questions:
            if q.manual:
                writer.writerow([spreadsheet_cell(result.student), spreadsheet_cell(q.id), _number(q.max_score),
                                 "" if q.pending else _number(q.score), spreadsheet_cell(q.answer)])
    return buffer.getvalue()


def _summary(question):
    hidden = [t for t in question.tests if t.hidden]
    return f"{sum(t.status == 'pass' for t in hidden)} of {len(hidden)} hidden tests passed" if hidden else ""


def feedback_markdown(result):
    e = markdown_text
    lines = [f"# {result.assignment}: feedback for {e(result.student)}", "",
             f"**Score: {_number(result.score)} / {_number(result.max_score)}**", ""]
    if result.status != "ok":
        lines += [f"Grading status: **{result.status}**: {e(result.message)}", ""]
    for question in result.questions:
        lines += [f"## {question.id}: {_number(question.score)} / {_number(question.max_score)}", ""]
        if question.message:
            lines += [f"> {e(question.message)}", ""]
        for test in question.tests:
            if test.visible:
                mark = "✓" if test.status == "pass" else "✗"
                lines.append(f"- {mark} `{test.id}` ({_number(test.points)}/{_number(test.max_points)}): {test.status}")
                if test.status != "pass":  # hints are the instructor's Markdown; messages may be anyone's
                    lines += [f"  - {e(test.message)}"] + [f"  - hint: {hint}" for hint in test.hints]
        if _summary(question):
            lines.append(f"- {_summary(question)}")
        lines.append("")
    return "\n".join(lines)


def feedback_html(result):
    e = html.escape
    parts = [f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{e(result.assignment)}: "
             f"{e(result.student)}</title></head><body>",
             f"<h1>{e(result.assignment)}: feedback for {e(result.student)}</h1>",
             f"<p><strong>Score: {_number(result.score)} / {_number(result.max_score)}</strong></p>"]
    if result.status != "ok":
        parts.append(f"<p>Grading status: <strong>{e(result.status)}</strong>: {e(result.message)}</p>")
    for question in result.questions:
        parts.append(f"<h2>{e(question.id)}: {_number(question.score)} / {_number(question.max_score)}</h2>")
        if question.message:
            parts.append(f"<blockquote>{e(question.message)}</blockquote>")
        items = []
        for test in question.tests:
            if test.visible:
                detail = "" if test.status == "pass" else "<ul>" + "".join(
                    f"<li>{e(text)}</li>" for text in [test.message] + [f"hint: {h}" for h in test.hints]) + "</ul>"
                items.append(f"<li>{'✓' if test.status == 'pass' else '✗'} <code>{e(test.id)}</code> "
                             f"({_number(test.points)}/{_number(test.max_points)}): {e(test.status)}{detail}</li>")
        if _summary(question):
            items.append(f"<li>{e(_summary(question))}</li>")
        parts.append("<ul>" + "".join(items) + "</ul>")
    return "\n".join(parts + ["</body></html>", ""])


def gradescope_results(result):
    """Gradescope's autograder ``results.json`` for one submission."""
    tests = []
    for question in result.questions:
        if question.manual:
            tests.append({"name": question.id, "score": question.score, "max_score": question.max_score,
                          "status": "passed" if question.score == question.max_score else "failed",
                          "output": question.message, "output_format": "text", "visibility": "visible"})
        for test in question.tests:
            output = "" if not test.visible or test.status == "pass" else test.message
            tests.append({"name": f"{question.id} / {test.id}", "score": test.points,
                          "max_score": test.max_points, "status": "passed" if test.status == "pass" else "failed",
                          "output": output, "output_format": "text",
                          "visibility": "visible" if test.visible else "after_published"})
    return {"score": result.score, "output": result.message, "output_format": "text", "tests": tests}
