"""Time batch grading of 100 submissions of a typical assignment.

    python benchmarks/grade_speed.py [--submissions 100] [--workers N]

The assignment is the grader tests' demo lesson (three questions, five test
cells, NumPy); the submissions are a mix of full, partial and empty answers.
Prints the wall-clock time and submissions per second.
"""

import argparse
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests", "grader_fixtures")]

import demo  # noqa: E402

from grader import grade_submissions, release_notebook, write_reports  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--submissions", type=int, default=100)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        source = demo.write(os.path.join(root, "demo.ipynb"), demo.notebook(demo.demo_cells()))
        folder = os.path.join(root, "submitted")
        os.mkdir(folder)
        variants = [demo.notebook(demo.demo_cells()),
                    demo.notebook(demo.demo_cells(softmax="def softmax(x):\n    return x\n"))]
        for number in range(args.submissions):
            path = os.path.join(folder, f"student{number:03d}.ipynb")
            if number % 3 == 2:
                with open(path, "w", encoding="utf-8") as file:
                    file.write(release_notebook(source))
            else:
                demo.write(path, variants[number % 3])
        start = time.perf_counter()
        results = grade_submissions(source, folder, workers=args.workers)
        write_reports(results, os.path.join(root, "results"))
        elapsed = time.perf_counter() - start
    print(f"graded {len(results)} submissions with {args.workers} workers in {elapsed:.1f} s "
          f"({len(results) / elapsed:.2f} per second)")


if __name__ == "__main__":
    main()
