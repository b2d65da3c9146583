"""Find uses of forbidden names in a student's answer, by reading its code.

A question may forbid names such as ``"torch"`` or
``"minigpt.model.CausalSelfAttention"``: importing them, referring to them
through any alias, or naming them in a string (``importlib.import_module``,
``getattr(module, "...")``) all count.  This check is static, so it runs in
the grader process and student code cannot switch it off; the grader adds a
run-time check of newly imported modules on top.
"""

import ast

from IPython.core.inputtransformer2 import TransformerManager

_ipython = TransformerManager()


def uses(code, forbidden, context=""):
    """Return ``(name, line)`` for each use of a forbidden name in ``code``.

    ``context`` is other student code (cells outside any question) whose
    imports may define the aliases ``code`` uses.
    """
    if not forbidden:
        return []
    aliases = _aliases(parse_cell(context)) if context else {}
    tree = parse_cell(code)
    aliases.update(_aliases(tree))
    found = []
    for node in ast.walk(tree):
        names, words = _mentions(node, aliases)
        for banned in forbidden:
            last = banned.rsplit(".", 1)[-1]
            if any(n == banned or n.startswith(banned + ".") for n in names) or \
                    any(w in (banned, last) for w in words):
                found.append((banned, getattr(node, "lineno", 0)))
    return sorted(set(found), key=lambda item: (item[1], item[0]))


def parse_cell(code):
    """Parse cell code, turning IPython syntax (magics, ``!cmd``) into Python first."""
    try:
        return ast.parse(_ipython.transform_cell(code))
    except SyntaxError:
        return ast.Module(body=[], type_ignores=[])


def _aliases(tree):
    """Map each name bound by an import to the dotted name it stands for."""
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    aliases[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases


def _mentions(node, aliases):
    """Dotted names a node refers to, and loose words (strings, attribute names) it mentions."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names], []
    if isinstance(node, ast.ImportFrom) and node.module:
        return [node.module] + [f"{node.module}.{alias.name}" for alias in node.names], []
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [], [node.value]
    names = []
    dotted = _dotted(node) if isinstance(node, (ast.Name, ast.Attribute)) else None
    if dotted:
        head, _, rest = dotted.partition(".")
        names.append(aliases.get(head, head) + ("." + rest if rest else ""))
    return names, [node.attr] if isinstance(node, ast.Attribute) else []


def _dotted(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id] + parts[::-1])
