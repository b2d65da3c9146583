"""Grade submissions: run student cells in a sandbox, run tests here, score.

The student's cells (from the submission) and the instructor's locked cells
(from the source) run in the student process in notebook order.  Each test
cell, always taken from the source with its hidden tests, runs in *this*
process at its place in that order, reaching student names through
:mod:`grader.proxy`.  So every verdict comes from trusted code comparing
plain values.
"""

import ast
import os
import random
import re
import traceback
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context

import numpy

from . import forbidden, proxy
from . import notebook as nb
from .check import failing_line
from .release import SETUP_ID, assignment_name
from .sandbox import Limits, Sandbox, SandboxError, module_paths

STATUSES = ("pass", "fail", "error", "timeout", "memory")


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
    """A source notebook ready for grading: questions, cells to restore, trusted imports."""

    def __init__(self, source_path, extra_tests=None):
        self.name = assignment_name(source_path)
        self.filename = os.path.basename(source_path)
        self.notebook = nb.read_notebook(source_path)
        self.questions = nb.questions(self.notebook)
        if extra_tests:
            self.questions = _add_extra_tests(self.questions, extra_tests)
        self.cells = {nb.nbgrader_meta(c)["grade_id"]: c for c in self.notebook["cells"] if nb.nbgrader_meta(c)}
        self.order = list(self.cells)
        self.tests = {t.id: t for q in self.questions for t in q.tests}
        imports = [node for cell in self.notebook["cells"] if cell.get("cell_type") == "code"
                   for node in forbidden.parse_cell(nb.cell_source(cell)).body
                   if isinstance(node, (ast.Import, ast.ImportFrom)) and not getattr(node, "level", 0)]
        self.imports = [compile(ast.Module([node], []), "<imports>", "exec") for node in imports]
        modules = {alias.name.split(".")[0] for node in imports if isinstance(node, ast.Import) for alias in node.names}
        modules |= {node.module.split(".")[0] for node in imports if isinstance(node, ast.ImportFrom)}
        self.read_paths = module_paths(sorted(modules - {"grader"}))

    def empty_result(self, student, status, message):
        """A result with every question at 0, for a submission that could not be graded."""
        questions = [QuestionResult(q.id, 0.0, q.points, message,
                                    [test_result(t, "error", message) for t in q.tests])
                     for q in self.questions]
        return SubmissionResult(student, self.name, status, message, questions)


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
    notebook = nb.read_notebook(path)
    claimed = notebook.get("metadata", {}).get("grader", {})
    claimed = claimed.get("assignment") if isinstance(claimed, dict) else None
    if claimed is not None and claimed != assignment.name:
        raise nb.NotebookError(f"this is assignment {claimed!r}, not {assignment.name!r}")
    ids = {nb.nbgrader_meta(c).get("grade_id") for c in notebook["cells"]}
    if not ids & set(assignment.cells):
        raise nb.NotebookError(f"no cell of assignment {assignment.name!r} found: wrong notebook?")
    return [c for c in notebook["cells"] if c.get("cell_type") == "code" and c.get("id") != SETUP_ID
            and not nb.grader_meta(c).get("setup")]


def plan(assignment, cells):
    """The steps to run: ``("run", code, question)`` and ``("test", Test, None)``, in notebook order.

    Solution cells come from the submission; locked and test cells from the
    source.  A deleted locked or test cell goes back after the nearest cell
    that precedes it in the source.  Nothing after the last test runs: it
    cannot change a verdict, and a lesson may end with minutes of training.
    """
    steps, placed = [], {}
    for cell in cells:
        gid = nb.nbgrader_meta(cell).get("grade_id")
        if gid in placed:
            continue
        if gid in assignment.tests:
            steps.append(("test", assignment.tests[gid], None))
        elif gid in assignment.cells and nb.is_solution(assignment.cells[gid]):
            steps.append(("run", nb.cell_source(cell), gid))
        elif gid in assignment.cells and nb.is_locked(assignment.cells[gid]):
            steps.append(("run", nb.cell_source(assignment.cells[gid]), None))
        else:
            steps.append(("run", nb.cell_source(cell), None))
            continue
        placed[gid] = len(steps) - 1
    for position, gid in enumerate(assignment.order):
        cell = assignment.cells[gid]
        if gid in placed or not (nb.is_test(cell) or nb.is_locked(cell)):
            continue
        before = [placed[g] for g in assignment.order[:position] if g in placed]
        where = max(before) + 1 if before else 0
        step = ("test", assignment.tests[gid], None) if nb.is_test(cell) else ("run", nb.cell_source(cell), None)
        steps.insert(where, step)
        placed = {g: i + (i >= where) for g, i in placed.items()}
        placed[gid] = where
    extra = [("test", t, None) for q in assignment.questions for t in q.tests if t.id not in assignment.cells]
    for step in extra:  # private tests run right after the question's last test
        tests = [i for i, s in enumerate(steps) if s[0] == "test" and s[1].question == step[1].question]
        steps.insert(max(tests) + 1 if tests else len(steps), step)
    last_test = max((i for i, (kind, _, _) in enumerate(steps) if kind == "test"), default=-1)
    return steps[:last_test + 1]


class _Grading:
    """The state of grading one submission."""

    def __init__(self, assignment, cells, limits):
        self.assignment, self.cells, self.limits = assignment, cells, limits
        self.results = {}
        self.notes = {q.id: [] for q in assignment.questions}
        self.banned = {q.id: q.forbidden for q in assignment.questions}
        solutions = {nb.nbgrader_meta(c).get("grade_id") for c in cells if nb.is_solution(c)}
        self.missing = {q.id for q in assignment.questions if q.id not in solutions}
        self.violations = self._static_violations()

    def _static_violations(self):
        by_question, loose = {}, []
        for cell in self.cells:
            gid = nb.nbgrader_meta(cell).get("grade_id")
            if gid in self.banned:
                by_question.setdefault(gid, []).append(nb.cell_source(cell))
            elif gid not in self.assignment.cells:
                loose.append(nb.cell_source(cell))
        violations = {}
        for qid, banned in self.banned.items():
            found = forbidden.uses("\n".join(by_question.get(qid, [])), banned, "\n".join(loose))
            if found:
                name, line = found[0]
                violations[qid] = f"uses forbidden name {name!r} (line {line} of your answer)"
        return violations

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
        result = SubmissionResult(student, self.assignment.name, status, message, log=log)
        for question in self.assignment.questions:
            result.questions.append(self._score(question))
        return result

    def _run_steps(self, box):
        for kind, item, question in plan(self.assignment, self.cells):
            if box.dead:
                self._stop_all(box.dead)
                return
            owner = item.question if kind == "test" else question
            # Modules loaded before this step (instructor cells may import a forbidden module
            # for later use): only what the question's own step imports counts against it.
            watched = bool(owner and self.banned[owner])
            loaded = self._modules(box) if watched else None
            if kind == "test":
                skip = owner in self.missing or owner in self.violations
                if not skip:
                    self.results[item.id] = self._run_test(item, box)
            else:
                self._run_cell(box, item, question)
            if watched and loaded is not None and not box.dead:
                self._check_imports(box, owner, loaded)

    def _run_cell(self, box, code, question):
        try:
            error = proxy.ask(box, "run", code=code)
        except SandboxError as error:
            if question:
                self.notes[question].append(f"your cell stopped: {error}")
            return
        if error and question:
            self.notes[question].append(f"your cell raised {error['type']}: {error['message'][:300]}")

    @staticmethod
    def _modules(box):
        """The names of the modules loaded in the student process, or None if it cannot say."""
        try:
            return set(proxy.ask(box, "modules"))
        except (SandboxError, proxy.StudentError):
            return None

    def _check_imports(self, box, question, loaded):
        """Run-time check: modules newly imported by this question's code."""
        now = self._modules(box)
        for module in sorted((now or set()) - loaded):
            for name in self.banned[question]:
                if module == name or module.startswith(name + "."):
                    self.violations.setdefault(question, f"imported forbidden module {module!r} while running")

    def _run_test(self, test, box):
        seed = zlib.crc32(test.id.encode())
        random.seed(seed)
        numpy.random.seed(seed)
        try:
            proxy.ask(box, "seed", seed=seed)
            scope = proxy.namespace(box)
            for statement in self.assignment.imports:
                try:
                    exec(statement, scope)
                except Exception:
                    pass  # an import the grader cannot do cannot help a test either
            exec(compile(test.code, f"<test {test.id}>", "exec"), scope)
        except BaseException as error:  # noqa: B036 - a test may raise anything; KeyboardInterrupt re-raised
            if isinstance(error, KeyboardInterrupt):
                raise
            return self._failure(test, error)
        return test_result(test, "pass")

    def _failure(self, test, error):
        if isinstance(error, SandboxError):
            status, message = (error.status if error.status in STATUSES else "error"), str(error)
        elif isinstance(error, AssertionError) and not isinstance(error, proxy.StudentError):
            status, message = "fail", str(error) or failing_line(error, test.code)
        elif isinstance(error, proxy.StudentError) and error.info["type"] == "NotImplementedError":
            status, message = "error", "not implemented yet (your code raises NotImplementedError)"
        elif isinstance(error, proxy.StudentError):
            status, message = "error", f"your code raised {error}"
        else:
            status, message = "error", f"{type(error).__name__}: {error}"
        lines = [f.lineno for f in traceback.extract_tb(error.__traceback__) if f.filename == f"<test {test.id}>"]
        if lines and lines[-1] in test.hidden_lines:
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


# ---- a folder of submissions ----------------------------------------------------------------


def find_submissions(directory, notebook_filename):
    """``(student, path or None, problem)`` for every entry of a submissions folder.

    An entry is a notebook file (``alice.ipynb``) or a folder holding one
    (``alice/...``, nbgrader's layout); anything else still gets a row.
    """
    found = []
    for entry in sorted(os.listdir(directory)):
        if entry.startswith("."):
            continue
        path = os.path.join(directory, entry)
        student = entry[:-6] if entry.endswith(".ipynb") else entry
        if not os.path.isdir(path):
            found.append((student, path, ""))
            continue
        notebooks = sorted(os.path.join(root, name) for root, dirs, names in os.walk(path)
                           for name in names if name.endswith(".ipynb") and ".ipynb_checkpoints" not in root)
        named = [p for p in notebooks if os.path.basename(p) == notebook_filename]
        if named or len(notebooks) == 1:
            found.append((student, (named or notebooks)[0], ""))
        else:
            problem = "several notebooks and none named " + notebook_filename if notebooks else "no notebook in folder"
            found.append((student, None, problem))
    return found


def grade_submissions(source, submissions_dir, limits=Limits(), workers=None, extra_tests=None):
    """Grade every entry of ``submissions_dir``; return results sorted by student."""
    assignment = Assignment(source, extra_tests)
    jobs = find_submissions(submissions_dir, assignment.filename)
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(jobs) <= 1:
        return [_grade_job(assignment, job, limits) for job in jobs]
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"),
                             initializer=_init_worker, initargs=(source, extra_tests)) as pool:
        futures = [pool.submit(_grade_job, None, job, limits) for job in jobs]
        results = []
        for job, future in zip(jobs, futures):
            try:
                results.append(future.result())
            except Exception as error:  # a broken worker must not lose the student's row
                results.append(assignment.empty_result(job[0], "error", f"grader failure: {error}"))
        return results


_worker_assignment = None


def _init_worker(source, extra_tests):
    global _worker_assignment
    os.environ.setdefault("GLOG_v", "3")
    _worker_assignment = Assignment(source, extra_tests)


def _grade_job(assignment, job, limits):
    assignment = assignment or _worker_assignment
    student, path, problem = job
    if path is None:
        return assignment.empty_result(student, "invalid", problem)
    return grade_notebook(assignment, path, limits, student=student)
