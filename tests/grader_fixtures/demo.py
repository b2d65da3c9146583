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
