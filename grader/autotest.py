"""nbgrader's ``### AUTOTEST expr`` lines, written out into real tests as nbgrader does.

A test cell may hold lines such as ``### AUTOTEST squares(10)`` or
``### HASHED AUTOTEST a; b``.  nbgrader's ``InstantiateTests`` runs the source
notebook (solutions included) and replaces each such line by asserts built from
the templates of an ``autotests.yml``: the expression's type picks a list of
tests (``type(x)``, ``len(x)``, ``x``, ...), each is normalised (``str(...)``)
and, for ``HASHED``, hashed with a salt, then evaluated to give the expected
value that the assert compares with.  This module is that procedure, step for
step, so that a release holds the same asserts as nbgrader's; the grader
(:func:`grader.grade.source_notebook`) supplies the running notebook, where the
expressions are evaluated in a test's scope exactly as grading will evaluate
the asserts later.

Templates come from ``autotests.yml`` in the notebook's folder, else in the
current folder (nbgrader's course root), under the notebook's kernel name.
"""

import hashlib
import os
from dataclasses import dataclass

import jinja2
import yaml

from . import notebook as nb

FILENAME = "autotests.yml"
PYTHON_KERNELS = ("python", "python3")  # the kernel names nbgrader's InstantiateTests knows for Python
REQUIRED = ("dispatch", "normalize", "check", "templates")  # the keys nbgrader cannot do without


@dataclass(frozen=True)
class Templates:
    """One kernel's section of ``autotests.yml``."""

    dispatch: str
    normalize: str
    check: str
    by_type: dict          # type name -> [{"test": template, "fail": message template}, ...]
    setup: str = None      # code run once per cell before its first AUTOTEST
    hash: str = None       # needed for HASHED AUTOTEST
    success: str = None    # code appended to every cell that had an AUTOTEST

    def tests_for(self, type_name):
        return self.by_type.get(type_name, self.by_type["default"])


def uses_autotests(notebook):
    """Whether any code cell of ``notebook`` has an AUTOTEST line."""
    return any(nb.autotest_lines(nb.cell_source(cell)) for cell in notebook["cells"]
               if cell.get("cell_type") == "code")


def templates_path(source_path):
    """The ``autotests.yml`` nbgrader would use for ``source_path``, or None."""
    for folder in (os.path.dirname(os.path.abspath(source_path)), os.getcwd()):
        if os.path.isfile(os.path.join(folder, FILENAME)):
            return os.path.join(folder, FILENAME)
    return None


def load_templates(notebook, source_path):
    """The templates for ``notebook``'s kernel; NotebookError saying what is missing or malformed."""
    path = templates_path(source_path)
    if path is None:
        raise nb.NotebookError(f"the notebook has AUTOTEST lines but there is no {FILENAME} next to it or in the "
                               f"current folder (nbgrader's test templates)")
    try:
        with open(path, encoding="utf-8") as file:
            data = yaml.safe_load(file)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise nb.NotebookError(f"{path} cannot be read as YAML ({str(error).splitlines()[0]})") from None
    metadata = notebook.get("metadata") if isinstance(notebook.get("metadata"), dict) else {}
    kernelspec = metadata.get("kernelspec")
    kernel = kernelspec.get("name", "") if isinstance(kernelspec, dict) else ""
    if not kernel:
        raise nb.NotebookError("the notebook names no kernel (metadata.kernelspec.name), so no section of "
                               f"{FILENAME} can be chosen for its AUTOTEST lines")
    if kernel not in PYTHON_KERNELS:
        raise nb.NotebookError(f"AUTOTEST lines of a {kernel!r} notebook: this grader runs Python notebooks only")
    section = data.get(kernel) if isinstance(data, dict) else None
    if not isinstance(section, dict):
        raise nb.NotebookError(f"{path} has no section for the notebook's kernel {kernel!r}")
    missing = [key for key in REQUIRED if key not in section]
    if missing:
        raise nb.NotebookError(f"{path}: the {kernel!r} section lacks {', '.join(missing)}")
    by_type = section["templates"]
    if not isinstance(by_type, dict) or "default" not in by_type or not all(
            isinstance(tests, list) and all(isinstance(t, dict) and {"test", "fail"} <= set(t) for t in tests)
            for tests in by_type.values()):
        raise nb.NotebookError(f"{path}: 'templates' must map type names, 'default' among them, "
                               f"to lists of {{test, fail}} entries")
    strings = {key: section.get(key) for key in ("dispatch", "normalize", "check", "setup", "hash", "success")}
    if not all(value is None or isinstance(value, str) for value in strings.values()):
        raise nb.NotebookError(f"{path}: dispatch, normalize, check, setup, hash and success must be text")
    return Templates(by_type=by_type, **strings)


def problems(notebook, source_path):
    """What stops the notebook's AUTOTEST lines from being written out, without running anything."""
    if not uses_autotests(notebook):
        return []
    try:
        templates = load_templates(notebook, source_path)
    except nb.NotebookError as error:
        return [str(error)]
    hashed = any(hashed for cell in notebook["cells"] if nb.is_test(cell)
                 for hashed, _ in nb.autotest_lines(nb.cell_source(cell)))
    if hashed and templates.hash is None:
        return [f"the notebook has HASHED AUTOTEST lines but {templates_path(source_path)} has no 'hash' template"]
    return []


def salt_seed(cell_code, index):
    """nbgrader's per-cell salt: from the cell's code and its 0-based place, so releases repeat."""
    return int(hashlib.sha256((cell_code + str(index)).encode("utf-8")).hexdigest(), 16) % 10**6


def instantiate(code, index, templates, run, check_plain):
    """The test cell ``code`` (cell ``index``, 0-based) with its AUTOTEST lines written out.

    ``run(code)`` runs code in the test's scope and returns what a kernel would
    show for it as text, or None: the whole procedure of nbgrader's
    ``InstantiateTests.preprocess_cell``, in its order, so that expressions
    that depend on earlier lines of the cell see them.  ``check_plain(snippet)``
    raises NotebookError if the expression's value could not be trusted at
    grading time (an object that stays in the student's process, whose ``str``
    the student's code would write).
    """
    salt = salt_seed(code, index)
    new_lines, pending, setup_done = [], [], False
    for line in code.split("\n"):
        if not nb.is_autotest_line(line):
            new_lines.append(line)
            pending.append(line)
            continue
        run("\n".join(pending))
        pending = []
        if templates.setup is not None and not setup_done:
            new_lines.append(templates.setup)
            setup_done = True
            run(templates.setup)
        hashed, snippets = nb.autotest_snippets(line)
        for snippet in snippets:
            if hashed:
                salt += 1
            check_plain(snippet)
            new_lines += _tests(snippet, templates, run, hex(salt)[2:] if hashed else None) + [""]
    if templates.success is not None:
        new_lines.append(templates.success)
        pending.append(templates.success)
    run("\n".join(pending))
    return "\n".join(new_lines)


def _tests(snippet, templates, run, salt):
    """The assert lines for one expression, each with the value it has in the running notebook."""
    type_name = run(_render(templates.dispatch, snippet=snippet))
    check = []
    for entry in templates.tests_for(type_name):
        test = _render(templates.normalize, snippet=str(entry["test"]))
        if salt is not None:
            test = _render(templates.hash, snippet=test, salt=salt)
        test = _render(test, snippet=snippet)
        message = _render(str(entry["fail"]), snippet=snippet).replace('"', '\\"')
        check.append(_render(templates.check, snippet=test, value=run(test), message=message))
    return check


def _render(template, **values):
    return jinja2.Environment(loader=jinja2.BaseLoader()).from_string(template).render(**values)


def shown(value):
    """What nbgrader reads back from the kernel for ``value``: IPython's plain-text form, quotes stripped."""
    if value is None:
        return None
    from IPython.core.formatters import PlainTextFormatter

    return PlainTextFormatter()(value).strip('"').strip("'")
