"""The authoring format: reading notebooks, finding questions and tests, linting.

A lesson is an nbgrader-style notebook.  Cell metadata ``nbgrader`` marks

* solution cells (``"solution": true``): the student writes code between
  ``### BEGIN SOLUTION`` and ``### END SOLUTION``; the cell's ``grade_id`` is
  the question id, and ``metadata.grader.forbidden`` lists names the answer
  must not use;
  as in nbgrader, a marker is any line that contains ``BEGIN SOLUTION`` (``## BEGIN SOLUTION``,
  ``# BEGIN SOLUTION`` and ``### BEGIN SOLUTION`` alike), and so for the others;
* test cells (``"grade": true, "solution": false, "points": N``): plain Python
  that tests the question of the nearest solution cell above it (above every
  solution cell, a test is a question of its own), with optional
  ``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS`` regions and
  ``# HINT: ...`` lines shown to a student whose test fails; a test that raises
  scores 0, and one whose last line is a number scores that many points
  (nbgrader's partial credit, :func:`test_points`); ``### AUTOTEST expr`` lines
  are written out into asserts at release, as nbgrader does (:mod:`grader.autotest`);
* manually graded cells (:class:`ManualQuestion`): an answer a person grades
  (``"solution": true`` and ``"grade": true``, markdown or code, with
  ``points``) and a task (``"task": true``, a markdown cell with ``points``:
  the student's work is anywhere in the notebook; a ``=== BEGIN MARK SCHEME ===``
  / ``=== END MARK SCHEME ===`` region in it is for the person who grades and
  is left out of the release, as nbgrader's ``ClearMarkScheme`` does).  ``grade``
  lists them on a review sheet (:mod:`grader.manual`);
* locked cells (``"locked": true``): instructor code the student cannot change;
* test-setup cells (``metadata.grader.test_setup: true``): trusted helpers for
  the tests (reference implementations, weight copying).  They are left out of
  the release, never run in the student's process, and run in the grader into
  the scope of every test (and, in the student's kernel, of every ``check()``).

It also holds what the release, ``check()`` and the grader share about tests:
which lines are hidden, and what a failed test means (:func:`test_failure`).
"""

import ast
import contextlib
import io
import json
import math
import numbers
import os
import re
import shutil
import stat
import tokenize
import traceback
from dataclasses import dataclass

import nbformat

# nbgrader's delimiters: a line that contains one is a marker, whatever comes before or after it.
SOLUTION_BEGIN, SOLUTION_END = "BEGIN SOLUTION", "END SOLUTION"
HIDDEN_BEGIN, HIDDEN_END = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
MARK_SCHEME_BEGIN, MARK_SCHEME_END = "BEGIN MARK SCHEME", "END MARK SCHEME"  # a task's notes for the grader
ATTACHMENT = re.compile(r"!\[.*\]\(attachment:.+?\)")  # a markdown image stored in the cell itself
AUTOTEST, HASHED = "AUTOTEST", "HASHED"  # nbgrader's generated tests: a comment line holding AUTOTEST
EXECUTION_VARIABLE = "NBGRADER_EXECUTION"  # nbgrader's: "autograde" while grading, "validate" in check()
SCHEMA_VERSION = 3  # nbgrader's cell-metadata schema; older ones are upgraded as nbgrader does
HINT_PREFIX = "# HINT:"
MAX_NOTEBOOK_BYTES = 64 * 2**20  # a submission is read into memory and parsed by the grader
MAX_DATA_BYTES = 64 * 2**20  # files a lesson ships with, copied into every student's folder
SETUP_ID = "grader-setup"  # the id of a release's first cell, which defines check()
NOT_IMPLEMENTED = "not implemented yet (your code raises NotImplementedError): write your code first"


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
        return without_lines(self.code, self.hidden_lines)


@dataclass(frozen=True)
class ManualQuestion:
    """A cell a person grades: a written answer (``kind`` "answer") or a task (``kind`` "task")."""

    id: str
    points: float
    kind: str
    cell_type: str


@dataclass(frozen=True)
class Question:
    """A solution cell and its tests; or a test cell above every solution cell, a question of its
    own that tests the lesson's code (a locked cell, a data file), as nbgrader grades any test cell."""

    id: str
    forbidden: tuple
    tests: tuple
    has_answer: bool = True  # whether a solution cell holds the student's answer

    @property
    def points(self):
        return sum(test.points for test in self.tests)


def cell_source(cell):
    """A cell's code as one string; anything that is not text (a submission can hold anything) is dropped."""
    source = cell.get("source", "")
    if isinstance(source, list):
        return "".join(part for part in source if isinstance(part, str))
    return source if isinstance(source, str) else ""


def _metadata(cell, key):
    metadata = cell.get("metadata")
    meta = metadata.get(key) if isinstance(metadata, dict) else None
    return meta if isinstance(meta, dict) else {}


def nbgrader_meta(cell):
    return _metadata(cell, "nbgrader")


def grader_meta(cell):
    return _metadata(cell, "grader")


def grade_id(cell):
    """The cell's ``grade_id`` if it is a string, else None (a submission's metadata may be anything)."""
    gid = nbgrader_meta(cell).get("grade_id")
    return gid if isinstance(gid, str) else None


def is_solution(cell):
    """An autograded question's answer: a code cell marked solution (and not graded by hand)."""
    meta = nbgrader_meta(cell)
    return cell.get("cell_type") == "code" and bool(meta.get("solution")) and not meta.get("grade")


def is_test(cell):
    meta = nbgrader_meta(cell)
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def is_manual_answer(cell):
    """An answer a person grades (nbgrader's "manually graded answer"): solution and grade both set."""
    meta = nbgrader_meta(cell)
    return cell.get("cell_type") in ("code", "markdown") and bool(meta.get("solution")) and bool(meta.get("grade"))


def is_task(cell):
    """nbgrader's "manually graded task": a markdown cell that states work done elsewhere in the notebook."""
    return cell.get("cell_type") == "markdown" and bool(nbgrader_meta(cell).get("task"))


def is_manual(cell):
    return is_manual_answer(cell) or is_task(cell)


def is_test_setup(cell):
    return cell.get("cell_type") == "code" and bool(grader_meta(cell).get("test_setup"))


def is_locked(cell):
    return (bool(nbgrader_meta(cell).get("locked")) and not is_solution(cell) and not is_manual_answer(cell)
            and not is_test_setup(cell))


def assignment_name(path):
    return os.path.splitext(os.path.basename(path))[0]


def test_setup_code(notebook):
    """The code of every test-setup cell, in notebook order."""
    return "".join(cell_source(c) if cell_source(c).endswith("\n") else cell_source(c) + "\n"
                   for c in notebook["cells"] if is_test_setup(c))


def read_notebook(path, follow_links=True):
    """Parse a notebook file, raising NotebookError with a one-line reason.

    A submission is read with ``follow_links=False``: it must be a regular
    file itself, never a link to one (a link could "submit" the instructor's
    source or another student's notebook) nor a pipe or a device (which would
    block or never end).
    """
    try:
        data = json.loads(_read_file(path, follow_links).decode("utf-8"))
    except OSError as error:
        raise NotebookError(f"cannot read {path}: {error.strerror}") from None
    except (UnicodeDecodeError, ValueError, RecursionError, MemoryError):
        raise NotebookError(f"{path} is not a notebook (not valid JSON)") from None
    return check_structure(data, path)


def _read_file(path, follow_links):
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | (0 if follow_links else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as error:
        if not follow_links and os.path.islink(path):
            raise NotebookError(f"{path} is a symbolic link, not a notebook file") from None
        raise error
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotebookError(f"{path} is not a regular file")
        if info.st_size > MAX_NOTEBOOK_BYTES:
            raise NotebookError(f"{path} is larger than {MAX_NOTEBOOK_BYTES // 2**20} MiB")
        with os.fdopen(fd, "rb", closefd=False) as file:
            return file.read(MAX_NOTEBOOK_BYTES + 1)
    finally:
        os.close(fd)


def check_structure(data, name="notebook"):
    if isinstance(data, dict) and data.get("nbformat") in (1, 2, 3):
        data = _upgraded(data, name)
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise NotebookError(f"{name} is not a notebook (no list of cells)")
    if data.get("nbformat") != 4:
        raise NotebookError(f"{name} is not an nbformat 4 notebook")
    if not all(isinstance(cell, dict) for cell in data["cells"]):
        raise NotebookError(f"{name} has a cell that is not a JSON object")
    return data


def _upgraded(data, name):
    """An nbformat 1-3 notebook as nbformat 4, converted by ``nbformat`` itself (as nbgrader does).

    nbformat gives the new cells random ids; they are numbered instead, so that a
    release made from an old notebook is the same on every run.
    """
    version = data["nbformat"]
    try:
        converted = json.loads(json.dumps(nbformat.convert(nbformat.from_dict(data), 4)))
    except Exception:  # noqa: BLE001 - any malformed old notebook: say so in one line
        raise NotebookError(f"{name} is an nbformat {version} notebook that cannot be converted to nbformat 4") from None
    for number, cell in enumerate(converted.get("cells", []), 1):
        if isinstance(cell, dict):
            cell["id"] = f"cell-{number}"
    return converted


def upgrade_metadata(notebook):
    """Bring each cell's nbgrader metadata to schema 3 in place, as nbgrader's ``MetadataValidatorV3`` does.

    Schema 0 (no ``schema_version``) had optional flags and points that could be
    strings; cells that are neither graded, solution nor locked lose their nbgrader
    metadata. Versions newer than 3 are left for :func:`problems` to report.
    Only a source notebook is upgraded: a submission's metadata is never trusted.
    """
    for cell in notebook["cells"]:
        meta = nbgrader_meta(cell)
        version = meta.get("schema_version", 0)
        if not meta or version not in (0, 1, 2):
            continue
        if version == 0:
            for flag in ("grade", "solution", "locked"):
                meta.setdefault(flag, False)
            if not (meta["grade"] or meta["solution"] or meta["locked"]):
                del cell["metadata"]["nbgrader"]
                continue
            if not meta["grade"]:
                meta.pop("points", None)
            elif meta.get("points", "") == "":
                meta["points"] = 0.0
            else:
                try:
                    meta["points"] = max(float(meta["points"]), 0.0)
                except (TypeError, ValueError):
                    pass  # left for problems() to report
        meta["schema_version"] = SCHEMA_VERSION
    return notebook


def read_source(path):
    """A source notebook, its nbgrader metadata upgraded to the current schema."""
    return upgrade_metadata(read_notebook(path))


def data_files(notebook, source_path):
    """The files a lesson ships with: ``metadata.grader.files``, paths relative to the source's folder.

    ``{"grader": {"files": ["words.txt", "data/"]}}`` (a folder stands for every file in it).
    They travel with the release, and grading copies them into the student
    process's folder, so code that opens them by name works as it did next to
    the notebook. Returns ``{relative path: absolute path}``; raises
    NotebookError saying what is wrong with the declaration.
    """
    files, found = _data_files(notebook, source_path)
    if found:
        raise NotebookError("; ".join(found))
    return files


def data_file_problems(notebook, source_path):
    return _data_files(notebook, source_path)[1]


def _data_files(notebook, source_path):
    declared = _metadata(notebook, "grader").get("files", [])
    if not isinstance(declared, list) or not all(isinstance(p, str) and p.strip() for p in declared):
        return {}, ["metadata grader.files must be a list of paths relative to the notebook's folder"]
    folder = os.path.dirname(os.path.abspath(source_path))
    files, found = {}, []
    for entry in declared:
        where = os.path.join(folder, os.path.normpath(entry))
        real = os.path.realpath(os.path.dirname(where))  # a linked folder on the way may lead out
        if os.path.isabs(entry) or os.path.commonpath([real, os.path.realpath(folder)]) != os.path.realpath(folder):
            found.append(f"data file {entry!r} is not inside the notebook's folder")
        elif os.path.islink(where) or not (os.path.isfile(where) or os.path.isdir(where)):
            found.append(f"data file {entry!r} is not a file or folder next to the notebook (links are not followed)")
        else:
            for name in _walk(where) if os.path.isdir(where) else [where]:
                files[os.path.relpath(name, folder)] = name
    sources = [name for name in files if name.endswith(".ipynb")]
    if sources:
        found.append(f"data files cannot be notebooks (a source would reach the students): {sources[0]}")
    if sum(os.path.getsize(p) for p in files.values()) > MAX_DATA_BYTES:
        found.append(f"data files exceed {MAX_DATA_BYTES // 2**20} MiB in all")
    return files, found


def _walk(folder):
    for root, dirs, names in os.walk(folder):  # links to folders are not followed
        dirs.sort()
        yield from (os.path.join(root, n) for n in sorted(names) if not os.path.islink(os.path.join(root, n)))


def copy_read_only(files, folder):
    """Copy ``{relative path: source}`` into ``folder``, each copy read-only."""
    for relative, source in files.items():
        destination = os.path.join(folder, relative)
        os.makedirs(os.path.dirname(destination), exist_ok=True)
        if os.path.exists(destination):
            os.chmod(destination, 0o644)  # an earlier release's read-only copy
        shutil.copyfile(source, destination)
        os.chmod(destination, 0o444)


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
        if begin in line:
            if start is not None:
                raise ValueError(f"'{begin}' on line {number + 1} inside another region")
            start = number
        elif end in line:
            if start is None:
                raise ValueError(f"'{end}' on line {number + 1} without '{begin}'")
            yield start, number
            start = None
    if start is not None:
        raise ValueError(f"'{begin}' on line {start + 1} is never closed")


def marked_lines(code, begin, end):
    """The 1-based numbers of the lines inside the regions between ``begin`` and ``end``, their
    markers included."""
    return frozenset(n + 1 for first, last in regions(code, begin, end) for n in range(first, last + 1))


def hidden_lines(code):
    """The lines of a test that students never see: the one place that decides what is hidden
    (release, check payload, grading and feedback use it)."""
    return marked_lines(code, HIDDEN_BEGIN, HIDDEN_END)


def strip_hidden(code):
    return without_lines(code, hidden_lines(code))


def strip_mark_scheme(code):
    """A task without its mark scheme: what students see of it."""
    return without_lines(code, marked_lines(code, MARK_SCHEME_BEGIN, MARK_SCHEME_END))


def is_autotest_line(line):
    """nbgrader's test: a comment line (``#`` first) that holds ``AUTOTEST`` anywhere."""
    return AUTOTEST in line and line.strip().startswith("#")


def autotest_snippets(line):
    """``(hashed, expressions)`` of an AUTOTEST line: what follows ``AUTOTEST``, split at ``;``
    (nbgrader's rule, a ``;`` inside a string included); ``HASHED`` before it hides the values."""
    start = line.find(AUTOTEST)
    snippets = [part.strip() for part in line[start + len(AUTOTEST):].strip().strip(";").split(";")]
    return HASHED in line[:start], [snippet for snippet in snippets if snippet]


def autotest_lines(code):
    """``[(hashed, expressions)]`` of each AUTOTEST line of ``code``."""
    return [autotest_snippets(line) for line in code.split("\n") if is_autotest_line(line)]


def without_lines(code, numbers):
    """``code`` without the lines whose 1-based numbers are in ``numbers``."""
    return "".join(line for n, line in enumerate(code.splitlines(keepends=True), 1) if n not in numbers)


def failing_line(error, code):
    """Describe a bare ``assert`` failure by the test line that raised it."""
    line = test_line(error, code)
    return f"assertion failed: {line}" if line else "assertion failed"


def test_line(error, code):
    """The line of the test's code where ``error`` was raised, or ''."""
    lines = [frame.lineno for frame in traceback.extract_tb(error.__traceback__)
             if frame.filename.startswith("<test ")]
    source = code.splitlines()
    return source[lines[-1] - 1].strip() if lines and 0 < lines[-1] <= len(source) else ""


def test_failure(error, code):
    """``(status, message)`` for the exception that ended a test: the one reading that ``check()``
    and grading share.

    Exceptions from a student process carry ``info`` (its type and text);
    ones the grader raises about that process carry a ``status``.
    """
    info = getattr(error, "info", None)
    if isinstance(getattr(error, "status", None), str):
        return error.status, str(error)
    if info is not None:
        return "error", NOT_IMPLEMENTED if info["type"] == "NotImplementedError" else f"your code raised {error}"
    if isinstance(error, AssertionError):
        return "fail", str(error) or failing_line(error, code)
    if isinstance(error, NotImplementedError):
        return "error", NOT_IMPLEMENTED
    if isinstance(error, NameError):
        return "error", f"{error}: run the cell that defines it first"
    return "error", f"{type(error).__name__}: {error}"


@contextlib.contextmanager
def execution_variable(value):
    """``NBGRADER_EXECUTION`` set to ``value`` while a test runs, so a test can tell, as in nbgrader."""
    previous = os.environ.get(EXECUTION_VARIABLE)
    os.environ[EXECUTION_VARIABLE] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(EXECUTION_VARIABLE, None)
        else:
            os.environ[EXECUTION_VARIABLE] = previous


def run_test_code(code, filename, namespace):
    """Run a test cell's code as IPython runs a cell; return the value its last line shows.

    That is the value of a final expression statement, or None when the cell
    ends in a statement or in ``;`` (IPython's way to show nothing).
    """
    tree = ast.parse(code, filename)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    exec(compile(tree, filename, "exec"), namespace)
    if last is None:
        return None
    value = eval(compile(ast.Expression(last.value), filename, "eval"), namespace)
    return None if _silenced(code) else value


def _silenced(code):
    """Whether the cell's last token is ``;`` (comments aside), which hides its value in IPython."""
    ignored = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.ENDMARKER, tokenize.DEDENT}
    tokens = [t for t in tokenize.generate_tokens(io.StringIO(code).readline) if t.type not in ignored]
    return bool(tokens) and tokens[-1].string == ";"


def test_points(value, points):
    """``(status, points, message)`` of a test that ran without raising and showed ``value``.

    nbgrader's partial credit: a test cell whose value is a number scores that
    many points; any other value (or none) scores full points.  A number above
    the cell's points is the test's own error, as in nbgrader.  Deliberately
    unlike nbgrader, which gives full points for a value of 0 or below (with a
    warning), such a value scores 0, and so does NaN: a test that computes a
    score of 0 means 0 (docs/grader.md).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return "pass", points, ""
    value = float(value)
    if value > points:
        return "error", 0.0, f"the test's value {value:g} is more than its {points:g} points (a bug in the test)"
    if value == points:
        return "pass", points, ""
    scored = value if value > 0 else 0.0  # NaN and negative numbers score nothing
    return "partial", scored, f"partial credit: {scored:g} of {points:g} points"


def _make_test(cell, question):
    meta = nbgrader_meta(cell)
    code = cell_source(cell)
    hidden = hidden_lines(code)
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
        elif is_test(cell) and current is None:
            test = _make_test(cell, nbgrader_meta(cell)["grade_id"])
            result.append(Question(test.id, (), (test,), has_answer=False))
        elif is_test(cell):
            tests.append(_make_test(cell, nbgrader_meta(current)["grade_id"]))
    return result


def manual_questions(notebook):
    """The manually graded cells of a valid source notebook, in order."""
    return [ManualQuestion(nbgrader_meta(cell)["grade_id"], float(nbgrader_meta(cell)["points"]),
                           "task" if is_task(cell) else "answer", cell["cell_type"])
            for cell in notebook["cells"] if is_manual(cell)]


def problems(notebook):
    """Everything wrong with a source notebook, as messages for its author."""
    found, seen, open_question = [], set(), None
    for index, cell in enumerate(notebook["cells"], 1):
        meta = nbgrader_meta(cell)
        if grader_meta(cell).get("test_setup"):
            found += _test_setup_problems(f"cell {index}", cell, meta)
        gid = meta.get("grade_id")
        where = f"cell {index}" + (f" ({gid!r})" if gid else "")
        found += _stray_marker_problems(where, cell)
        if not meta:
            continue
        if not isinstance(gid, str) or not gid.strip():
            found.append(f"{where}: grade_id must be a non-empty string")
        elif gid in seen:
            found.append(f"{where}: grade_id {gid!r} is used twice")
        seen.add(gid)
        code = cell_source(cell)
        version = meta.get("schema_version", SCHEMA_VERSION)
        if type(version) is not int or version > SCHEMA_VERSION:
            found.append(f"{where}: nbgrader schema_version {version!r} is newer than this grader knows ({SCHEMA_VERSION})")
        if meta.get("task") and cell.get("cell_type") != "markdown":
            found.append(f"{where}: a task cell (graded by hand) must be a markdown cell")
        elif meta.get("task") and (meta.get("solution") or meta.get("grade")):
            found.append(f"{where}: a task cell cannot also be a solution or test cell")
        elif is_manual(cell):
            found += _points_problems(where, meta, "a manually graded cell")
            found += (_mark_scheme_problems(where, code) if is_task(cell)
                      else _marker_problems(where, code, SOLUTION_BEGIN, SOLUTION_END))
        elif meta.get("grade") and cell.get("cell_type") != "code":
            found.append(f"{where}: a graded {cell.get('cell_type')} cell must also be a solution cell "
                         f"(a manually graded answer) or a task")
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
            found += _points_problems(where, meta, "test cell")
            open_question = None
            found += _marker_problems(where, code, HIDDEN_BEGIN, HIDDEN_END)
            found += _test_code_problems(where, code)
    if open_question is not None:
        found.append(f"question {open_question!r} has no test cell")
    if not seen:
        found.append("no graded cells: mark solution and test cells with nbgrader metadata")
    elif not any(is_solution(cell) or is_manual(cell) or is_test(cell) for cell in notebook["cells"]):
        found.append("no questions: nothing to grade without a solution, test or manually graded cell")
    return found


def _points_problems(where, meta, what):
    points = meta.get("points")
    if type(points) not in (int, float) or not math.isfinite(points) or points < 0:
        return [f"{where}: {what} needs finite, non-negative numeric 'points'"]
    return []


def _test_code_problems(where, code):
    """A test that cannot fail passes every answer: one with no statement, or an assert commented out."""
    try:
        tree = ast.parse(code)
    except SyntaxError as error:
        return [f"{where}: test is not valid Python (line {error.lineno}: {error.msg})"]
    autotests = autotest_lines(code)
    if not tree.body and not autotests:
        return [f"{where}: test has no code that runs (only comments), so every answer would pass"]
    found = [f"{where}: an AUTOTEST line with no expression after it tests nothing"
             for _, snippets in autotests if not snippets]
    for token in tokenize.generate_tokens(io.StringIO(code).readline):
        text = token.string.lstrip("#").strip()
        if token.type == tokenize.COMMENT and text.startswith("assert ") and _parses(text):
            found.append(f"{where}: line {token.start[0]} is an assert inside a comment, which tests nothing")
    return found


def _parses(text):
    try:
        ast.parse(text)
    except SyntaxError:
        return False
    return True


def _test_setup_problems(where, cell, meta):
    """A test-setup cell is trusted code shown to students in check(): plain, visible Python."""
    code = cell_source(cell)
    if cell.get("cell_type") != "code" or meta.get("solution") or meta.get("grade"):
        return [f"{where}: a test-setup cell must be a code cell that is neither a solution nor a test"]
    if HIDDEN_BEGIN in code:
        return [f"{where}: a test-setup cell cannot hide code (it runs before every visible test, in check() too)"]
    try:
        ast.parse(code)
    except SyntaxError as error:
        return [f"{where}: test setup is not valid Python (line {error.lineno}: {error.msg})"]
    return []


def _stray_marker_problems(where, cell):
    """A marker in a cell of the wrong kind: the release would ship what it marks (nbgrader refuses it too)."""
    code, found = cell_source(cell), []
    if not (is_solution(cell) or is_manual_answer(cell)) and SOLUTION_BEGIN in code:
        found.append(f"{where}: '{SOLUTION_BEGIN}' outside a solution cell")
    if not is_test(cell) and HIDDEN_BEGIN in code:
        found.append(f"{where}: '{HIDDEN_BEGIN}' outside a test cell")
    if not is_task(cell) and MARK_SCHEME_BEGIN in code:
        found.append(f"{where}: '{MARK_SCHEME_BEGIN}' outside a task cell")
    if cell.get("cell_type") == "code" and not is_test(cell) and autotest_lines(code):
        found.append(f"{where}: an AUTOTEST line outside a test cell (only test cells' AUTOTEST lines become tests)")
    return found


def _mark_scheme_problems(where, code):
    """A task's mark scheme leaves the release; an image attached to the cell would not."""
    found = _marker_problems(where, code, MARK_SCHEME_BEGIN, MARK_SCHEME_END)
    if found:
        return found
    scheme = marked_lines(code, MARK_SCHEME_BEGIN, MARK_SCHEME_END)
    if any(ATTACHMENT.search(line) for n, line in enumerate(code.splitlines(), 1) if n in scheme):
        found.append(f"{where}: an attachment in the mark scheme would reach the students with the cell: "
                     f"embed the image as a data URL instead")
    return found


def _marker_problems(where, code, begin, end):
    try:
        list(regions(code, begin, end))
    except ValueError as error:
        return [f"{where}: {error}"]
    return []
