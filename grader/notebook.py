"""The authoring format: reading notebooks, finding questions and tests, linting.

A lesson is an nbgrader-style notebook.  Cell metadata ``nbgrader`` marks

* solution cells (``"solution": true``): the student writes code between
  ``### BEGIN SOLUTION`` and ``### END SOLUTION``; the cell's ``grade_id`` is
  the question id, and ``metadata.grader.forbidden`` lists names the answer
  must not use;
* test cells (``"grade": true, "solution": false, "points": N``): plain Python
  that tests the question of the nearest solution cell above it, with optional
  ``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS`` regions and
  ``# HINT: ...`` lines shown to a student whose test fails;
* locked cells (``"locked": true``): instructor code the student cannot change.
"""

import ast
import json
from dataclasses import dataclass

SOLUTION_BEGIN, SOLUTION_END = "### BEGIN SOLUTION", "### END SOLUTION"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
HINT_PREFIX = "# HINT:"


class NotebookError(Exception):
    """A notebook that cannot be used; the message is meant for a person."""


@dataclass(frozen=True)
class Test:
    """One test cell: all-or-nothing ``points``, run as ``code`` in the grader."""

    id: str
    question: str
    points: float
    code: str             # the whole cell, hidden regions included
    hidden_lines: frozenset  # 1-based line numbers of ``code`` inside hidden regions
    hints: tuple

    @property
    def has_hidden(self):
        return bool(self.hidden_lines)

    @property
    def is_visible(self):
        """Whether any code is left once hidden regions are removed."""
        return any(line.strip() and not line.strip().startswith("#") for line in self.visible_code.splitlines())

    @property
    def visible_code(self):
        """The test as a student sees it: hidden lines removed."""
        return "".join(line for number, line in enumerate(self.code.splitlines(keepends=True), 1)
                       if number not in self.hidden_lines)


@dataclass(frozen=True)
class Question:
    id: str
    forbidden: tuple
    tests: tuple

    @property
    def points(self):
        return sum(test.points for test in self.tests)


def cell_source(cell):
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def nbgrader_meta(cell):
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def grader_meta(cell):
    meta = cell.get("metadata", {}).get("grader", {})
    return meta if isinstance(meta, dict) else {}


def is_solution(cell):
    return cell.get("cell_type") == "code" and bool(nbgrader_meta(cell).get("solution"))


def is_test(cell):
    meta = nbgrader_meta(cell)
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def is_locked(cell):
    return bool(nbgrader_meta(cell).get("locked")) and not is_solution(cell)


def read_notebook(path):
    """Parse a notebook file, raising NotebookError with a one-line reason."""
    try:
        with open(path, "rb") as file:
            data = json.loads(file.read().decode("utf-8"))
    except OSError as error:
        raise NotebookError(f"cannot read {path}: {error.strerror}") from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise NotebookError(f"{path} is not a notebook (not valid JSON)") from None
    return check_structure(data, path)


def check_structure(data, name="notebook"):
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise NotebookError(f"{name} is not a notebook (no list of cells)")
    if data.get("nbformat") != 4:
        raise NotebookError(f"{name} is not an nbformat 4 notebook")
    if not all(isinstance(cell, dict) for cell in data["cells"]):
        raise NotebookError(f"{name} has a cell that is not a JSON object")
    return data


def write_notebook(notebook):
    """Serialise deterministically, in the layout Jupyter itself writes."""
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def split_lines(text):
    """Notebook JSON stores source as a list of lines, each with its newline."""
    return text.splitlines(keepends=True)


def regions(code, begin, end):
    """Yield ``(first, last)`` 0-based line indexes of each marked region.

    Raises ValueError for unbalanced or nested markers.
    """
    start = None
    for number, line in enumerate(code.splitlines()):
        marker = line.strip()
        if marker == begin:
            if start is not None:
                raise ValueError(f"'{begin}' on line {number + 1} inside another region")
            start = number
        elif marker == end:
            if start is None:
                raise ValueError(f"'{end}' on line {number + 1} without '{begin}'")
            yield start, number
            start = None
    if start is not None:
        raise ValueError(f"'{begin}' on line {start + 1} is never closed")


def strip_hidden(code):
    lines = code.splitlines(keepends=True)
    hidden = {n for first, last in regions(code, HIDDEN_BEGIN, HIDDEN_END) for n in range(first, last + 1)}
    return "".join(line for n, line in enumerate(lines) if n not in hidden)


def _make_test(cell, question):
    meta = nbgrader_meta(cell)
    code = cell_source(cell)
    hidden = frozenset(n + 1 for first, last in regions(code, HIDDEN_BEGIN, HIDDEN_END)
                       for n in range(first, last + 1))
    hints = tuple(line.strip()[len(HINT_PREFIX):].strip()
                  for n, line in enumerate(code.splitlines(), 1)
                  if line.strip().startswith(HINT_PREFIX) and n not in hidden)
    return Test(meta["grade_id"], question, float(meta["points"]), code, hidden, hints)


def questions(notebook):
    """The questions of a valid source notebook, in order.

    Raises NotebookError with every problem :func:`problems` finds.
    """
    found = problems(notebook)
    if found:
        raise NotebookError("; ".join(found))
    result, current, tests = [], None, []
    for cell in notebook["cells"] + [None]:
        if cell is None or is_solution(cell):
            if current is not None:
                forbidden = tuple(grader_meta(current).get("forbidden", ()))
                result.append(Question(nbgrader_meta(current)["grade_id"], forbidden, tuple(tests)))
            current, tests = cell, []
        elif is_test(cell):
            tests.append(_make_test(cell, nbgrader_meta(current)["grade_id"]))
    return result


def problems(notebook):
    """Everything wrong with a source notebook, as messages for its author."""
    found, seen, open_question = [], set(), None
    for index, cell in enumerate(notebook["cells"], 1):
        meta = nbgrader_meta(cell)
        if not meta:
            continue
        gid = meta.get("grade_id")
        where = f"cell {index}" + (f" ({gid!r})" if gid else "")
        if not isinstance(gid, str) or not gid.isidentifier():
            found.append(f"{where}: grade_id must be a name like 'q_softmax'")
        elif gid in seen:
            found.append(f"{where}: grade_id {gid!r} is used twice")
        seen.add(gid)
        code = cell_source(cell)
        if meta.get("solution") and meta.get("grade"):
            found.append(f"{where}: manually graded cells (solution and grade) are not supported")
        elif meta.get("solution") and cell.get("cell_type") != "code":
            found.append(f"{where}: only code cells can be solution cells")
        elif is_solution(cell):
            if open_question is not None:
                found.append(f"{where}: question {open_question!r} above has no test cell")
            open_question = gid
            found += _marker_problems(where, code, SOLUTION_BEGIN, SOLUTION_END)
            forbidden = grader_meta(cell).get("forbidden", [])
            if not isinstance(forbidden, list) or not all(isinstance(n, str) and n for n in forbidden):
                found.append(f"{where}: metadata grader.forbidden must be a list of names")
        elif is_test(cell):
            points = meta.get("points")
            if type(points) not in (int, float) or points < 0:
                found.append(f"{where}: test cell needs non-negative numeric 'points'")
            if open_question is None and not any(is_solution(c) for c in notebook["cells"][:index]):
                found.append(f"{where}: test cell comes before any solution cell")
            open_question = None
            found += _marker_problems(where, code, HIDDEN_BEGIN, HIDDEN_END)
            try:
                ast.parse(code)
            except SyntaxError as error:
                found.append(f"{where}: test is not valid Python (line {error.lineno}: {error.msg})")
        if not is_solution(cell) and SOLUTION_BEGIN in code:
            found.append(f"{where}: '{SOLUTION_BEGIN}' outside a solution cell")
        if not is_test(cell) and HIDDEN_BEGIN in code:
            found.append(f"{where}: '{HIDDEN_BEGIN}' outside a test cell")
    if open_question is not None:
        found.append(f"question {open_question!r} has no test cell")
    if not seen:
        found.append("no graded cells: mark solution and test cells with nbgrader metadata")
    return found


def _marker_problems(where, code, begin, end):
    try:
        list(regions(code, begin, end))
    except ValueError as error:
        return [f"{where}: {error}"]
    return []
