"""Find the submissions in a folder, one row per entry, without trusting anything in it.

An entry is a notebook file (``alice.ipynb``) or a folder holding one
(``alice/...``; nbgrader's ``submitted/alice/ps1/problem1.ipynb``, where
``ps1`` is the assignment: the folder of the source notebook).  Nothing is followed or opened blindly:
a symbolic link could "submit" the instructor's source or another student's
notebook, a pipe would block, a device would never end.  Every entry still
gets a row, with the reason when it cannot be graded.
"""

import os
import stat
from dataclasses import dataclass

MAX_FOLDER_ENTRIES = 10_000  # files and folders looked at inside one student's folder


@dataclass(frozen=True)
class Submission:
    student: str
    path: str = None      # the notebook to grade, or None
    problem: str = ""     # why there is nothing to grade


def find_submissions(directory, notebook_filename, assignment_folder=None, exact_name=False):
    """A :class:`Submission` for every entry of ``directory`` (hidden entries skipped), sorted.

    Inside a student's folder, a notebook named ``notebook_filename`` is taken
    (or, unless ``exact_name``, the folder's only notebook whatever its name);
    when there are several (``ps0/problem1.ipynb`` and ``ps1/problem1.ipynb``),
    the one in a folder named ``assignment_folder``, and never a guess.
    """
    found = []  # (entry name, submission)
    for entry in sorted(os.listdir(directory)):
        if entry.startswith("."):
            continue
        found.append((entry, _entry(os.path.join(directory, entry), entry, notebook_filename, assignment_folder,
                                    exact_name)))
    counts = {}
    for _, submission in found:
        counts[submission.student] = counts.get(submission.student, 0) + 1
    # Two entries for one student (alice.ipynb and alice/): both rows say so, each under its entry's name.
    return [submission if counts[submission.student] == 1 else
            Submission(entry, problem=f"two entries for {submission.student}: keep one") for entry, submission in found]


def _entry(path, entry, notebook_filename, assignment_folder, exact_name):
    student = entry[:-6] if entry.endswith(".ipynb") else entry
    try:
        mode = os.lstat(path).st_mode
    except OSError as error:
        return Submission(student, problem=f"cannot be read ({error.strerror})")
    if stat.S_ISLNK(mode):
        return Submission(student, problem="is a symbolic link, not a notebook or a folder")
    if stat.S_ISREG(mode):
        return Submission(student, path)
    if stat.S_ISDIR(mode):
        return find_in_folder(student, path, notebook_filename, assignment_folder, exact_name)
    return Submission(student, problem="is not a regular file or a folder")


def find_in_folder(student, path, notebook_filename, assignment_folder=None, exact_name=False):
    """The :class:`Submission` of ``student`` whose files are in the folder ``path``."""
    notebooks, links, seen, folders = [], [], 0, [path]
    while folders:
        folder = folders.pop()
        try:
            listing = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for entry in listing:
            seen += 1
            if seen > MAX_FOLDER_ENTRIES:
                return Submission(student, problem=f"the folder holds more than {MAX_FOLDER_ENTRIES:,} entries")
            if entry.name.startswith(".") or entry.name == "__pycache__":
                continue
            if entry.is_symlink():
                links += [entry.path] if entry.name.endswith(".ipynb") else []
            elif entry.is_dir(follow_symlinks=False):
                folders.append(entry.path)
            elif entry.name.endswith(".ipynb") and entry.is_file(follow_symlinks=False):
                notebooks.append(entry.path)
    notebooks.sort()
    named = [p for p in notebooks if os.path.basename(p) == notebook_filename]
    if len(named) > 1:
        named = [p for p in named if os.path.basename(os.path.dirname(p)) == assignment_folder] or named
    if len(named) > 1:
        where = ", ".join(os.path.relpath(p, path) for p in named[:3])
        return Submission(student, problem=f"several notebooks named {notebook_filename} ({where}): keep one")
    if named or (len(notebooks) == 1 and not exact_name):
        return Submission(student, (named or notebooks)[0])
    if notebooks and exact_name:
        return Submission(student, problem=f"no notebook named {notebook_filename}")
    if notebooks:
        return Submission(student, problem=f"several notebooks and none named {notebook_filename}")
    if links:
        return Submission(student, problem="the notebook in the folder is a symbolic link")
    return Submission(student, problem="no notebook in folder")
