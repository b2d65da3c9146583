"""Find uses of forbidden names in a student's code, by reading it in the grader.

A question may forbid names such as ``"torch"``, ``"numpy.linalg.norm"`` or a
lesson's own ``"GPT"``.  The check reads the code as submitted; it never asks
the student process anything, so nothing a student runs can switch it off.

For one question it reads every cell the student wrote (answers, added cells,
edited lesson cells) that runs before the question's last test, and finds:

* **uses**: an import of a forbidden name or of anything under it, or an
  expression that resolves to one through import aliases (``np.linalg.norm``
  after ``import numpy as np``, ``n = np.linalg; n.norm``,
  ``getattr(np.linalg, "norm")``, ``importlib.import_module("torch")``), also
  when reached by another path inside the same package
  (``scipy.special._logsumexp.softmax``).  Uses count in the question's own
  answer and in the student code it reaches by name: a helper in another cell,
  the cell that imports an alias it uses, a cell that defines a name the
  question's tests call.  A variable, attribute or dictionary key that merely
  shares a word with a forbidden name is not a use;
* **code the check cannot follow**, anywhere in that code: names computed at
  run time (``eval``, ``exec``, ``getattr`` with a computed name,
  ``importlib``, ``__import__``, reflection through ``__dict__`` or
  ``__globals__``, ``sys.modules``, unpickling), shell commands and IPython's
  own machinery (``get_ipython``, which is how input transformers are
  registered), changing a module's attributes, passing a module that holds a
  forbidden name around, and importing a module the grader cannot find (a file
  the student wrote).  An honest answer needs none of these.

Cells that are not valid Python (with IPython's syntax) are never run when
grading, so they cannot hide anything.
"""

import ast
import fnmatch
import importlib.util
from dataclasses import dataclass, field

from IPython.core.inputtransformer2 import TransformerManager

MAX_CELL_CHARS = 100_000  # longer cells are not checked, and so not run (parsing is the grader's time)

_ipython = TransformerManager()

# Builtins that look names up, run strings as code, or reach the interpreter's internals.
_DYNAMIC_BUILTINS = {"eval", "exec", "compile", "__import__", "globals", "locals", "vars", "breakpoint", "help",
                     "__builtins__", "__loader__", "__spec__", "get_ipython"}
# Modules whose purpose is to load code or names at run time, or to reach the interpreter's internals.
_DYNAMIC_MODULES = {"importlib", "imp", "builtins", "__builtin__", "ctypes", "cffi", "pickle", "_pickle", "cPickle",
                    "dill", "cloudpickle", "joblib", "marshal", "shelve", "copyreg", "runpy", "code", "codeop",
                    "subprocess", "pty", "inspect", "gc", "pkgutil", "pydoc", "zipimport", "timeit", "doctest",
                    "cProfile", "profile", "trace", "pdb", "bdb", "pkg_resources", "IPython", "ipykernel",
                    "logging.config", "_frozen_importlib", "_imp", "_io", "posix", "nt"}
# Attributes (matched on a resolved name's last parts) that load names or run code.
_DYNAMIC_PATHS = ["sys.modules", "sys._getframe", "sys.meta_path", "sys.path_hooks", "sys.path_importer_cache",
                  "sys.settrace", "sys.setprofile", "os.system", "os.popen", "os.exec*", "os.spawn*",
                  "os.posix_spawn*", "types.FunctionType", "types.CodeType", "types.ModuleType", "types.LambdaType",
                  "operator.attrgetter", "operator.methodcaller"]
# Attribute names that lead from any object to code, frames, globals or other modules.
_REFLECTION = {"f_globals", "f_locals", "f_back", "f_builtins", "f_code", "gi_frame", "cr_frame", "ag_frame",
               "tb_frame", "tb_next", "co_code", "co_consts", "func_globals", "_ip"}
_NUMERIC = ("add sub mul matmul truediv floordiv mod divmod pow lshift rshift and xor or").split()
# Double-underscore names a student may use: special methods and plain descriptive attributes.
_SAFE_DUNDERS = {f"__{name}__" for name in (
    "init new del repr str bytes format hash bool call len length_hint iter next reversed contains getitem setitem "
    "delitem missing enter exit eq ne lt le gt ge neg pos abs invert complex int float index round trunc floor ceil "
    "name qualname doc class module annotations slots version file all array array_priority post_init "
    "array_ufunc array_function dataclass_fields").split()}
_SAFE_DUNDERS |= {f"__{prefix}{name}__" for name in _NUMERIC for prefix in ("", "r", "i")}
# IPython magics whose only effect is to run the code they are given (which is then read too) or to show things.
_CODE_MAGICS = {"time", "timeit", "capture"}
_QUIET_MAGICS = {"matplotlib", "precision", "pprint", "who", "whos", "pinfo", "pinfo2", "config"}


def parse_cell(code):
    """``(tree, problem)``: the cell's syntax tree, or None and why it cannot be read.

    Plain Python is parsed as it is (IPython leaves valid Python unchanged);
    anything else goes through IPython's own transformations first, so magics
    and ``!commands`` become the calls IPython would make.
    """
    if len(code) > MAX_CELL_CHARS:
        return None, f"longer than {MAX_CELL_CHARS:,} characters"
    try:
        return ast.parse(code), ""
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        pass
    try:
        return ast.parse(_ipython.transform_cell(code)), ""
    except SyntaxError as error:
        return None, f"not valid Python (line {error.lineno}: {error.msg})"
    except (ValueError, RecursionError, MemoryError):
        return None, "not valid Python (nested too deeply)"
    except Exception as error:  # IPython's transformers on pathological input
        return None, f"not valid Python ({type(error).__name__})"


@dataclass
class Cell:
    """One cell as the check sees it: ``index`` in the notebook, its syntax tree, and whose code it is."""

    index: int
    tree: ast.Module
    authored: bool        # written or changed by the student (instructor cells give aliases only)
    answer: bool = False  # the question's own solution cell


@dataclass(eq=False)
class _Statement:
    cell: Cell
    binds: set = field(default_factory=set)     # global names it binds or changes
    refs: set = field(default_factory=set)      # global names it reads
    paths: list = field(default_factory=list)   # (dotted name, line) of every resolved reference
    values: list = field(default_factory=list)  # (dotted name, line) of module values passed around
    dynamic: list = field(default_factory=list)  # (what, line) of code the check cannot follow


def violation(cells, banned, test_names=()):
    """The first forbidden use in ``cells`` (those that run before the question's verdict), or None.

    ``banned`` are the question's forbidden names; ``test_names`` the global
    names its tests read (the student may define them in any cell).  Returns
    ``(message, cell index, line)``.
    """
    if not banned:
        return None
    env = _aliases(cells)
    own = {name for cell in cells if cell.authored for node in module_level(cell.tree.body)
           for name in stored_names(node)}  # the student's own globals (their `help` is no builtin)
    # Objects the lesson's own cells import for the student (`from minigpt.sft import IGNORE`) may
    # be used as they are; modules it imports may not be reached through (`minigpt.model.GPT`).
    given = {name for cell in cells if not cell.authored for node in module_level(cell.tree.body)
             if isinstance(node, ast.ImportFrom) for name, _ in import_bindings(node)} - own
    statements = [_read(node, cell, env, own, given) for cell in cells if cell.authored for node in cell.tree.body]
    found = []
    for statement in statements:
        found += [(what, statement.cell.index, line) for what, line in statement.dynamic]
        found += [(f"passes the module {path!r} around, which the forbidden-name check cannot follow",
                   statement.cell.index, line)
                  for path, line in statement.values if any(b.startswith(path + ".") for b in banned)]
    for statement in _reached(statements, set(test_names)):
        found += [(f"uses forbidden name {name!r}", statement.cell.index, line)
                  for path, line in statement.paths + statement.values for name in banned if _matches(path, name)]
    return min(found, key=lambda item: (item[1], item[2])) if found else None


def _matches(path, banned):
    """Whether ``path`` is ``banned``, is inside it, or is the same name re-exported elsewhere in its package."""
    if path == banned or path.startswith(banned + "."):
        return True
    parts, name = path.split("."), banned.split(".")
    return len(name) > 1 and parts[0] == name[0] and name[-1] in parts[1:]


def _reached(statements, test_names):
    """The statements a question's code can reach by name: its answer, what the answer and its tests read."""
    reached = [s for s in statements if s.cell.answer]
    wanted, seen = set(test_names), set()
    for statement in reached:
        wanted |= statement.refs
    while wanted - seen:
        name = (wanted - seen).pop()
        seen.add(name)
        for statement in statements:
            if name in statement.binds and all(statement is not r for r in reached):
                reached.append(statement)
                wanted |= statement.refs
    return reached


# ---- reading the code ---------------------------------------------------------------


@dataclass
class _Aliases:
    """What global names stand for: ``modules`` from imports (``np`` -> ``numpy``), ``names`` from
    plain assignments of other names (``G = GPT``: a lesson may forbid its own ``GPT``)."""

    modules: dict = field(default_factory=dict)
    names: dict = field(default_factory=dict)


def _aliases(cells):
    """The aliases bound at module level anywhere in ``cells``.

    Flow-insensitive on purpose: a function body sees whatever a name was
    bound to anywhere before the verdict.
    """
    aliases = _Aliases()
    for _ in range(5):  # chains such as a = np; b = a.linalg settle in a few rounds
        before = repr(aliases)
        for cell in cells:
            for node in module_level(cell.tree.body):
                for name, path in import_bindings(node):
                    aliases.modules.setdefault(name, set()).add(path)
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    target = node.targets[0].id
                    modules = _resolve(node.value, aliases, (), bare=False)
                    if modules:
                        aliases.modules.setdefault(target, set()).update(modules)
                    names = _resolve(node.value, aliases, ()) - modules - {target}
                    if names:
                        aliases.names.setdefault(target, set()).update(names)
        if repr(aliases) == before:
            break
    return aliases


def module_level(body):
    """Statements that run at module level, including those inside if/for/while/with/try blocks."""
    for node in body:
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for name in ("body", "orelse", "finalbody"):
                yield from module_level(getattr(node, name, []) or [])
            for handler in getattr(node, "handlers", []) or []:
                yield from module_level(handler.body)


def import_bindings(node):
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield (alias.asname, alias.name) if alias.asname else (alias.name.split(".")[0], alias.name.split(".")[0])
    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
        for alias in node.names:
            if alias.name != "*":
                yield alias.asname or alias.name, f"{node.module}.{alias.name}"


def _literal(node):
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _resolve(node, env, local, bare=True):
    """The dotted names an expression may stand for (empty if it is not a name chain).

    With ``bare`` a global name also stands for itself (a lesson may forbid
    its own ``GPT``); without, only what imports bound it to counts.
    """
    if isinstance(node, ast.Name):
        if node.id in local:
            return set()
        found = set(env.modules.get(node.id, ()))
        return found | {node.id} | env.names.get(node.id, set()) if bare else found
    if isinstance(node, ast.Attribute):
        return {f"{base}.{node.attr}" for base in _resolve(node.value, env, local, bare)}
    if isinstance(node, ast.Call) and node.args:
        functions = _resolve(node.func, env, local)
        name = _literal(node.args[1]) if len(node.args) > 1 else None
        if "getattr" in functions and name is not None:
            return {f"{base}.{name}" for base in _resolve(node.args[0], env, local, bare)}
        module = _literal(node.args[0])
        if module and functions & {"__import__", "importlib.import_module"}:
            return {module}
    return set()


def _is_module(path):
    return path.split(".")[0] in _DYNAMIC_MODULES or path in _DYNAMIC_MODULES


def _is_dynamic_path(path):
    parts = path.split(".")
    return any(fnmatch.fnmatchcase(".".join(parts[-len(p.split(".")):]), p) for p in _DYNAMIC_PATHS)


_found_modules = {}


def _installed(module):
    """Whether the grader can find a top-level module (without importing it)."""
    top = module.split(".")[0]
    if top not in _found_modules:
        try:
            _found_modules[top] = importlib.util.find_spec(top) is not None
        except (ImportError, ValueError):
            _found_modules[top] = False
    return _found_modules[top]


class _Reader(ast.NodeVisitor):
    """Reads one top-level statement: what it binds and reads, the names it resolves, what it hides."""

    def __init__(self, statement, env, own, given):
        self.statement, self.env, self.own, self.given = statement, env, own, given
        self.scopes = [set()]  # names local to the functions being read; [0] is module level (none)

    @property
    def local(self):
        return self.scopes[-1]

    def note(self, what, node):
        """Code the check cannot follow: ``what`` completes "uses ...", "imports ...", "changes ..."."""
        message = what if what.split(" ", 1)[0] in ("imports", "changes") else f"uses {what}"
        self.statement.dynamic.append((message + ", which the forbidden-name check cannot follow",
                                       getattr(node, "lineno", 0)))

    def resolve(self, node, bare=True):
        return _resolve(node, self.env, self.local, bare)

    # ---- scopes ----

    def visit_FunctionDef(self, node):
        self._bind([node.name])
        for item in node.decorator_list + node.args.defaults + [d for d in node.args.kw_defaults if d]:
            self.visit(item)
        self._function(node.args, node.body)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node):
        for item in node.args.defaults + [d for d in node.args.kw_defaults if d]:
            self.visit(item)
        self._function(node.args, [node.body])

    def _function(self, args, body):
        names = {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
        names |= {a.arg for a in (args.vararg, args.kwarg) if a}
        declared = {n for stmt in body for node in ast.walk(stmt) if isinstance(node, (ast.Global, ast.Nonlocal))
                    for n in node.names}
        names |= {n for stmt in body for n in stored_names(stmt)} - declared
        if len(self.scopes) == 1:
            self.statement.binds |= declared  # `global x` in a function: calling it rebinds x
        self.scopes.append(names | self.local)
        for stmt in body:
            self.visit(stmt)
        self.scopes.pop()

    def visit_ClassDef(self, node):
        self._bind([node.name])
        for item in node.bases + [k.value for k in node.keywords] + node.decorator_list:
            self.visit(item)
        for stmt in node.body:
            self.visit(stmt)

    def _comprehension(self, node, parts):
        names = {n.id for g in node.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)}
        self.scopes.append(names | self.local)
        for part in node.generators + parts:
            self.visit(part)
        self.scopes.pop()

    def visit_ListComp(self, node):
        self._comprehension(node, [node.elt])

    visit_SetComp = visit_GeneratorExp = visit_ListComp

    def visit_DictComp(self, node):
        self._comprehension(node, [node.key, node.value])

    # ---- bindings ----

    def visit_Import(self, node):
        for alias in node.names:
            self._imported(alias.name, node)
        self._bind([name for name, _ in import_bindings(node)])

    def visit_ImportFrom(self, node):
        if node.level:
            self.note("a relative import", node)
            return
        self._imported(node.module, node)
        for alias in node.names:
            if alias.name == "*":
                self.statement.values.append((node.module, node.lineno))
            else:
                self.statement.paths.append((f"{node.module}.{alias.name}", node.lineno))
        self._bind([name for name, _ in import_bindings(node)])

    def _imported(self, module, node):
        self.statement.paths.append((module, node.lineno))
        if _is_module(module):
            self.note(f"imports {module!r}", node)
        elif not _installed(module):
            self.note(f"imports {module!r} (not installed where the grader runs)", node)

    def _bind(self, names):
        if len(self.scopes) == 1:
            self.statement.binds |= set(names)

    def visit_Assign(self, node):
        self._targets(node.targets)
        self.visit(node.value)

    def visit_AugAssign(self, node):
        self._targets([node.target])
        if isinstance(node.target, ast.Name):
            self._name(node.target.id, node.target)
        self.visit(node.value)

    def visit_AnnAssign(self, node):
        self._targets([node.target])
        if node.value:
            self.visit(node.value)

    def visit_Delete(self, node):
        self._targets(node.targets)

    def visit_For(self, node):
        self._targets([node.target])
        for item in [node.iter] + node.body + node.orelse:
            self.visit(item)

    visit_AsyncFor = visit_For

    def visit_withitem(self, node):
        self.visit(node.context_expr)
        if node.optional_vars is not None:
            self._targets([node.optional_vars])

    def visit_ExceptHandler(self, node):
        if node.name:
            self._bind([node.name])
        self.generic_visit(node)

    def visit_NamedExpr(self, node):
        self._targets([node.target])
        self.visit(node.value)

    def _targets(self, targets):
        """Assignment targets: names are bound; ``x.a = ...`` and ``x[k] = ...`` change ``x``."""
        for target in targets:
            if isinstance(target, ast.Name):
                self._bind([target.id])
            elif isinstance(target, (ast.Tuple, ast.List)):
                self._targets(target.elts)
            elif isinstance(target, ast.Starred):
                self._targets([target.value])
            elif isinstance(target, ast.Attribute):
                self._changed(target.value, target)
                self._attribute_name(target.attr, target)
            elif isinstance(target, ast.Subscript):
                self._changed(target.value, target)
                self.visit(target.slice)

    def _changed(self, base, node):
        """``base`` gets an attribute or item set: a module must not be changed."""
        modules = self.resolve(base, bare=False)
        if modules:
            self.note(f"changes {sorted(modules)[0]!r}", node)
        self._mutated(base)

    def _mutated(self, base):
        """``base`` changes in place: the statement binds its root name (for what reaches what)."""
        root = base
        while isinstance(root, (ast.Attribute, ast.Subscript)):
            root = root.value
        if isinstance(root, ast.Name) and root.id not in self.local:
            self._bind([root.id])
        self.visit(base)

    # ---- reading names ----

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Load):
            self._name(node.id, node)
            self._value(node)

    def _name(self, name, node):
        if name in self.local:
            return
        self.statement.refs.add(name)
        if name not in self.given:
            self.statement.paths += [(path, node.lineno) for path in self.resolve(node)]
        if name in self.own:
            return
        if name in _DYNAMIC_BUILTINS:
            self.note(repr(name), node)
        elif name == "getattr":
            self.note("getattr with a computed name", node)

    def visit_Attribute(self, node):
        """A chain like ``np.linalg.norm``: what it resolves to; its attribute names; then its root."""
        chain, root = [], node
        while isinstance(root, ast.Attribute):
            chain.append(root)
            root = root.value
        for link in chain:
            self._attribute_name(link.attr, link)
        self.statement.paths += [(path, node.lineno) for path in self.resolve(node)]
        for path in self.resolve(node, bare=False):
            if _is_dynamic_path(path):
                self.note(repr(path), node)
            elif _is_module(path):
                self.note(f"the module {path.split('.')[0]!r}", node)
        self.visit(root)
        self._value(node)

    def _attribute_name(self, name, node):
        if (name.startswith("__") and name.endswith("__") and name not in _SAFE_DUNDERS) or name in _REFLECTION:
            self.note(f"the attribute {name!r}", node)

    def _value(self, node):
        """A name chain used as a value (an argument, an element, a return value): a module may escape."""
        parent = getattr(node, "_parent", None)
        if getattr(node, "_base", False) or isinstance(parent, ast.Attribute) or \
                (isinstance(parent, ast.Call) and parent.func is node) or \
                (isinstance(node, ast.Name) and node.id in self.given):
            return
        if isinstance(parent, ast.Assign) and len(parent.targets) == 1 and isinstance(parent.targets[0], ast.Name):
            return  # an alias: followed by _aliases
        self.statement.values += [(path, node.lineno) for path in self.resolve(node, bare=False)]

    def visit_Call(self, node):
        if self._magic(node):
            return
        functions = self.resolve(node.func)
        if "getattr" in functions and len(node.args) >= 2 and _literal(node.args[1]) is not None:
            self.statement.paths += [(path, node.lineno) for path in self.resolve(node)]
            node.args[0]._base = True  # the object whose attribute is read, not a value passed on
            for item in node.args[:1] + node.args[2:] + [k.value for k in node.keywords]:
                self.visit(item)
            self._value(node)
            return
        if functions & {"setattr", "delattr"} and node.args:
            self._changed(node.args[0], node)
        if any(k.arg == "allow_pickle" and not (isinstance(k.value, ast.Constant) and k.value.value is False)
               for k in node.keywords):
            self.note("allow_pickle (unpickling can load any name)", node)
        if isinstance(node.func, ast.Attribute) and isinstance(node.func.value, (ast.Name, ast.Attribute)):
            root = node.func.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id not in self.local and not self.resolve(root, bare=False):
                self._bind([root.id])  # a method call may change the object it is called on
        self.generic_visit(node)

    def _magic(self, node):
        """IPython's ``get_ipython().run_line_magic(name, line)`` and ``run_cell_magic(name, line, body)``.

        Magics that only time or capture code are read as the code they run;
        magics that only show things are harmless; any other use of IPython's
        shell (``!cmd``, ``%run``, transformers, hooks) is code the check cannot follow.
        """
        func = node.func
        if not (isinstance(func, ast.Attribute) and func.attr in ("run_line_magic", "run_cell_magic")
                and isinstance(func.value, ast.Call) and isinstance(func.value.func, ast.Name)
                and func.value.func.id == "get_ipython" and not func.value.args and len(node.args) >= 2):
            return False
        args = [_literal(a) for a in node.args]
        if None in args or args[0] not in _CODE_MAGICS | _QUIET_MAGICS:
            return False
        if args[0] in _CODE_MAGICS:
            code = args[-1] if func.attr == "run_cell_magic" else args[1]
            tree, problem = parse_cell(code)
            if tree is None:
                self.note(f"the magic %{args[0]} with code that is {problem}", node)
                return True
            for stmt in tree.body:
                _set_parents(stmt)
                self.visit(stmt)
        return True


def stored_names(node):
    """Names a statement binds in the scope it belongs to (not in nested functions or classes)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    names = set()
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Name) and isinstance(child.ctx, (ast.Store, ast.Del)):
            names.add(child.id)
        elif isinstance(child, (ast.Import, ast.ImportFrom)):
            names |= {name for name, _ in import_bindings(child)}
        elif not isinstance(child, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            names |= stored_names(child)
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        names |= {name for name, _ in import_bindings(node)}
    if isinstance(node, ast.ExceptHandler) and node.name:
        names.add(node.name)
    return names


def _set_parents(tree):
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            child._parent = node


def _read(node, cell, env, own, given):
    statement = _Statement(cell)
    _set_parents(node)
    _Reader(statement, env, own, given).visit(node)
    return statement
