"""Grading inside Gradescope's autograder container.

Gradescope builds an image from an autograder zip (``setup.sh`` runs once,
with the internet) and then, for every submission, runs ``run_autograder``:
the student's files are in ``/autograder/submission``, and the grade must be
written to ``/autograder/results/results.json``.  ``python -m grader
gradescope-autograder SOURCE -o autograder.zip`` writes that zip: the source
notebook and its data files, the project this grader belongs to (so that
``setup.sh`` installs the same grader and the libraries the lessons import),
and the two scripts.  ``run_autograder`` calls :func:`run`, which grades with
the same sandbox as ``grade`` and writes Gradescope's format
(:func:`grader.feedback.gradescope_results`) with the time it took.
"""

import json
import os
import shlex
import stat
import time
import zipfile

from . import notebook as nb
from .feedback import gradescope_results
from .grade import grade_notebook, source_notebook
from .sandbox import GRADER_PARENT, Limits
from .submissions import find_in_folder

SETUP = """#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder image (the internet is reachable then).
set -euo pipefail
apt-get update -qq && apt-get install -y -qq --no-install-recommends python3-pip python3-venv g++
python3 -m venv /autograder/venv
/autograder/venv/bin/python -m pip install --quiet /autograder/source/project
"""

RUN = """#!/usr/bin/env bash
# Gradescope runs this for every submission: /autograder/submission -> /autograder/results/results.json.
set -uo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
PYTHON="${{AUTOGRADER_PYTHON:-$ROOT/venv/bin/python}}"
exec "$PYTHON" -m grader gradescope-run "$ROOT/source/source/"{notebook} --root "$ROOT" {options}
"""

SKIPPED = {".git", ".venv", "venv", "__pycache__", "runs", "build", "dist", "_build", "kernel_meta"}  # not sources


def autograder_zip(source_path, output, limits=Limits()):
    """Write Gradescope's autograder zip for ``source_path`` to ``output``; return the files it holds."""
    source = source_notebook(source_path, limits)  # AUTOTEST lines written out here, not in the container
    nb.questions(source)  # a source that validate refuses never reaches students
    files = nb.data_files(source, source_path)
    project = _project_files()
    name = os.path.basename(source_path)
    options = f"--cell-timeout {limits.cell_timeout:g} --timeout {limits.total_timeout:g} --memory {limits.memory_mb}"
    options += " --strict" if limits.strict else ""
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive:
        _add(archive, "setup.sh", SETUP, executable=True)
        _add(archive, "run_autograder", RUN.format(notebook=shlex.quote(name), options=options), executable=True)
        _add(archive, f"source/{name}", nb.write_notebook(source))
        for relative, path in files.items():
            archive.write(path, f"source/{relative}")
        for relative, path in project.items():
            archive.write(path, f"project/{relative}")
        return sorted(archive.namelist())


def _add(archive, name, text, executable=False):
    info = zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0))
    info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
    archive.writestr(info, text)


def _project_files():
    """The project this grader is part of: pyproject.toml, its readme and its Python packages."""
    root = GRADER_PARENT
    if not os.path.isfile(os.path.join(root, "pyproject.toml")):
        raise OSError(f"the grader at {root} is not in a project folder with a pyproject.toml "
                      "(install the kit from its source with pip install -e .)")
    files = {name: os.path.join(root, name) for name in ("pyproject.toml", "README.md", "LICENSE")
             if os.path.isfile(os.path.join(root, name))}
    packages = [entry for entry in sorted(os.listdir(root))
                if os.path.isfile(os.path.join(root, entry, "__init__.py")) and entry != "tests"]
    for package in packages:
        for folder, dirs, names in os.walk(os.path.join(root, package)):
            dirs[:] = sorted(d for d in dirs if d not in SKIPPED and not d.startswith("."))
            for filename in sorted(names):
                path = os.path.join(folder, filename)
                if not filename.endswith((".pyc", ".so", ".o")) and not os.path.islink(path):
                    files[os.path.relpath(path, root)] = path
    return files


def run(source_path, root, limits=Limits()):
    """Grade the notebook in ``root``/submission; write ``root``/results/results.json; return its data."""
    start = time.monotonic()
    submission = find_in_folder("submission", os.path.join(root, "submission"), os.path.basename(source_path),
                                assignment_folder=None)
    if submission.path is None:
        results = {"score": 0.0, "output": f"Not graded: {submission.problem}. Upload your notebook "
                                           f"{os.path.basename(source_path)}.", "tests": []}
    else:
        results = gradescope_results(grade_notebook(source_path, submission.path, limits))
    results["execution_time"] = round(time.monotonic() - start, 1)
    os.makedirs(os.path.join(root, "results"), exist_ok=True)
    with open(os.path.join(root, "results", "results.json"), "w", encoding="utf-8") as file:
        json.dump(results, file, indent=1, ensure_ascii=False)
    return results
