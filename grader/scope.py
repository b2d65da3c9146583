"""The names a test sees when it runs in the grader.

A test's globals are built by the grader alone, in this order:

1. Python's real builtins, the grader's own: a student's ``abs`` or ``range``
   is never the test's;
2. the lesson's names: those the source notebook's cells (other than tests)
   bind at top level, such as a question's ``softmax`` or a lesson's
   ``tokenizer``.  For each, the student's value, as a plain value or a handle.
   Only these names are asked for and only these are accepted, so whatever
   else the student process reports (``__builtins__``, a fake ``np``) does not
   exist here;
3. every top-level import of the source notebook, executed here: ``np`` in a
   test is always the grader's NumPy;
4. the lesson's test-setup cells (trusted helpers such as a reference
   implementation), executed here last.
"""

import ast
import builtins

from . import forbidden, proxy
from . import notebook as nb


def bound_names(tree):
    """Names a cell binds at top level (assignments, ``def``, ``class``, imports, loop targets, ...)."""
    names = set()
    for node in forbidden.module_level(tree.body):
        names |= forbidden.stored_names(node)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):  # `global x` inside a function
            names |= {n for inner in ast.walk(node) if isinstance(inner, ast.Global) for n in inner.names}
    return names


def read_names(tree):
    """Global names a test reads (a superset: local names of its functions count too)."""
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}


class TestScope:
    """Builds the globals of each test of one assignment: then the lesson's test-setup code runs in them."""

    def __init__(self, notebook):
        """``notebook``: the source notebook (a dict)."""
        cells = [c for c in notebook["cells"] if c.get("cell_type") == "code" and not nb.is_test_setup(c)]
        parsed = [(forbidden.parse_cell(nb.cell_source(c))[0], nb.is_test(c)) for c in cells]
        setup = nb.test_setup_code(notebook)
        self.setup = compile(setup, "<test setup>", "exec") if setup else None
        imports = [node for tree, _ in parsed if tree for node in tree.body
                   if isinstance(node, (ast.Import, ast.ImportFrom)) and not getattr(node, "level", 0)]
        self.imports = [compile(ast.Module([node], []), "<imports>", "exec") for node in imports]
        self.modules = sorted({alias.name.split(".")[0] for node in imports if isinstance(node, ast.Import)
                               for alias in node.names} |
                              {node.module.split(".")[0] for node in imports if isinstance(node, ast.ImportFrom)})
        import_names = {name for node in imports for name, _ in forbidden.import_bindings(node)}
        self.lesson_names = sorted({name for tree, is_test in parsed if tree and not is_test
                                    for name in bound_names(tree) if not name.startswith("_")} - import_names)

    def build(self, box):
        """A fresh globals dict for one test, with the student's values fetched from ``box``."""
        scope = {"__builtins__": builtins}
        scope.update(proxy.names(box, self.lesson_names))
        for statement in self.imports:
            try:
                exec(statement, scope)
            except Exception:
                pass  # an import the grader cannot do cannot help a test either
        if self.setup is not None:
            exec(self.setup, scope)  # the instructor's code: an error here is the lesson's, and shows
        return scope
