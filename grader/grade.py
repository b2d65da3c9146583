"""The runner: grade submissions by carrying out their plan, one sandbox each.

The student's cells (from the submission) and the instructor's locked cells
(from the source) run in the student process in notebook order
(:func:`grader.assignment.plan`).  Each test cell, always taken from the
source with its hidden tests, runs in *this* process at its place in that
order, with globals built by :mod:`grader.scope` and student values reached
through :mod:`grader.proxy`.  So every verdict comes from trusted code
comparing plain values.  A folder of submissions is graded in parallel, and
one submission's failure costs only its own row.
"""

import builtins
import contextlib
import copy
import io
import os
import random
import sys
import traceback
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context

import numpy

from . import autotest, forbidden, proxy
from . import notebook as nb
from .assignment import Assignment, plan, submission_cells
from .results import PENDING, STATUSES, QuestionResult, SubmissionResult, manual_result, test_result
from .sandbox import Limits, Sandbox, SandboxError
from .submissions import Submission, find_submissions

WITHHELD = "the message is shown by check() in your notebook"


# ---- one submission ---------------------------------------------------------------


def grade_notebook(source, submission, limits=Limits(), extra_tests=None, student=None):
    """Grade one submitted notebook against ``source`` (a path or an :class:`Assignment`)."""
    assignment = source if isinstance(source, Assignment) else \
        Assignment(source, extra_tests, source_notebook(source, limits))
    student = student or nb.assignment_name(submission)
    try:
        cells, answers = submission_cells(assignment, submission)
    except nb.NotebookError as error:
        return assignment.empty_result(student, "invalid", str(error))
    result = _Grading(assignment, cells, limits).run(student)
    result.questions = assignment.ordered(result.questions + [_manual(q, answers) for q in assignment.manual])
    return result


def _manual(question, answers):
    """A manually graded question as found in the submission, waiting for a person's score."""
    if question.kind == "task":
        return manual_result(question, message=f"{PENDING} (a task: the work is anywhere in the notebook)")
    if question.id not in answers:
        return manual_result(question, message=f"{PENDING}; the answer cell {question.id!r} is missing")
    return manual_result(question, answers[question.id])


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


@contextlib.contextmanager
def _test_environment(folder):
    """Run a test in the source notebook's folder, where its data files are (one test at a time),
    with nbgrader's ``NBGRADER_EXECUTION=autograde`` set, as in the student's process."""
    previous = os.getcwd()
    os.chdir(folder)
    try:
        with nb.execution_variable("autograde"):
            yield
    finally:
        os.chdir(previous)


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
        self.test_output = ""  # what the tests printed, for the instructor's log
        self.test_names = {}  # what earlier tests defined (a helper, a saved value): later tests see it
        solutions = {nb.grade_id(c) for _, c in cells if nb.is_solution(c)}
        self.missing = {q.id for q in assignment.questions if q.has_answer and q.id not in solutions}
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
            with Sandbox(self.limits, self.assignment.read_paths, self.assignment.data_files) as box:
                self._run_steps(box)
                message = box.note or ""  # e.g. a limit this machine could not apply
                if box.dead and box.dead.status in ("timeout", "memory"):
                    status, message = box.dead.status, str(box.dead)
                elif box.dead:
                    status, message = "crashed", str(box.dead)
            log = box.output.decode("utf-8", "backslashreplace")
            log += self.test_output[:self.limits.max_output_kb * 1024]
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
        hidden = _HiddenLines(test)
        printed = io.StringIO()  # what a test prints is the instructor's: the log, never the terminal
        globals_ = None
        try:
            globals_ = self._test_scope(test, box)
            with hidden, _test_environment(self.assignment.source_folder), \
                    contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
                value = nb.run_test_code(test.code, _filename(test), globals_)
                status, points, message = nb.test_points(value, test.points)
        except BaseException as error:  # noqa: B036 - a test may raise anything; KeyboardInterrupt re-raised
            if isinstance(error, KeyboardInterrupt):
                raise
            return self._failure(test, error, hidden.ran)
        finally:
            self._keep_definitions(test, globals_)
            self.tainted = self.tainted or hidden.ran
            self.test_output += f"--- test {test.id} printed ---\n{printed.getvalue()}" if printed.getvalue() else ""
        if status == "error" and hidden.ran:  # the value may come from a hidden case
            message = "a hidden test ended with error"
        return test_result(test, status, message, test.hints if status != "pass" else (), points)

    def _test_scope(self, test, box):
        """A test's globals: the student's names fresh from ``box``, and what earlier tests defined.

        Both processes are seeded from the test's id first, so a test that draws random inputs
        draws the same ones for every student."""
        seed = zlib.crc32(test.id.encode())
        random.seed(seed)
        numpy.random.seed(seed)
        proxy.ask(box, "seed", seed=seed)
        globals_ = self.assignment.scope.build(box)
        globals_.update(self.test_names)
        return globals_

    def _keep_definitions(self, test, globals_):
        """Keep the names ``test`` binds for later tests, as nbgrader's kernel keeps a test cell's
        definitions; a lesson's name is never kept: it always comes from the student's process."""
        if globals_ is not None:
            self.test_names.update({name: globals_[name] for name in self.assignment.test_binds[test.id]
                                    if name in globals_})

    def _failure(self, test, error, hidden_ran):
        """The result of a failed test, with only what the student may see in its message.

        A failure after a hidden line ran says only that a hidden test failed.
        After any hidden test, the student process may have kept hidden inputs,
        so messages that student code could have written are withheld.
        """
        status, message = nb.test_failure(error, test.code)
        status = status if status in STATUSES else "error"
        if self.tainted and status in ("fail", "error") and message != nb.NOT_IMPLEMENTED \
                and not isinstance(error, SandboxError):
            message = self._withheld(error, test)
        if hidden_ran:
            message = {"fail": "a hidden test failed"}.get(status, f"a hidden test ended with {status}")
        return test_result(test, status, message[:2000], test.hints)

    def _withheld(self, error, test):
        """A failure's message without anything student code could have written: the test's line."""
        if isinstance(error, AssertionError) and not isinstance(error, proxy.StudentError):
            return nb.failing_line(error, test.code) + (f" ({WITHHELD})" if str(error) else "")
        what = (f"your code raised {_type_name(error.info, True)}" if isinstance(error, proxy.StudentError)
                else type(error).__name__)
        return f"{what} ({_where(error, test)}; {WITHHELD})"

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
    line = nb.test_line(error, test.code)
    return f"at: {line}" if line else "in the test"


# ---- a source's AUTOTEST lines ---------------------------------------------------------------


def source_notebook(source_path, limits=Limits()):
    """The source notebook as the release and grading use it: nbgrader's AUTOTEST lines written out.

    A notebook without them is returned as read.  One with them runs once, in a
    sandbox, as a submission of itself (its own solutions), and each test cell's
    AUTOTEST lines are written out in that test's scope (:mod:`grader.autotest`):
    the expected values are what grading computes for the same code, so the
    solution passes and nothing is compared that the student's process could write.
    """
    notebook = nb.read_source(source_path)
    if not autotest.uses_autotests(notebook):
        return notebook
    nb.questions(notebook)  # what validate refuses is reported first
    found = autotest.problems(notebook, source_path)
    if found:
        raise nb.NotebookError("; ".join(found))
    assignment = Assignment(source_path, notebook=notebook)
    writing = _WritingAutotests(assignment, autotest.load_templates(notebook, source_path), limits)
    result = writing.run(assignment.name)
    expanded = copy.deepcopy(notebook)
    for cell in expanded["cells"]:
        test_id = nb.grade_id(cell) if nb.is_test(cell) else None
        if test_id in writing.tests_with_autotests and test_id not in writing.written:
            why = result.message or writing.results.get(test_id, result).message or "it did not run"
            raise nb.NotebookError(f"test {test_id!r}: its AUTOTEST lines could not be written out: {why}")
        if test_id in writing.written:
            cell["source"] = nb.split_lines(writing.written[test_id])
    nb.questions(expanded)  # the written-out tests are checked like tests written by hand
    return expanded


class _WritingAutotests(_Grading):
    """Runs a source notebook as grading runs a submission, writing out each test's AUTOTEST lines."""

    def __init__(self, assignment, templates, limits):
        cells = [(position, cell) for position, cell in enumerate(assignment.notebook["cells"], 1)
                 if cell.get("cell_type") == "code"]
        super().__init__(assignment, cells, limits)
        self.violations = {}  # the forbidden names bind the student's answer, not the instructor's
        self.templates = templates
        self.index = {nb.grade_id(c): i for i, c in enumerate(assignment.notebook["cells"]) if nb.is_test(c)}
        self.tests_with_autotests = {t.id for t in assignment.tests.values() if nb.autotest_lines(t.code)}
        self.written = {}  # test id -> the cell's code with its AUTOTEST lines written out

    def _run_test(self, test, box):
        if test.id not in self.tests_with_autotests:
            return super()._run_test(test, box)
        globals_ = self._test_scope(test, box)

        def run(code, what=None):
            try:
                return autotest.shown(nb.run_test_code(code, _filename(test), globals_))
            except Exception as error:  # the instructor's expression failed on the instructor's solution
                what = what or (code.strip().splitlines() or [""])[0]
                raise nb.NotebookError(f"test {test.id!r}: writing out its AUTOTEST lines, {what[:200]!r} raised "
                                       f"{type(error).__name__}: {str(error)[:300]}") from None

        def check_plain(snippet):
            run(f"__autotest_value = ({snippet})", what=snippet)
            why = _not_comparable_as_text(globals_.pop("__autotest_value", None))
            if why:
                raise nb.NotebookError(f"test {test.id!r}: AUTOTEST {snippet!r} {why}: test a plain value made "
                                       f"from it instead (e.g. sorted(...), a number, a list)")

        printed = io.StringIO()  # the success message and the lesson's prints are nobody's business here
        with _test_environment(self.assignment.source_folder), \
                contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            self.written[test.id] = autotest.instantiate(test.code, self.index[test.id], self.templates,
                                                         run, check_plain)
        self._keep_definitions(test, globals_)
        return test_result(test, "pass", "", (), test.points)


def _not_comparable_as_text(value, depth=0):
    """Why the text of ``value`` cannot be the expected text of an assert (None if it can).

    An object left in the student's process would print what the student's code
    says; a set prints in an order that depends on how it was built and on the
    process (strings hash differently in every one), so a right answer could fail.
    """
    if isinstance(value, proxy.Remote) or value is proxy.Remote:
        return "is an object that stays in the student's process, so its text would be written by the student's code"
    if isinstance(value, (set, frozenset)):
        return "is a set, whose printed order depends on how it was built and differs between Python processes"
    if depth >= 20:
        return None
    parts = [part for pair in value.items() for part in pair] if isinstance(value, dict) else \
        value if isinstance(value, (list, tuple)) else []
    for part in parts:
        why = _not_comparable_as_text(part, depth + 1)
        if why:
            return why
    return None


# ---- a folder of submissions ----------------------------------------------------------------


def grade_submissions(source, submissions_dir, limits=Limits(), workers=None, extra_tests=None):
    """Grade every entry of ``submissions_dir``; return results in the order of the entries.

    ``source`` is a notebook, or a folder of notebooks: an assignment of several
    (:func:`grade_assignment`). One submission's failure, whatever it is, costs
    only that submission's row.
    """
    if os.path.isdir(source):
        return grade_assignment(source, submissions_dir, limits, workers, extra_tests)
    assignment = Assignment(source, extra_tests, source_notebook(source, limits))
    jobs = find_submissions(submissions_dir, assignment.filename, assignment.folder)
    return _grade_jobs(assignment, source, extra_tests, jobs, limits, workers)


def grade_assignment(folder, submissions_dir, limits=Limits(), workers=None, extra_tests=None):
    """Grade an assignment of several notebooks (nbgrader's ``source/ps1/*.ipynb``): one row per student.

    Each student's folder holds the notebooks (``submitted/alice/ps1/problem1.ipynb``);
    every notebook is graded as on its own, and the row adds them up, its
    questions named ``<notebook>/<question>``. Extra tests are
    ``extra_tests/<notebook>/<question>/*.py``.
    """
    sources = sorted(os.path.join(folder, name) for name in os.listdir(folder) if name.endswith(".ipynb"))
    if not sources:
        raise nb.NotebookError(f"{folder} holds no notebook")
    name = os.path.basename(os.path.abspath(folder))
    parts = []  # (notebook name, {student: result})
    for source in sources:
        stem = nb.assignment_name(source)
        extra = os.path.join(extra_tests, stem) if extra_tests and os.path.isdir(os.path.join(extra_tests, stem)) \
            else None
        assignment = Assignment(source, extra, source_notebook(source, limits))
        jobs = [job if job.path is None or os.path.dirname(os.path.abspath(job.path)) != os.path.abspath(submissions_dir)
                else Submission(job.student, problem="an assignment of several notebooks needs a folder per student")
                for job in find_submissions(submissions_dir, assignment.filename, name, exact_name=True)]
        results = _grade_jobs(assignment, source, extra, jobs, limits, workers)
        parts.append((stem, {result.student: result for result in results}))
    students = list(dict.fromkeys(student for _, results in parts for student in results))
    return [_assignment_row(name, student, [(stem, results[student]) for stem, results in parts])
            for student in students]


def _assignment_row(name, student, parts):
    """One student's row: every notebook's questions, and the first problem any notebook had."""
    row = SubmissionResult(student, name, "ok", "")
    for stem, result in parts:
        row.questions += [replace(question, id=f"{stem}/{question.id}") for question in result.questions]
        if result.message:
            row.message = "; ".join(filter(None, [row.message, f"{stem}: {result.message}"]))
        if result.status != "ok" and row.status == "ok":
            row.status = result.status
        row.log += f"--- {stem} ---\n{result.log}" if result.log else ""
    return row


def _grade_jobs(assignment, source, extra_tests, jobs, limits, workers):
    """Results of ``jobs`` (one notebook's submissions), in their order, in parallel where it pays."""
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
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_init_worker,
                             initargs=(source, extra_tests, assignment.notebook)) as pool:
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


def _init_worker(source, extra_tests, notebook):
    global _worker_assignment
    os.environ.setdefault("GLOG_v", "3")
    _worker_assignment = Assignment(source, extra_tests, notebook)


def _grade_job(assignment, job: Submission, limits):
    assignment = assignment or _worker_assignment
    if job.path is None:
        return assignment.empty_result(job.student, "invalid", job.problem)
    try:
        return grade_notebook(assignment, job.path, limits, student=job.student)
    except Exception as error:  # the grader's own bug on odd input: this row only
        traceback.print_exc(file=sys.stderr)
        return assignment.empty_result(job.student, "error", _grader_failure(error))
