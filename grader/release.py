"""Make the student version of a lesson notebook.

The output depends only on the source notebook's content and file name (and,
for nbgrader's AUTOTEST lines, the values its own solutions give), so a
committed release can be compared byte for byte with a fresh one.
"""

import base64
import json
import os

from . import notebook as nb
from . import scope
from .grade import source_notebook
from .sandbox import Limits

STUB = ["# YOUR CODE HERE", "raise NotImplementedError()"]
MARKDOWN_STUB = ["YOUR ANSWER HERE"]  # a written answer's place, as nbgrader leaves it


def release_notebook(source_path, limits=Limits()):
    """Return the released notebook for ``source_path`` as text (JSON).

    Its AUTOTEST lines are written out first, as nbgrader's generate_assignment
    does: that runs the source once under ``limits`` (:func:`grader.grade.source_notebook`).
    """
    source = source_notebook(source_path, limits)
    questions = nb.questions(source)  # raises NotebookError on an invalid source
    name = nb.assignment_name(source_path)
    manual = [q.id for q in nb.manual_questions(source)]
    cells = [_setup_cell(name, questions, scope.TestScope(source).lesson_names, nb.test_setup_code(source), manual)]
    cells += [_release_cell(cell) for cell in source["cells"] if not nb.is_test_setup(cell)]
    metadata = dict(source.get("metadata", {}), grader={"assignment": name})
    released = {"cells": cells, "metadata": metadata,
                "nbformat": 4, "nbformat_minor": source.get("nbformat_minor", 5)}
    return nb.write_notebook(released)


def release(source_path, output_dir):
    """Write the release into ``output_dir`` under the source's file name, with the lesson's
    data files (:func:`grader.notebook.data_files`) beside it, read-only; return its path."""
    text = release_notebook(source_path)
    files = nb.data_files(nb.read_source(source_path), source_path)
    os.makedirs(output_dir, exist_ok=True)
    target = os.path.join(output_dir, os.path.basename(source_path))
    with open(target, "w", encoding="utf-8", newline="\n") as file:
        file.write(text)
    nb.copy_read_only(files, output_dir)
    return target



def _release_cell(cell):
    cell = json.loads(json.dumps(cell))  # a deep copy we may edit
    code = nb.cell_source(cell)
    if nb.is_solution(cell) or nb.is_manual_answer(cell):
        code = stub_solutions(code, MARKDOWN_STUB if cell.get("cell_type") == "markdown" else STUB)
    elif nb.is_test(cell):
        code = nb.strip_hidden(code)
    elif nb.is_task(cell):
        code = nb.strip_mark_scheme(code)
    if nb.is_test(cell) or nb.is_locked(cell) or nb.is_task(cell):
        cell["metadata"].update(editable=False, deletable=False)
    if cell.get("cell_type") == "code":
        cell.update(outputs=[], execution_count=None)
    cell["source"] = nb.split_lines(code)
    return cell


def stub_solutions(code, stub=STUB):
    """Replace each solution region (or the whole cell if it has none) by ``stub``."""
    lines = code.splitlines()
    spans = list(nb.regions(code, nb.SOLUTION_BEGIN, nb.SOLUTION_END))
    if not spans:
        return "\n".join(stub) + "\n"
    result, position = [], 0
    for first, last in spans:
        indent = lines[first][: len(lines[first]) - len(lines[first].lstrip())]
        result += lines[position:first] + [indent + line for line in stub]
        position = last + 1
    return "\n".join(result + lines[position:]) + ("\n" if code.endswith("\n") else "")


def _setup_cell(name, questions, lesson_names, test_setup, manual=()):
    """First cell of a release: defines ``check(question_id)`` with the visible tests.

    The lesson's names travel too, so that ``check`` sees the student's names
    as the grader does (a student's ``len`` never replaces the tests' ``len``).
    """
    tests = [[q.id, [{"id": t.id, "code": t.visible_code, "hints": list(t.hints), "points": t.points}
                     for t in q.tests if t.is_visible]] for q in questions]  # a list keeps notebook order
    # base64 of JSON, not compressed: compressors differ between zlib builds, and
    # the release must be byte-identical on every machine.
    payload = {"names": lesson_names, "questions": tests, "setup": test_setup}
    if manual:  # only then, so that releases without manual questions keep their bytes
        payload["manual"] = manual
    packed = base64.b64encode(json.dumps(payload, sort_keys=True).encode()).decode()
    example = f"check({questions[0].id!r})" if questions else "check()"
    source = (
        "# Run this cell first. Afterwards, check(\"question_id\") runs the visible tests\n"
        "# of that question on your code, e.g. " + example + ".\n"
        "from grader.check import make_check\n"
        f"check = make_check({name!r}, {packed!r})"
    )
    return {"cell_type": "code", "execution_count": None, "id": nb.SETUP_ID,
            "metadata": {"editable": False, "deletable": False, "grader": {"setup": True}},
            "outputs": [], "source": nb.split_lines(source)}
