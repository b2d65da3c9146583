"""Does the grader release and score nbgrader's notebooks as nbgrader itself does?

For each source notebook, nbgrader (`generate_assignment`, then `autograde` of two
students: one who hands in the solution, one who hands in the release untouched)
and this grader (`release_notebook`, then `grade_submissions` of the same two)
are run side by side; the script prints, per notebook, whether the released cells
are the same (our release adds only its first `check()` cell) and both scores.

nbgrader is not a dependency of the kit: install it in a venv of its own and
pass its `bin` folder, e.g.

    python -m venv /tmp/nbgv && /tmp/nbgv/bin/pip install nbgrader==0.9.6
    python benchmarks/nbgrader_parity.py --nbgrader-bin /tmp/nbgv/bin NOTEBOOK...

Results and the command are in docs/grader.md.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from grader import grade_submissions, release_notebook  # noqa: E402
from grader.autotest import problems as autotest_problems, templates_path  # noqa: E402
from grader.notebook import NotebookError, problems, read_source  # noqa: E402
from grader.sandbox import Limits  # noqa: E402

SCORES = """
import sys
from nbgrader.api import Gradebook
with Gradebook("sqlite:///gradebook.db") as gradebook:
    for student in sys.argv[1:]:
        try:
            print(gradebook.find_submission("ps", student).score)
        except Exception:
            print("none")
"""


def nbgrader_side(source, bin_dir, work, handed_in=()):
    """nbgrader's release of ``source`` and its scores for the solution, the untouched release and
    the ``handed_in`` notebooks (named by their file's stem)."""
    course = work / "course"
    (course / "source" / "ps").mkdir(parents=True)
    shutil.copy(source, course / "source" / "ps")
    if templates_path(source):  # the AUTOTEST templates both sides use (next to the notebook, or here)
        shutil.copy(templates_path(source), course / "source" / "ps")
    (course / "nbgrader_config.py").write_text("c = get_config()\n")
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")  # alembic, for the gradebook
    nbgrader = [str(Path(bin_dir) / "nbgrader")]
    subprocess.run(nbgrader + ["generate_assignment", "ps", "--force"], cwd=course, env=env, capture_output=True)
    released = course / "release" / "ps" / source.name
    if not released.exists():
        return None, {}
    students = [("solution", source), ("release", released)] + [(path.stem, path) for path in handed_in]
    for student, notebook in students:
        (course / "submitted" / student / "ps").mkdir(parents=True)
        shutil.copy(notebook, course / "submitted" / student / "ps" / source.name)
    subprocess.run(nbgrader + ["autograde", "ps", "--force", "--create"], cwd=course, env=env, capture_output=True)
    scores = subprocess.run([str(Path(bin_dir) / "python"), "-c", SCORES, *[s for s, _ in students]], cwd=course,
                            capture_output=True, text=True).stdout.split()
    return released, dict(zip([s for s, _ in students], scores))


def our_side(source, work, handed_in=()):
    """Our release of ``source`` and our scores for the same students as :func:`nbgrader_side`."""
    released = work / "ours" / source.name
    released.parent.mkdir()
    released.write_text(release_notebook(source), encoding="utf-8")
    submitted = work / "submitted"
    submitted.mkdir()
    shutil.copy(source, submitted / "solution.ipynb")
    shutil.copy(released, submitted / "release.ipynb")
    for path in handed_in:
        shutil.copy(path, submitted / path.name)
    results = grade_submissions(str(source), submitted, Limits(cell_timeout=30, total_timeout=120), workers=1)
    return released, {r.student: f"{r.score:g}" for r in results}


def same_cells(ours, theirs):
    """Whether the two releases hold the same cells (ours after its check() cell), source and type."""
    def cells(path, skip):
        return [(c["cell_type"], "".join(c["source"]).rstrip()) for c in json.loads(path.read_text())["cells"][skip:]]
    return cells(ours, 1) == cells(theirs, 0)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--nbgrader-bin", required=True, help="bin folder of a venv with nbgrader installed")
    parser.add_argument("--handed-in", action="store_true",
                        help="also grade the notebooks named like the source plus a suffix (nbgrader's test files: "
                             "autotest-hidden-changed-right.ipynb for autotest-hidden.ipynb) as submissions")
    args = parser.parse_args()
    print("| notebook | release | solution: nbgrader / here | untouched release: nbgrader / here | handed in |")
    print("| --- | --- | --- | --- | --- |")
    for source in args.notebooks:
        try:
            refused = problems(read_source(source)) + autotest_problems(read_source(source), source)
        except NotebookError as error:
            refused = [str(error)]
        if refused:
            continue  # validate refuses it, in one line: nothing to compare
        handed_in = sorted(source.resolve().parent.glob(f"{source.stem}-*.ipynb")) if args.handed_in else []
        with tempfile.TemporaryDirectory() as folder:
            work = Path(folder)
            theirs, their_scores = nbgrader_side(source.resolve(), args.nbgrader_bin, work, handed_in)
            # The same copy nbgrader reads (with autotests.yml, without the files beside the original).
            ours, our_scores = our_side(work / "course" / "source" / "ps" / source.name, work, handed_in)
            release = "nbgrader failed" if theirs is None else "same" if same_cells(ours, theirs) else "differs"
            others = ", ".join(f"{path.stem[len(source.stem) + 1:]} {their_scores.get(path.stem)} / "
                               f"{our_scores[path.stem]}" for path in handed_in)
            print(f"| {source.name} | {release} | {their_scores.get('solution')} / {our_scores['solution']} | "
                  f"{their_scores.get('release')} / {our_scores['release']} | {others} |", flush=True)


if __name__ == "__main__":
    main()
