"""Command line: ``python -m grader validate|release|grade|merge-manual|gradescope-autograder``.

Errors in the input are reported as one line on stderr with exit status 2;
no traceback is shown for a bad notebook or folder.
"""

import argparse
import os
import sys

from . import autotest, feedback, grade, gradescope, manual, notebook, release
from .sandbox import Limits

EXAMPLES = """examples:
  python -m grader validate notebooks/03_attention.ipynb
  python -m grader release notebooks/03_attention.ipynb -o assignments/
  python -m grader grade --source notebooks/03_attention.ipynb submitted/ -o results/
  python -m grader merge-manual results/manual.csv results/
  python -m grader gradescope-autograder notebooks/03_attention.ipynb -o autograder.zip
"""


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m grader", epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     description="Release, check and grade nbgrader-style lesson notebooks.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    lint = commands.add_parser("validate", help="lint a source notebook (ids, points, markers, tests)",
                               description="List every problem of each source notebook; exit 1 if there is one. "
                                           "A notebook with nbgrader AUTOTEST lines is run once (in the "
                                           "sandbox), as release runs it to write them out.")
    lint.add_argument("notebooks", nargs="+", metavar="NOTEBOOK")

    out = commands.add_parser("release", help="write the student version of source notebooks")
    out.add_argument("notebooks", nargs="+", metavar="NOTEBOOK")
    out.add_argument("-o", "--output", required=True, metavar="DIR", help="folder for the released notebooks")

    limits = argparse.ArgumentParser(add_help=False)
    limits.add_argument("--cell-timeout", type=float, default=Limits.cell_timeout, help="seconds per cell or call")
    limits.add_argument("--timeout", type=float, default=Limits.total_timeout, help="seconds per submission")
    limits.add_argument("--memory", type=int, default=Limits.memory_mb, help="MB of memory per submission")
    limits.add_argument("--strict", action="store_true",
                        help="refuse to run student code where this machine cannot confine it in full "
                             "(default: grade with what can be applied, and say what could not)")

    batch = commands.add_parser("grade", parents=[limits], help="grade a folder of submissions",
                                description="Grade every notebook (or folder holding one) in SUBMISSIONS. Writes "
                                            "grades.csv, grades.json, index.html and feedback/ into RESULTS, "
                                            "and manual.csv, the review sheet of manually graded questions "
                                            "(scores already given to unchanged answers are kept).")
    batch.add_argument("submissions", metavar="SUBMISSIONS")
    batch.add_argument("--source", required=True, metavar="NOTEBOOK",
                       help="the instructor's source notebook, or a folder of them (an assignment of several)")
    batch.add_argument("-o", "--output", required=True, metavar="RESULTS", help="folder for the results")
    batch.add_argument("--extra-tests", metavar="DIR", help="private hidden tests: DIR/<question_id>/*.py")
    batch.add_argument("--workers", type=int, default=os.cpu_count(), help="parallel submissions (default: cores)")
    batch.add_argument("--gradescope", action="store_true", help="also write gradescope/<student>.json")

    merge = commands.add_parser("merge-manual", help="add the scores of a filled-in review sheet to the results",
                                description="Check every score in SHEET (the manual.csv that grade wrote, "
                                            "its score column filled in) and rewrite the gradebook, grades.json, "
                                            "feedback and dashboard in RESULTS with them. A bad score is "
                                            "reported with its line, and nothing is written.")
    merge.add_argument("sheet", metavar="SHEET", help="the review sheet with its score column filled in")
    merge.add_argument("results", metavar="RESULTS", help="the folder grade wrote (grades.json, feedback/, ...)")

    zipped = commands.add_parser("gradescope-autograder", parents=[limits], help="write Gradescope's autograder zip",
                                 description="Write the zip to upload as a Gradescope programming assignment's "
                                             "autograder: setup.sh installs this kit, run_autograder grades "
                                             "/autograder/submission into /autograder/results/results.json.")
    zipped.add_argument("source", metavar="NOTEBOOK", help="the instructor's source notebook")
    zipped.add_argument("-o", "--output", required=True, metavar="ZIP", help="the zip to write")

    inside = commands.add_parser("gradescope-run", parents=[limits], help="(run_autograder) grade one submission",
                                 description="What run_autograder calls inside Gradescope's container.")
    inside.add_argument("source", metavar="NOTEBOOK", help="the instructor's source notebook")
    inside.add_argument("--root", default="/autograder", help="Gradescope's folder (default /autograder)")

    args = parser.parse_args(argv)
    try:
        return {"validate": _validate, "release": _release, "grade": _grade, "merge-manual": _merge,
                "gradescope-autograder": _zip, "gradescope-run": _gradescope_run}[args.command](args)
    except (notebook.NotebookError, manual.SheetError, OSError) as error:  # bad input: one line, no traceback
        print(f"error: {error}", file=sys.stderr)
        return 2


def _validate(args):
    failed = False
    for path in args.notebooks:
        source = notebook.read_source(path)
        found = (notebook.problems(source) + notebook.data_file_problems(source, path)
                 + autotest.problems(source, path))
        if not found and autotest.uses_autotests(source):  # run it once, as release will, so "ok" means it works
            found = _written_out_problems(path)
        for problem in found:
            print(f"{path}: {problem}")
        if not found:
            print(f"{path}: ok")
        failed = failed or bool(found)
    return 1 if failed else 0


def _written_out_problems(path):
    try:
        grade.source_notebook(path)
    except notebook.NotebookError as error:
        return [str(error)]
    return []


def _release(args):
    for path in args.notebooks:
        print(release.release(path, args.output))
    return 0


def _grade(args):
    for path, what in [(args.source, "source notebook"), (args.submissions, "submissions folder")]:
        if not os.path.exists(path):
            raise notebook.NotebookError(f"{what} {path} does not exist")
    if not os.path.isdir(args.submissions):
        raise notebook.NotebookError(f"{args.submissions} is not a folder")
    limits = _limits(args)
    earlier = manual.earlier_sheet(args.output)  # a sheet it cannot read stops grade before it starts
    results = grade.grade_submissions(args.source, args.submissions, limits, args.workers, args.extra_tests)
    kept, lost = manual.carry_over(results, earlier, args.output)
    unwritten = feedback.write_reports(results, args.output, args.gradescope)
    for result in results:
        print(f"{_printable(result.student)}: {result.score:g}/{result.max_score:g} {result.status}")
    pending = sum(q.pending for r in results for q in r.questions)
    if pending or kept or lost:
        print(f"graded by hand: {kept} scores kept from the earlier review sheet, {pending} answers to grade in "
              f"{os.path.join(args.output, feedback.MANUAL_SHEET)} (then: python -m grader merge-manual SHEET "
              f"{args.output})")
    if lost:
        print(f"{lost} scores of the earlier sheet were for answers that changed or students no longer graded: "
              f"that sheet is kept as {os.path.join(args.output, manual.PREVIOUS_SHEET)}")
    print(f"graded {len(results)} submissions into {args.output}; the class at a glance: "
          f"{os.path.join(args.output, 'index.html')}")
    return 1 if unwritten else 0


def _merge(args):
    graded, pending = manual.merge(args.sheet, args.results)
    print(f"{args.results}: {graded} manually graded answers scored, {pending} still to grade")
    return 0


def _limits(args):
    return Limits(cell_timeout=args.cell_timeout, total_timeout=args.timeout, memory_mb=args.memory,
                  strict=args.strict)


def _zip(args):
    names = gradescope.autograder_zip(args.source, args.output, _limits(args))
    print(f"{args.output}: {len(names)} files; upload it as the assignment's autograder (docs/grader.md)")
    return 0


def _gradescope_run(args):
    results = gradescope.run(args.source, args.root, _limits(args))
    print(f"score {results['score']:g} in {results['execution_time']:g} s")
    return 0


def _printable(text):
    """A submission's name for the terminal: control characters (a colour escape, a newline) shown as escapes."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


if __name__ == "__main__":
    sys.exit(main())
