"""The assignment: a source notebook ready for grading, and the plan for one submission.

An :class:`Assignment` holds the questions and tests (with any private extra
tests), the cells to restore, the tests' scope (:mod:`grader.scope`) and what
the forbidden-name check needs.  :func:`plan` turns a submission's cells into
the ordered :class:`Step` list the runner (:mod:`grader.grade`) carries out:
cells to run in the student process, tests to run in the grader.  Model:
nbgrader's ``converters/autograde.py``, small named stages.
"""

import os
import re
from dataclasses import dataclass, replace

from . import forbidden, scope
from . import notebook as nb
from .results import QuestionResult, SubmissionResult, manual_result, test_result
from .sandbox import module_paths

MAX_SUBMISSION_CODE = 300_000  # characters of code in one submission: the grader reads all of it
MAX_ANSWER = 20_000  # characters of one manually graded answer kept for the review sheet


class Assignment:
    """A source notebook ready for grading: questions, cells to restore, the tests' scope."""

    def __init__(self, source_path, extra_tests=None, notebook=None):
        """``notebook``: the source as already read, e.g. with its AUTOTEST lines written out
        (:func:`grader.grade.source_notebook`); by default, the file at ``source_path``."""
        self.name = nb.assignment_name(source_path)
        self.filename = os.path.basename(source_path)
        self.folder = os.path.basename(os.path.dirname(os.path.abspath(source_path)))  # nbgrader's assignment
        self.notebook = nb.read_source(source_path) if notebook is None else notebook
        # Tests open the lesson's data files by name: they run in the source's folder, the
        # student's code in its own folder holding read-only copies (nbgrader runs both there).
        self.source_folder = os.path.dirname(os.path.abspath(source_path))
        self.data_files = nb.data_files(self.notebook, source_path)
        self.questions = nb.questions(self.notebook)
        if extra_tests:
            self.questions = _add_extra_tests(self.questions, extra_tests)
        self.cells = {nb.grade_id(c): c for c in self.notebook["cells"] if nb.grade_id(c)}
        self.order = list(self.cells)
        self.tests = {t.id: t for q in self.questions for t in q.tests}
        self.manual = nb.manual_questions(self.notebook)
        # Questions as the gradebook lists them: autograded and manual, in notebook order.
        own = {q.id for q in self.questions if not q.has_answer}  # test cells that are questions of their own
        self.question_order = [gid for gid, c in self.cells.items() if nb.is_solution(c) or nb.is_manual(c)
                               or gid in own]
        code_cells = [c for c in self.notebook["cells"] if c.get("cell_type") == "code" and not nb.is_test_setup(c)]
        self.scope = scope.TestScope(self.notebook)
        self.test_reads = {q.id: set().union(*(_reads(t.code) for t in q.tests)) for q in self.questions}
        # What each test defines for later tests (nbgrader's one kernel); a lesson's names never carry over.
        self.test_binds = {t.id: _binds(t.code) - set(self.scope.lesson_names) for t in self.tests.values()}
        # The lesson's own unmarked cells, by the marked cell they follow: a student's copy that
        # is unchanged and in its place is the instructor's code, not the student's.
        self.lesson_cells = {(anchor, nb.cell_source(cell)) for anchor, cell in _anchored(code_cells)
                             if not nb.grade_id(cell)}
        self.read_paths = module_paths([name for name in self.scope.modules if name != "grader"])

    def empty_result(self, student, status, message):
        """A result with every question at 0, for a submission that could not be graded."""
        questions = [QuestionResult(q.id, 0.0, q.points, message,
                                    [test_result(t, "error", message) for t in q.tests])
                     for q in self.questions]
        return SubmissionResult(student, self.name, status, message,
                                self.ordered(questions + [manual_result(q) for q in self.manual]))

    def ordered(self, results):
        """Question results in notebook order."""
        return sorted(results, key=lambda q: self.question_order.index(q.id))


def _reads(code):
    tree, _ = forbidden.parse_cell(code)
    return scope.read_names(tree) if tree else set()


def _binds(code):
    tree, _ = forbidden.parse_cell(code)
    return scope.bound_names(tree) if tree else set()


def _anchored(cells):
    """``(grade_id of the nearest marked cell above, cell)`` for each cell."""
    anchor = None
    for cell in cells:
        yield anchor, cell
        anchor = nb.grade_id(cell) or anchor


def _add_extra_tests(questions, directory):
    """Private tests from ``DIR/<question_id>/*.py``; a ``# points: N`` line sets the points (default 1)."""
    known = {q.id for q in questions}
    extra = {}
    for qid in sorted(os.listdir(directory)):
        if not os.path.isdir(os.path.join(directory, qid)):
            continue
        if qid not in known:
            raise nb.NotebookError(f"extra tests for unknown question {qid!r} in {directory}")
        for name in sorted(os.listdir(os.path.join(directory, qid))):
            if name.endswith(".py"):
                with open(os.path.join(directory, qid, name), encoding="utf-8") as file:
                    code = file.read()
                found = re.search(r"^# points:\s*([0-9.]+)\s*$", code, re.M)
                lines = frozenset(range(1, code.count("\n") + 2))
                test = nb.Test(f"{qid}.{name[:-3]}", qid, float(found.group(1)) if found else 1.0, code, lines, ())
                extra.setdefault(qid, []).append(test)
    return [replace(q, tests=q.tests + tuple(extra.get(q.id, ()))) for q in questions]


def submission_cells(assignment, path):
    """``(cells, answers)``: ``(position, cell)`` of the submission's code cells (position 1-based,
    as Jupyter counts), and ``{grade_id: text}`` of its manually graded answers (text only, cut
    to MAX_ANSWER characters: a submission's cells may hold anything)."""
    notebook = nb.read_notebook(path, follow_links=False)
    metadata = notebook.get("metadata")
    claimed = metadata.get("grader") if isinstance(metadata, dict) else None
    claimed = claimed.get("assignment") if isinstance(claimed, dict) else None
    if claimed is not None and claimed != assignment.name:
        raise nb.NotebookError(f"this is assignment {str(claimed)[:100]!r}, not {assignment.name!r}")
    if not {nb.grade_id(c) for c in notebook["cells"]} & set(assignment.cells):
        raise nb.NotebookError(f"no cell of assignment {assignment.name!r} found: wrong notebook?")
    cells = [(position, c) for position, c in enumerate(notebook["cells"], 1) if c.get("cell_type") == "code"
             and c.get("id") != nb.SETUP_ID and not nb.grader_meta(c).get("setup")]
    if sum(len(nb.cell_source(c)) for _, c in cells) > MAX_SUBMISSION_CODE:
        raise nb.NotebookError(f"the notebook's code cells hold more than {MAX_SUBMISSION_CODE:,} characters")
    wanted = {q.id: q.cell_type for q in assignment.manual if q.kind == "answer"}
    answers = {}
    for cell in notebook["cells"]:
        gid = nb.grade_id(cell)
        if gid in wanted and gid not in answers and cell.get("cell_type") == wanted[gid]:
            answers[gid] = nb.cell_source(cell)[:MAX_ANSWER]
    return cells, answers


@dataclass(frozen=True)
class Step:
    """One thing grading does, in notebook order: run a cell in the student process, or run a test here."""

    kind: str                  # "cell" or "test"
    code: str = ""             # a cell's code
    test: nb.Test = None       # a test
    question: str = None       # the question a cell answers
    position: int = 0          # a cell's place in the submission (0: restored from the source)
    authored: bool = False     # a cell of the student's own code (an answer, an added or edited cell)


def plan(assignment, cells):
    """The steps to run, in notebook order.

    Solution cells come from the submission; locked and test cells from the
    source.  A deleted locked or test cell goes back after the nearest cell
    that precedes it in the source.  Nothing after the last test runs: it
    cannot change a verdict, and a lesson may end with minutes of training.
    """
    steps, placed = [], {}
    anchor = None  # the nearest marked cell above, which places an unmarked cell in the lesson
    for position, cell in cells:
        gid = nb.grade_id(cell)
        source = assignment.cells.get(gid)
        if gid in placed or (source is not None and nb.is_test_setup(source)):
            continue  # a test-setup cell runs in the grader, never in the student's process
        if gid in assignment.tests:
            steps.append(Step("test", test=assignment.tests[gid]))
        elif source is not None and nb.is_solution(source):
            steps.append(Step("cell", nb.cell_source(cell), question=gid, position=position, authored=True))
        elif source is not None and nb.is_locked(source):
            steps.append(Step("cell", nb.cell_source(source), position=position))
        else:
            code = nb.cell_source(cell)
            steps.append(Step("cell", code, position=position, authored=(anchor, code) not in assignment.lesson_cells))
        if source is not None:
            placed[gid] = len(steps) - 1
            anchor = gid
    for position, gid in enumerate(assignment.order):
        cell = assignment.cells[gid]
        if gid in placed or not (nb.is_test(cell) or (nb.is_locked(cell) and cell.get("cell_type") == "code")):
            continue
        before = [placed[g] for g in assignment.order[:position] if g in placed]
        where = max(before) + 1 if before else 0
        step = Step("test", test=assignment.tests[gid]) if nb.is_test(cell) else Step("cell", nb.cell_source(cell))
        steps.insert(where, step)
        placed = {g: i + (i >= where) for g, i in placed.items()}
        placed[gid] = where
    extra = [t for q in assignment.questions for t in q.tests if t.id not in assignment.cells]
    for test in extra:  # private tests run right after the question's last test
        tests = [i for i, s in enumerate(steps) if s.kind == "test" and s.test.question == test.question]
        steps.insert(max(tests) + 1 if tests else len(steps), Step("test", test=test))
    last_test = max((i for i, step in enumerate(steps) if step.kind == "test"), default=-1)
    return steps[:last_test + 1]
