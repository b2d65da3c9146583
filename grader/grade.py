"""Grade submissions: run student cells in a sandbox, run tests here, score.

The student's cells (from the submission) and the instructor's locked cells
(from the source) run in the student process in notebook order.  Each test
cell, always taken from the source with its hidden tests, runs in *this*
process at its place in that order, with globals built by
:mod:`grader.scope` and student values reached through :mod:`grader.proxy`.
So every verdict comes from trusted code comparing plain values.
"""

import builtins
import os
import random
import re
import sys
import traceback
import zlib
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context

import numpy

from . import forbidden, proxy, scope
from . import notebook as nb
from .check import failing_line, test_line
from .release import SETUP_ID, assignment_name
from .sandbox import Limits, Sandbox, SandboxError, module_paths
from .submissions import Submission, find_submissions

STATUSES = ("pass", "fail", "error", "timeout", "memory")
MAX_SUBMISSION_CODE = 300_000  # characters of code in one submission: the grader reads all of it
WITHHELD = "the message is shown by check() in your notebook"


@dataclass
class TestResult:
    id: str
    visible: bool         # the student can see (part of) this test
    hidden: bool          # the test has hidden parts
    points: float
    max_points: float
    status: str           # one of STATUSES
    message: str = ""
    hints: tuple = ()


@dataclass
class QuestionResult:
    id: str
    score: float
    max_score: float
    message: str
    tests: list


@dataclass
class SubmissionResult:
    student: str
    assignment: str
    status: str           # ok, invalid, timeout, memory, crashed, error
    message: str
    questions: list = field(default_factory=list)
    log: str = ""         # the start of the student process's output

    @property
    def score(self):
        return sum(q.score for q in self.questions)

    @property
    def max_score(self):
        return sum(q.max_score for q in self.questions)

    def to_dict(self):
        return dict(asdict(self), score=self.score, max_score=self.max_score)


def test_result(test, status, message="", hints=()):
    points = test.points if status == "pass" else 0.0
    return TestResult(test.id, test.is_visible, test.has_hidden, points, test.points, status, message, hints)


class Assignment:
    """A source notebook ready for grading: questions, cells to restore, the tests' scope."""

    def __init__(self, source_path, extra_tests=None):
        self.name = assignment_name(source_path)
        self.filename = os.path.basename(source_path)
        self.notebook = nb.read_notebook(source_path)
        self.questions = nb.questions(self.notebook)
        if extra_tests:
            self.questions = _add_extra_tests(self.questions, extra_tests)
        self.cells = {nb.grade_id(c): c for c in self.notebook["cells"] if nb.grade_id(c)}
        self.order = list(self.cells)
        self.tests = {t.id: t for q in self.questions for t in q.tests}
        code_cells = [c for c in self.notebook["cells"] if c.get("cell_type") == "code"]
        self.scope = scope.TestScope([(nb.cell_source(c), nb.is_test(c)) for c in code_cells])
        self.test_reads = {q.id: set().union(*(_reads(t.code) for t in q.tests)) for q in self.questions}
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
        return SubmissionResult(student, self.name, status, message, questions)


def _reads(code):
    tree, _ = forbidden.parse_cell(code)
    return scope.read_names(tree) if tree else set()


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
    return [nb.Question(q.id, q.forbidden, q.tests + tuple(extra.get(q.id, ()))) for q in questions]


# ---- one submission ---------------------------------------------------------------


def grade_notebook(source, submission, limits=Limits(), extra_tests=None, student=None):
    """Grade one submitted notebook against ``source`` (a path or an :class:`Assignment`)."""
    assignment = source if isinstance(source, Assignment) else Assignment(source, extra_tests)
    student = student or assignment_name(submission)
    try:
        cells = _submission_cells(assignment, submission)
    except nb.NotebookError as error:
        return assignment.empty_result(student, "invalid", str(error))
    return _Grading(assignment, cells, limits).run(student)


def _submission_cells(assignment, path):
    """``(position, cell)`` of the submission's code cells (position 1-based, as Jupyter counts)."""
    notebook = nb.read_notebook(path, follow_links=False)
    metadata = notebook.get("metadata")
    claimed = metadata.get("grader") if isinstance(metadata, dict) else None
    claimed = claimed.get("assignment") if isinstance(claimed, dict) else None
    if claimed is not None and claimed != assignment.name:
        raise nb.NotebookError(f"this is assignment {str(claimed)[:100]!r}, not {assignment.name!r}")
    if not {nb.grade_id(c) for c in notebook["cells"]} & set(assignment.cells):
        raise nb.NotebookError(f"no cell of assignment {assignment.name!r} found: wrong notebook?")
    cells = [(position, c) for position, c in enumerate(notebook["cells"], 1) if c.get("cell_type") == "code"
             and c.get("id") != SETUP_ID and not nb.grader_meta(c).get("setup")]
    if sum(len(nb.cell_source(c)) for _, c in cells) > MAX_SUBMISSION_CODE:
        raise nb.NotebookError(f"the notebook's code cells hold more than {MAX_SUBMISSION_CODE:,} characters")
    return cells


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
        if gid in placed:
            continue
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
        if gid in placed or not (nb.is_test(cell) or nb.is_locked(cell)):
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


class _HiddenLines:
    """Whether any hidden line of a test ran: traces the test's own code (and nothing else).

    Once a hidden line has run, anything that fails later in the test may
    carry hidden data (a visible helper called with a hidden case, a visible
    loop over hidden cases), so the failure is reported as hidden.
    """

    def __init__(self, test):
        self.filename, self.lines, self.ran = _filename(test), test.hidden_lines, False

    def __enter__(self):
        if self.lines:
            self.previous = sys.gettrace()
            sys.settrace(self._frame)
        return self

    def __exit__(self, *exc):
        if self.lines:
            sys.settrace(self.previous)

    def _frame(self, frame, event, arg):
        return self._line if frame.f_code.co_filename == self.filename else None

    def _line(self, frame, event, arg):
        if event == "line" and frame.f_lineno in self.lines:
            self.ran = True
            sys.settrace(None)  # nothing more to learn
            return None
        return self._line


def _filename(test):
    return f"<test {test.id}>"


class _Grading:
    """The state of grading one submission."""

    def __init__(self, assignment, cells, limits):
        self.assignment, self.limits = assignment, limits
        self.steps = plan(assignment, cells)
        self.trees = [forbidden.parse_cell(step.code) if step.kind == "cell" else (None, "") for step in self.steps]
        self.results = {}
        self.notes = {q.id: [] for q in assignment.questions}
        self.skipped = []    # cells not run, for the submission's message
        self.tainted = False  # a hidden test has run: the student process may hold hidden data
        solutions = {nb.grade_id(c) for _, c in cells if nb.is_solution(c)}
        self.missing = {q.id for q in assignment.questions if q.id not in solutions}
        self.violations = {q.id: found for q in assignment.questions if q.forbidden
                           for found in [self._violation(q)] if found}

    def _violation(self, question):
        """The forbidden-name check on the code that runs before the question's last test."""
        ends = [i for i, step in enumerate(self.steps) if step.kind == "test" and step.test.question == question.id]
        cells = [forbidden.Cell(step.position, tree, step.authored, answer=step.question == question.id)
                 for step, (tree, _) in zip(self.steps[:max(ends, default=len(self.steps))], self.trees)
                 if step.kind == "cell" and tree is not None]
        found = forbidden.violation(cells, question.forbidden, self.assignment.test_reads[question.id])
        if not found:
            return None
        message, position, line = found
        answers = {step.position for step in self.steps if step.question == question.id}
        return f"{message} (line {line} of {'your answer' if position in answers else f'cell {position}'})"

    def run(self, student):
        status, message, log = "ok", "", ""
        try:
            with Sandbox(self.limits, self.assignment.read_paths) as box:
                self._run_steps(box)
                message = box.note or ""  # e.g. a limit this machine could not apply
                if box.dead and box.dead.status in ("timeout", "memory"):
                    status, message = box.dead.status, str(box.dead)
                elif box.dead:
                    status, message = "crashed", str(box.dead)
            log = box.output.decode("utf-8", "backslashreplace")
        except SandboxError as error:  # the process failed to start or died at once
            status, message = ("crashed" if error.status == "error" else error.status), str(error)
            self._stop_all(error)
        if self.skipped and status == "ok":
            message = "; ".join(filter(None, [message] + self.skipped))
        result = SubmissionResult(student, self.assignment.name, status, message, log=log)
        for question in self.assignment.questions:
            result.questions.append(self._score(question))
        return result

    def _run_steps(self, box):
        for step, (tree, problem) in zip(self.steps, self.trees):
            if box.dead:
                self._stop_all(box.dead)
                return
            if step.kind == "test":
                if step.test.question not in self.missing and step.test.question not in self.violations:
                    self.results[step.test.id] = self._run_test(step.test, box)
            elif tree is None:  # IPython could not run it either; never let the student's shell decide
                self._not_run(step, problem)
            else:
                self._run_cell(box, step)

    def _not_run(self, step, problem):
        text = f"not run: it is {problem}"
        if step.question:
            self.notes[step.question].append(f"your cell was {text}")
        elif step.position:
            self.skipped.append(f"cell {step.position} was {text}")

    def _run_cell(self, box, step):
        try:
            error = proxy.ask(box, "run", code=step.code)
        except SandboxError as error:
            if step.question:
                self.notes[step.question].append(f"your cell stopped: {error}")
            return
        if error and step.question:
            detail = f": {error['message'][:300]}" if not self.tainted else ""
            self.notes[step.question].append(f"your cell raised {_type_name(error, self.tainted)}{detail}")

    def _run_test(self, test, box):
        seed = zlib.crc32(test.id.encode())
        random.seed(seed)
        numpy.random.seed(seed)
        hidden = _HiddenLines(test)
        try:
            proxy.ask(box, "seed", seed=seed)
            globals_ = self.assignment.scope.build(box)
            with hidden:
                exec(compile(test.code, _filename(test), "exec"), globals_)
        except BaseException as error:  # noqa: B036 - a test may raise anything; KeyboardInterrupt re-raised
            if isinstance(error, KeyboardInterrupt):
                raise
            return self._failure(test, error, hidden.ran)
        finally:
            self.tainted = self.tainted or hidden.ran
        return test_result(test, "pass")

    def _failure(self, test, error, hidden_ran):
        """The result of a failed test, with only what the student may see in its message.

        A failure after a hidden line ran says only that a hidden test failed.
        After any hidden test, the student process may have kept hidden inputs,
        so messages that student code could have written are withheld.
        """
        student = isinstance(error, proxy.StudentError)
        if isinstance(error, SandboxError):
            status, message = (error.status if error.status in STATUSES else "error"), str(error)
        elif isinstance(error, AssertionError) and not student:
            status, message = "fail", str(error) or failing_line(error, test.code)
            if self.tainted and str(error):
                message = f"{failing_line(error, test.code)} ({WITHHELD})"
        elif student and error.info["type"] == "NotImplementedError":
            status, message = "error", "not implemented yet (your code raises NotImplementedError)"
        elif student:
            status, message = "error", f"your code raised {error}"
            if self.tainted:
                message = f"your code raised {_type_name(error.info, True)} ({_where(error, test)}; {WITHHELD})"
        else:
            status, message = "error", f"{type(error).__name__}: {error}"
            if self.tainted:
                message = f"{type(error).__name__} ({_where(error, test)}; {WITHHELD})"
        if hidden_ran:
            message = {"fail": "a hidden test failed"}.get(status, f"a hidden test ended with {status}")
        return test_result(test, status, message[:2000], test.hints)

    def _stop_all(self, error):
        status = error.status if error.status in STATUSES else "error"
        for test in self.assignment.tests.values():
            if test.id not in self.results:
                message = f"not run: {error}"
                self.results[test.id] = test_result(test, status, message)

    def _score(self, question):
        zero = None
        if question.id in self.missing:
            zero = f"solution cell {question.id!r} is missing (deleted, or its metadata was changed)"
        elif question.id in self.violations:
            zero = f"0 points: {self.violations[question.id]}"
        tests = []
        for test in question.tests:
            result = self.results.get(test.id)
            if zero or result is None:
                result = test_result(test, "error", zero or "not run")
            tests.append(result)
        message = "; ".join(([zero] if zero else []) + self.notes[question.id])
        score = 0.0 if zero else sum(t.points for t in tests)
        return QuestionResult(question.id, score, question.points, message, tests)


_BUILTIN_EXCEPTIONS = {name for name, value in vars(builtins).items()
                       if isinstance(value, type) and issubclass(value, BaseException)}


def _type_name(info, tainted):
    """The exception type student code raised; after a hidden test, only a builtin type's name."""
    if not tainted or (info["builtin"] and info["type"] in _BUILTIN_EXCEPTIONS):
        return info["type"]
    return "an exception"


def _where(error, test):
    line = test_line(error, test.code)
    return f"at: {line}" if line else "in the test"


# ---- a folder of submissions ----------------------------------------------------------------


def grade_submissions(source, submissions_dir, limits=Limits(), workers=None, extra_tests=None):
    """Grade every entry of ``submissions_dir``; return results in the order of the entries.

    One submission's failure, whatever it is, costs only that submission's row.
    """
    assignment = Assignment(source, extra_tests)
    jobs = find_submissions(submissions_dir, assignment.filename)
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(jobs) <= 1:
        return [_grade_job(assignment, job, limits) for job in jobs]
    results, again = _in_pool(workers, source, extra_tests, jobs, limits, assignment)
    for index in again:  # a worker died (and took the jobs it held): each of those again, alone
        results[index] = _in_pool(1, source, extra_tests, [jobs[index]], limits, assignment)[0][0]
    return results


def _in_pool(workers, source, extra_tests, jobs, limits, assignment):
    """Results of ``jobs`` graded by ``workers`` processes, and the indexes lost to a dying worker."""
    results, lost = [], []
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"),
                             initializer=_init_worker, initargs=(source, extra_tests)) as pool:
        futures = [pool.submit(_grade_job, None, job, limits) for job in jobs]
        for index, (job, future) in enumerate(zip(jobs, futures)):
            try:
                results.append(future.result())
            except Exception as error:  # a broken worker must not lose the student's row
                results.append(assignment.empty_result(job.student, "error", _grader_failure(error)))
                lost += [index] if isinstance(error, BrokenProcessPool) and len(jobs) > 1 else []
    return results, lost


def _grader_failure(error):
    return f"the grader could not grade this submission ({type(error).__name__}); please report it"


_worker_assignment = None


def _init_worker(source, extra_tests):
    global _worker_assignment
    os.environ.setdefault("GLOG_v", "3")
    _worker_assignment = Assignment(source, extra_tests)


def _grade_job(assignment, job: Submission, limits):
    assignment = assignment or _worker_assignment
    if job.path is None:
        return assignment.empty_result(job.student, "invalid", job.problem)
    try:
        return grade_notebook(assignment, job.path, limits, student=job.student)
    except Exception as error:  # the grader's own bug on odd input: this row only
        traceback.print_exc(file=sys.stderr)
        return assignment.empty_result(job.student, "error", _grader_failure(error))
