"""Instant feedback inside JupyterLab: ``check("q_id")``.

This runs in the student's own kernel, so it is a convenience, never a grade:
the batch grader decides scores elsewhere.  The visible tests travel inside the
release's first cell, so ``check`` works offline and does not depend on where
the notebook file is; hidden tests are never part of a release.
"""

import base64
import builtins
import json
import signal
import sys
import threading

from grader.notebook import execution_variable, run_test_code, test_failure, test_points

TIME_LIMIT_S = 30


def make_check(assignment, packed_tests):
    """Return the ``check`` function of one released assignment."""
    payload = json.loads(base64.b64decode(packed_tests))
    tests, lesson_names = dict(payload["questions"]), set(payload["names"])
    manual = payload.get("manual", [])
    setup = compile(payload["setup"], "<test setup>", "exec") if payload["setup"] else None

    def check(question=None):
        """Run the visible tests of ``question`` (all questions if omitted)."""
        if question in manual:
            print(f"{question}: graded by hand (your instructor reads your answer): check() has no tests for it")
            return
        if question is not None and question not in tests:
            print(f"No question {question!r} in {assignment}. Questions: {', '.join([*tests, *manual])}")
            return
        namespace = _test_namespace(_student_namespace(), lesson_names)
        for qid in [question] if question else list(tests):
            results = [_run(test, namespace, setup) for test in tests[qid]]
            passed = sum(status == "pass" for status, _ in results)
            print(f"{qid}: {passed}/{len(results)} visible tests passed")
            for test, (status, message) in zip(tests[qid], results):
                print(f"  {'✓' if status == 'pass' else '✗'} {test['id']}: {status}")
                if status != "pass":
                    print(f"      {message}")
                    for hint in test["hints"]:
                        print(f"      hint: {hint}")

    return check


def _student_namespace():
    try:
        return get_ipython().user_ns  # noqa: F821 - defined inside IPython
    except NameError:
        return sys._getframe(2).f_globals


def _test_namespace(namespace, lesson_names):
    """The student's names as the grader's tests see them: Python's builtins are never replaced,
    unless the lesson itself defines that name."""
    names = {name: value for name, value in namespace.items()
             if name in lesson_names or not hasattr(builtins, name)}
    return dict(names, __builtins__=builtins)


def _run(test, namespace, setup):
    """Run one test on a copy of the namespace, so tests cannot disturb the student's variables."""
    scope = dict(namespace)
    try:
        with _time_limit(TIME_LIMIT_S), execution_variable("validate"):
            if setup is not None:
                exec(setup, scope)
            value = run_test_code(test["code"], f"<test {test['id']}>", scope)
    except TimeoutError:
        return "timeout", f"took longer than {TIME_LIMIT_S} s (an endless loop?)"
    except BaseException as error:  # half-written code may raise anything, even SystemExit
        return test_failure(error, test["code"])
    if "points" not in test:  # a release made before partial credit: pass or fail whole
        return "pass", ""
    status, _, message = test_points(value, test["points"])
    return status, message


class _time_limit:
    """Raise TimeoutError in the main thread after ``seconds`` (no-op elsewhere)."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.active = threading.current_thread() is threading.main_thread()

    def __enter__(self):
        if self.active:
            self.previous = signal.signal(signal.SIGALRM, self._expire)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc):
        if self.active:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)

    @staticmethod
    def _expire(signum, frame):
        raise TimeoutError()
