"""Build the small lessons and submissions the grader tests use.

``demo`` has three questions worth 8 points (plain Python and NumPy, so
tests are fast); ``cells`` builds a submission from per-question answers so
each attack fixture states only what it changes.
"""

import json


def code_cell(source, **nbgrader):
    meta = {"nbgrader": dict(nbgrader, schema_version=3)} if nbgrader else {}
    return {"cell_type": "code", "execution_count": None, "id": nbgrader.get("grade_id", "c") + "-cell",
            "metadata": meta, "outputs": [], "source": source.splitlines(keepends=True)}


def solution(gid, source, forbidden=None):
    cell = code_cell(source, grade_id=gid, solution=True, grade=False, locked=False)
    if forbidden:
        cell["metadata"]["grader"] = {"forbidden": forbidden}
    return cell


def test(gid, source, points):
    return code_cell(source, grade_id=gid, solution=False, grade=True, locked=True, points=points)


def notebook(cells, assignment=None):
    meta = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    if assignment:
        meta["grader"] = {"assignment": assignment}
    return {"cells": cells, "metadata": meta, "nbformat": 4, "nbformat_minor": 5}


SQUARE = """def square(x):
    ### BEGIN SOLUTION
    return x * x
    ### END SOLUTION
"""
SOFTMAX = """def softmax(x):
    ### BEGIN SOLUTION
    e = np.exp(x - np.max(x))
    return e / e.sum()
    ### END SOLUTION
"""
COUNTER = """class Counter:
    ### BEGIN SOLUTION
    def __init__(self):
        self.total = 0

    def add(self, k):
        self.total += k
        return self.total
    ### END SOLUTION
"""
SECRET = "152399025"  # only in a hidden test: must never reach a student process or feedback


def demo_cells(square=SQUARE, softmax=SOFTMAX, counter=COUNTER):
    return [
        {"cell_type": "markdown", "id": "intro", "metadata": {}, "source": ["# Demo lesson\n"]},
        code_cell("import numpy as np\n", grade_id="imports", solution=False, grade=False, locked=True),
        solution("q_square", square),
        test("t_square", "assert square(3) == 9, 'square(3) should be 9'\n# HINT: multiply x by itself\n", 1),
        test("t_square_more", "assert square(-2) == 4\n### BEGIN HIDDEN TESTS\n"
                              f"assert square(12345) == {SECRET}\n### END HIDDEN TESTS\n", 2),
        solution("q_softmax", softmax, forbidden=["torch", "scipy.special.softmax", "statistics"]),
        test("t_softmax_sum", "np.testing.assert_allclose(softmax(np.array([1.0, 2.0, 3.0])).sum(), 1.0)\n", 2),
        test("t_softmax_values", "### BEGIN HIDDEN TESTS\nx = np.array([0.5, -1.0, 2.0])\n"
                                 "np.testing.assert_allclose(softmax(x), np.exp(x) / np.exp(x).sum())\n"
                                 "### END HIDDEN TESTS\n", 2),
        solution("q_counter", counter),
        test("t_counter", "c = Counter()\nc.add(2)\nassert c.add(3) == 5\nassert c.total == 5\n", 1),
    ]


def markdown_answer(gid, text, points):
    """A written answer a person grades (nbgrader's "manually graded answer")."""
    return {"cell_type": "markdown", "id": gid + "-cell", "source": text.splitlines(keepends=True),
            "metadata": {"nbgrader": {"grade_id": gid, "solution": True, "grade": True, "locked": False,
                                      "points": points, "schema_version": 3}}}


def task(gid, text, points):
    """nbgrader's "manually graded task": work asked for anywhere in the notebook."""
    return {"cell_type": "markdown", "id": gid + "-cell", "source": text.splitlines(keepends=True),
            "metadata": {"nbgrader": {"grade_id": gid, "solution": False, "grade": False, "task": True,
                                      "locked": True, "points": points, "schema_version": 3}}}


ESSAY = "Why does softmax subtract the maximum?\n"


def manual_cells(essay="### BEGIN SOLUTION\nSo that exp never overflows.\n### END SOLUTION\n",
                 code_answer="def plot():\n    ### BEGIN SOLUTION\n    return 'a plot'\n    ### END SOLUTION\n"):
    """The demo (8 autograded points) and 10 points graded by hand: a written answer (5), a code
    answer a person reads (3) and a task (2)."""
    cells = demo_cells()
    cells[8:8] = [
        {"cell_type": "markdown", "id": "essay-q", "metadata": {}, "source": [ESSAY]},
        markdown_answer("essay", essay, 5),
        code_cell(code_answer, grade_id="plot", solution=True, grade=True, locked=False, points=3),
        task("task_explain", "Explain your counter in a comment of its cell.\n", 2),
    ]
    return cells


def write(path, data):
    with open(path, "w", encoding="utf-8") as file:
        json.dump(data, file, indent=1)
    return str(path)


MINDSPORE_NET = """import mindspore as ms
from mindspore import nn

class Scale(nn.Cell):
    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def construct(self, x):
        ### BEGIN SOLUTION
        return x * self.factor
        ### END SOLUTION
"""


def mindspore_cells(net=MINDSPORE_NET):
    return [
        code_cell("import numpy as np\n", grade_id="imports", solution=False, grade=False, locked=True),
        solution("q_scale", net),
        test("t_scale", "import mindspore as ms\nnet = Scale(3.0)\n"
                        "out = net(ms.Tensor(np.ones((2, 3), np.float32)))\n"
                        "assert out.shape == (2, 3)\nnp.testing.assert_allclose(out.asnumpy(), 3.0)\n"
                        "assert net.factor == 3.0\n", 2),
    ]


# ---- "stats": tests that lean on builtins, hidden cases reached by visible code, NumPy bans ----

HIDDEN_CASE, HIDDEN_MEAN = [1234.5, 6789.25], "4011.875"  # only in hidden tests: never in a student's feedback
MEAN = """def mean(xs):
    ### BEGIN SOLUTION
    return sum(xs) / len(xs)
    ### END SOLUTION
"""
NORM = """def norm(v):
    ### BEGIN SOLUTION
    return float(np.sqrt((np.asarray(v, dtype=float) ** 2).sum()))
    ### END SOLUTION
"""


def stats_cells(mean=MEAN, norm=NORM, extra=()):
    """Two questions worth 9 points: q_mean (6) and q_norm (3); ``extra`` cells go before q_norm."""
    return [
        code_cell("import numpy as np\n", grade_id="imports", solution=False, grade=False, locked=True),
        solution("q_mean", mean, forbidden=["statistics", "numpy.mean", "numpy.average"]),
        test("t_mean_builtins", "assert abs(mean([1, 2, 3, 4]) - 2.5) < 1e-9, 'the mean of 1..4 is 2.5'\n"
                                "for n in range(1, 4):\n    assert abs(mean(list(range(n))) - (n - 1) / 2) < 1e-9\n"
                                "assert all(map(lambda xs: abs(mean(xs) - sum(xs) / len(xs)) < 1e-9, "
                                "[[1.0], [2.0, 4.0], [5.0, 6.0, 10.0]]))\n"
                                "assert len([p for p in zip([1, 2], [3, 4]) if mean(p) > 0]) == 2\n", 2),
        test("t_mean_helper", "def close(xs, expected):\n"
                              "    assert abs(mean(xs) - expected) < 1e-9, f'mean({xs}) should be {expected}, got {mean(xs)}'\n"
                              "close([2, 4], 3)\n### BEGIN HIDDEN TESTS\n"
                              f"close({HIDDEN_CASE}, {HIDDEN_MEAN})\n### END HIDDEN TESTS\n", 2),
        test("t_mean_loop", "cases = [([1, 3], 2.0)]\n### BEGIN HIDDEN TESTS\n"
                            f"cases.append(({HIDDEN_CASE}, {HIDDEN_MEAN}))\n### END HIDDEN TESTS\n"
                            "for xs, want in cases:\n    assert abs(mean(xs) - want) < 1e-9, f'expected {want}'\n", 2),
        *extra,
        solution("q_norm", norm, forbidden=["numpy.linalg.norm", "scipy"]),
        test("t_norm", "assert abs(norm([3, 4]) - 5) < 1e-9, 'norm([3, 4]) is 5'\n"
                       "### BEGIN HIDDEN TESTS\nassert abs(norm([1, 2, 2]) - 3) < 1e-9\n### END HIDDEN TESTS\n", 2),
        test("t_norm_zero", "assert norm([0, 0]) == 0, f'norm([0, 0]) should be 0, got {norm([0, 0])}'\n", 1),
    ]
