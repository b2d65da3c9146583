"""Write the gradebook and per-student feedback from grading results.

Every file is a pure function of the results, so re-running a grade writes
identical files.  Feedback shows visible tests in full and hidden tests only
as a count.
"""

import csv
import html
import io
import json
import os
import re
import shutil


def write_reports(results, output_dir, gradescope=False):
    """Write grades.csv, grades.json, feedback/ and (optionally) gradescope/."""
    os.makedirs(output_dir, exist_ok=True)
    _write(os.path.join(output_dir, "grades.csv"), gradebook_csv(results))
    _write(os.path.join(output_dir, "grades.json"),
           json.dumps([r.to_dict() for r in results], indent=1, ensure_ascii=False) + "\n")
    folders = ["feedback"] + (["gradescope"] if gradescope else [])
    for folder in folders:  # start clean, so students removed from the batch leave no files
        shutil.rmtree(os.path.join(output_dir, folder), ignore_errors=True)
        os.makedirs(os.path.join(output_dir, folder))
    for result in results:
        name = safe_name(result.student)
        _write(os.path.join(output_dir, "feedback", name + ".md"), feedback_markdown(result))
        _write(os.path.join(output_dir, "feedback", name + ".html"), feedback_html(result))
        if gradescope:
            _write(os.path.join(output_dir, "gradescope", name + ".json"),
                   json.dumps(gradescope_results(result), indent=1, ensure_ascii=False) + "\n")


def _write(path, text):
    # Student strings may hold lone surrogates (non-UTF-8 bytes); escape, never crash.
    with open(path, "w", encoding="utf-8", errors="backslashreplace", newline="\n") as file:
        file.write(text)


def safe_name(student):
    return re.sub(r"[^A-Za-z0-9._-]", "_", student).lstrip(".") or "_"


def _number(value):
    return f"{value:g}"


def gradebook_csv(results):
    """A row per student, a column per question, then total, max and status."""
    questions = [q.id for q in results[0].questions] if results else []
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student"] + questions + ["total", "max", "status", "message"])
    for result in results:
        writer.writerow([result.student] + [_number(q.score) for q in result.questions]
                        + [_number(result.score), _number(result.max_score), result.status, result.message])
    return buffer.getvalue()


def _summary(question):
    hidden = [t for t in question.tests if t.hidden]
    return f"{sum(t.status == 'pass' for t in hidden)} of {len(hidden)} hidden tests passed" if hidden else ""


def feedback_markdown(result):
    lines = [f"# {result.assignment}: feedback for {result.student}", "",
             f"**Score: {_number(result.score)} / {_number(result.max_score)}**", ""]
    if result.status != "ok":
        lines += [f"Grading status: **{result.status}**: {result.message}", ""]
    for question in result.questions:
        lines += [f"## {question.id}: {_number(question.score)} / {_number(question.max_score)}", ""]
        if question.message:
            lines += [f"> {question.message}", ""]
        for test in question.tests:
            if test.visible:
                mark = "✓" if test.status == "pass" else "✗"
                lines.append(f"- {mark} `{test.id}` ({_number(test.points)}/{_number(test.max_points)}): {test.status}")
                if test.status != "pass":
                    lines += [f"  - {test.message}"] + [f"  - hint: {hint}" for hint in test.hints]
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
        for test in question.tests:
            output = "" if not test.visible or test.status == "pass" else test.message
            tests.append({"name": f"{question.id} / {test.id}", "score": test.points,
                          "max_score": test.max_points, "status": "passed" if test.status == "pass" else "failed",
                          "output": output, "visibility": "visible" if test.visible else "after_published"})
    return {"score": result.score, "output": result.message, "tests": tests}
