"""The house: every module on its floor, no floor importing a higher one, no cycles, and the grader
never importing minigpt.  Read from the source (imports inside functions count too)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLOORS = {
    1: {"device", "tokenizer", "data", "optim", "distributed", "generate", "options", "tinyworld", "kernels"},
    2: {"model", "chat", "checkpoint"},
    3: {"train", "sft", "tinychat", "session", "serve"},
    4: {"evaluate"},
    5: {"speedrun"},
    6: {"__main__"},
}
FLOOR_OF = {module: floor for floor, modules in FLOORS.items() for module in modules}


def imports(path):
    """Top-level package and module names a file imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
            if node.level:
                found |= {f"{path.parent.name}.{node.module}"}
    return found


def minigpt_imports(path):
    return {name.split(".")[1] for name in imports(path) if name.startswith("minigpt.")} - {path.stem}


def test_every_library_module_has_a_floor():
    assert {p.stem for p in (ROOT / "minigpt").glob("*.py")} - {"__init__"} == set(FLOOR_OF)


def test_no_floor_imports_a_higher_one():
    for path in (ROOT / "minigpt").glob("*.py"):
        if path.stem == "__init__":
            continue
        higher = {m for m in minigpt_imports(path) if FLOOR_OF[m] > FLOOR_OF[path.stem]}
        assert not higher, f"{path.stem} (floor {FLOOR_OF[path.stem]}) imports {higher}"


def test_no_import_cycles():
    graph = {p.stem: minigpt_imports(p) for p in (ROOT / "minigpt").glob("*.py") if p.stem != "__init__"}

    def reaches(start, target, seen=()):
        return any(m == target or (m not in seen and reaches(m, target, seen + (m,))) for m in graph[start])

    assert [m for m in graph if reaches(m, m)] == []


def test_the_grader_never_imports_minigpt_and_the_chat_template_needs_no_mindspore():
    for path in (ROOT / "grader").glob("*.py"):
        assert not any(name.split(".")[0] == "minigpt" for name in imports(path)), path.name
    assert not any(name.split(".")[0] == "mindspore" for name in imports(ROOT / "minigpt" / "chat.py")
                   | imports(ROOT / "minigpt" / "tokenizer.py"))
