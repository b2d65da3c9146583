"""A notebook autograder whose verdicts students cannot change.

Public API (imported lazily, so the student process stays light)::

    release_notebook(source) -> str          # the student notebook, as text
    release(source, output_dir) -> path
    problems(notebook_dict) -> list[str]      # lint messages; read_notebook(path) loads one
    grade_notebook(source, submission, limits=Limits(), extra_tests=None) -> SubmissionResult
    grade_submissions(source, folder, limits=Limits(), workers=None, extra_tests=None) -> list
    write_reports(results, output_dir, gradescope=False)
"""

_EXPORTS = {
    "release_notebook": "release", "release": "release",
    "read_notebook": "notebook", "problems": "notebook", "NotebookError": "notebook",
    "grade_notebook": "grade", "grade_submissions": "grade", "Assignment": "assignment",
    "SubmissionResult": "results", "Limits": "sandbox", "write_reports": "feedback",
}


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'grader' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"grader.{_EXPORTS[name]}"), name)


__all__ = sorted(_EXPORTS)
