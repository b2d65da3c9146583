"""Manually graded questions: the review sheet a person fills in, and its scores folded into the results.

A written answer or a task (:class:`grader.notebook.ManualQuestion`) has no
tests: a person reads it. ``grade`` writes ``manual.csv`` next to the gradebook,
one row per student and manual question (student, question, points, score,
answer), the score column empty. The instructor fills it in, in a spreadsheet
or an editor, and ``python -m grader merge-manual results/manual.csv results/``
checks every score and rewrites the gradebook, ``grades.json``, the feedback and
the dashboard with them, as nbgrader's formgrader does.

Nothing a person typed is lost: ``grade`` run again carries over every score
given to an answer that has not changed, and keeps a sheet whose scores it
could not carry over as ``manual.previous.csv``; a sheet with one bad score is
refused whole, naming its line, and nothing is written.
"""

import csv
import io
import json
import math
import os

from .feedback import MANUAL_COLUMNS as COLUMNS
from .feedback import MANUAL_SHEET, spreadsheet_cell, write_reports
from .results import GRADED, PENDING, SubmissionResult

PREVIOUS_SHEET = "manual.previous.csv"
MAX_SHEET_BYTES = 64 * 2**20


class SheetError(ValueError):
    """A review sheet or results folder that cannot be used; the message is one line for a person."""


def read_sheet(path):
    """``{(student, question): (score or None, answer)}`` from a review sheet, keys as the sheet writes them.

    Raises SheetError naming every line whose score is not a number (an empty
    score means not graded yet).
    """
    try:
        with open(path, encoding="utf-8-sig", newline="") as file:
            text = file.read(MAX_SHEET_BYTES + 1)
    except OSError as error:
        raise SheetError(f"cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise SheetError(f"{path} is not UTF-8 text (save it from the spreadsheet as CSV UTF-8)") from None
    if len(text) > MAX_SHEET_BYTES:
        raise SheetError(f"{path} is larger than {MAX_SHEET_BYTES // 2**20} MiB")
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as error:
        raise SheetError(f"{path} is not a CSV file ({error})") from None
    if not rows or tuple(cell.strip() for cell in rows[0][:len(COLUMNS)]) != COLUMNS:
        raise SheetError(f"{path} is not a review sheet: its first line must be {','.join(COLUMNS)}")
    sheet, problems = {}, []
    for line, row in enumerate(rows[1:], 2):
        if not any(cell.strip() for cell in row):
            continue
        row = row + [""] * (len(COLUMNS) - len(row))
        student, question, points, score, answer = row[:len(COLUMNS)]
        try:
            sheet[(student, question)] = (_score(score, points), answer)
        except ValueError as error:
            problems.append(f"line {line} ({student}, {question}): {error}")
    if problems:
        raise SheetError(f"{path}: " + "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more"
                                                                  if len(problems) > 5 else ""))
    return sheet


def _score(text, points):
    text = text.strip()
    if not text:
        return None
    try:
        score = float(text.replace(",", ".") if "." not in text else text)  # a spreadsheet's decimal comma
        most = float(points)
    except ValueError:
        raise ValueError(f"score {text!r} is not a number") from None
    if not math.isfinite(score) or score < 0:
        raise ValueError(f"score {text!r} must be a number from 0 to {points}")
    if score > most:
        raise ValueError(f"score {text} is more than the question's {points} points")
    return score


def _manual_questions(results):
    """``{(student, question) as the sheet writes them: question result}``."""
    return {(spreadsheet_cell(r.student), spreadsheet_cell(q.id)): q
            for r in results for q in r.questions if q.manual}


def _same(sheet_answer, answer):
    """Whether the sheet shows this answer (a spreadsheet may have turned its line ends into CRLF)."""
    return sheet_answer.replace("\r\n", "\n") == spreadsheet_cell(answer).replace("\r\n", "\n")


def _give(question, score):
    """Score a manual question; None takes a score back (0 points until it is graded again)."""
    if score is not None:
        question.score, question.message, question.pending = score, GRADED, False
    elif not question.pending:
        question.score, question.message, question.pending = 0.0, PENDING, True


def earlier_sheet(output_dir):
    """The review sheet a previous ``grade`` left in ``output_dir``, or None. ``grade`` reads it before
    grading anything, so that a sheet it cannot use stops it at once, not after an hour of grading."""
    path = os.path.join(output_dir, MANUAL_SHEET)
    return read_sheet(path) if os.path.exists(path) else None


def carry_over(results, sheet, output_dir):
    """Before ``grade`` writes a new sheet: give its results the scores of ``sheet`` (the
    :func:`earlier_sheet`) whose answers are unchanged. Returns how many were carried over and how
    many could not be (the earlier sheet is then kept as ``manual.previous.csv``)."""
    if sheet is None:
        return 0, 0
    questions = _manual_questions(results)
    kept = lost = 0
    for key, (score, answer) in sheet.items():
        if score is None:
            continue
        question = questions.get(key)
        if question is not None and _same(answer, question.answer) and score <= question.max_score:
            _give(question, score)
            kept += 1
        else:
            lost += 1
    if lost:
        os.replace(os.path.join(output_dir, MANUAL_SHEET), os.path.join(output_dir, PREVIOUS_SHEET))
    return kept, lost


def merge(sheet_path, results_dir):
    """Fold the scores of a filled-in review sheet into the results in ``results_dir``.

    Returns ``(graded, pending)``: manual questions with a score, and without one.
    Raises SheetError (and writes nothing) if the sheet or the results cannot be used.
    """
    results = read_results(results_dir)
    sheet = read_sheet(sheet_path)
    questions = _manual_questions(results)
    unknown = [f"{student}/{question}" for student, question in sheet if (student, question) not in questions]
    if unknown:
        raise SheetError(f"{sheet_path}: no manually graded question {unknown[0]} in {results_dir}/grades.json"
                         + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else "")
                         + ": is this the sheet of these results?")
    over = [f"{student}/{question} ({score:g} of {questions[student, question].max_score:g})"
            for (student, question), (score, _) in sheet.items()
            if score is not None and score > questions[student, question].max_score]
    if over:
        raise SheetError(f"{sheet_path}: more points than the question has: {', '.join(over[:5])}")
    for key, (score, _) in sheet.items():  # the sheet is the record: an emptied score is not graded again
        _give(questions[key], score)
    write_reports(results, results_dir, gradescope=os.path.isdir(os.path.join(results_dir, "gradescope")))
    graded = sum(not q.pending for q in questions.values())
    return graded, len(questions) - graded


def read_results(results_dir):
    """The results ``grade`` wrote into ``results_dir`` (its ``grades.json``)."""
    path = os.path.join(results_dir, "grades.json")
    try:
        with open(path, encoding="utf-8") as file:
            return [SubmissionResult.from_dict(row) for row in json.load(file)]
    except OSError as error:
        raise SheetError(f"cannot read {path}: {error.strerror} (grade into {results_dir} first)") from None
    except (ValueError, KeyError, TypeError, AttributeError):
        raise SheetError(f"{path} is not a grader's grades.json") from None

