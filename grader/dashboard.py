"""The instructor's picture of a class: ``results/index.html``.

One self-contained page (its plots are embedded PNGs) written next to the
gradebook: how the scores are spread, which test most students fail (the one
to talk about in class), which submissions could not be graded and why, and a
link to every student's feedback.  Like the other reports it is a pure
function of the results, so grading again writes the same bytes; every string
a student could have written is escaped.
"""

import base64
import html
import io
from urllib.parse import quote

from .results import STATUSES

NOT_GRADED = ("invalid",)  # rows with nothing graded: left out of the pass shares


def dashboard_html(results, feedback_names):
    """The page for ``results``; ``feedback_names`` maps a student to the name of their feedback files."""
    e = html.escape
    title = f"{e(results[0].assignment)}: the class" if results else "No submissions"
    parts = [f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title>",
             f"<style>{STYLE}</style></head><body>", f"<h1>{title}</h1>"]
    if not results:
        return "\n".join(parts + ["<p>There was nothing to grade.</p></body></html>", ""])
    graded = [r for r in results if r.status not in NOT_GRADED]
    scores = [r.score for r in results]
    statuses = {status: sum(r.status == status for r in results) for status in sorted({r.status for r in results})}
    parts.append(f"<p>{len(results)} submissions, out of {_number(results[0].max_score)} points: mean "
                 f"{_number(sum(scores) / len(scores))}, median {_number(_median(scores))}; "
                 + ", ".join(f"{count} {e(status)}" for status, count in statuses.items()) + ".</p>")
    pending = sum(q.pending for r in results for q in r.questions)
    if pending:
        parts.append(f"<p>{pending} answers graded by hand are not scored yet (0 points until then): fill in "
                     f"<code>manual.csv</code>, then <code>python -m grader merge-manual</code>.</p>")
    parts += ["<h2>Scores</h2>", _image(_score_histogram(scores, results[0].max_score), "score distribution")]
    tests = _test_shares(graded)
    if tests:
        hardest = min(tests, key=lambda t: t[2])
        parts += ["<h2>Tests: the share of students who passed</h2>",
                  f"<p>Of the {len(graded)} submissions that could be graded. Failed most often: "
                  f"<code>{e(hardest[1])}</code> (question <code>{e(hardest[0])}</code>), passed by "
                  f"{hardest[2]:.0%}.</p>", _image(_share_bars(tests), "share of students who passed each test"),
                  _share_table(graded, tests)]
    problems = [r for r in results if r.status != "ok"]
    parts.append("<h2>Submissions that could not be graded in full</h2>")
    parts.append("<p>None.</p>" if not problems else "<table><tr><th>student</th><th>status</th><th>why</th></tr>"
                 + "".join(f"<tr><td>{_link(r, feedback_names)}</td><td>{e(r.status)}</td><td>{e(r.message)}</td></tr>"
                           for r in problems) + "</table>")
    parts += ["<h2>Students</h2>", "<table><tr><th>student</th><th>score</th><th>status</th></tr>"
              + "".join(f"<tr><td>{_link(r, feedback_names)}</td><td>{_number(r.score)} / {_number(r.max_score)}"
                        f"</td><td>{e(r.status)}</td></tr>" for r in results) + "</table>"]
    return "\n".join(parts + ["</body></html>", ""])


STYLE = ("body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
         "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}"
         "img{max-width:100%}")


def _test_shares(graded):
    """(question id, test id, share of ``graded`` that passed it), in notebook order."""
    if not graded:
        return []
    return [(question.id, test.id, sum(_test(r, qi, ti).status == "pass" for r in graded) / len(graded))
            for qi, question in enumerate(graded[0].questions) for ti, test in enumerate(question.tests)]


def _test(result, question_index, test_index):
    return result.questions[question_index].tests[test_index]


def _share_table(graded, tests):
    e = html.escape
    rows = []
    for qi, question in enumerate(graded[0].questions):
        mean = sum(r.questions[qi].score for r in graded) / len(graded)
        rows.append(f"<tr><th><code>{e(question.id)}</code></th><th>mean {_number(mean)} / "
                    f"{_number(question.max_score)}</th>" + "".join(f"<th>{e(s)}</th>" for s in STATUSES) + "</tr>")
        for ti, test in enumerate(question.tests):
            counts = [sum(_test(r, qi, ti).status == s for r in graded) for s in STATUSES]
            share = next(share for q, t, share in tests if (q, t) == (question.id, test.id))
            rows.append(f"<tr><td><code>{e(test.id)}</code>{'' if test.visible else ' (hidden)'}</td>"
                        f"<td>{share:.0%} passed</td>" + "".join(f"<td>{c}</td>" for c in counts) + "</tr>")
    return "<table>" + "".join(rows) + "</table>"


def _link(result, feedback_names):
    name = feedback_names[result.student]
    return f"<a href=\"feedback/{quote(name)}.html\">{html.escape(result.student)}</a>"


def _median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _number(value):
    return f"{value:.3g}" if value != int(value) else f"{value:g}"


def _score_histogram(scores, max_score):
    fig, ax = _figure(6, 2.8)
    bins = min(20, max(1, int(max_score))) if max_score else 1
    ax.hist(scores, bins=bins, range=(0, max_score or 1), color="#4c72b0", edgecolor="white")
    ax.set(xlabel="score", ylabel="students")
    ax.yaxis.get_major_locator().set_params(integer=True)  # whole students
    return fig


def _share_bars(tests):
    fig, ax = _figure(6, 0.3 * len(tests) + 1)
    labels = [f"{question} / {test}" for question, test, _ in tests]
    shares = [share for _, _, share in tests]
    hardest = shares.index(min(shares))
    ax.barh(range(len(tests)), shares, color=["#c44e52" if i == hardest else "#4c72b0" for i in range(len(tests))])
    ax.set_yticks(range(len(tests)), labels)
    ax.invert_yaxis()  # notebook order, top to bottom
    ax.set(xlim=(0, 1), xlabel="share of students who passed")
    return fig


def _figure(width, height):
    from matplotlib.figure import Figure  # not pyplot: no global state, no display needed

    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.subplots()


def _image(fig, alt):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, metadata={"Software": None})  # no version stamp: same bytes
    data = base64.b64encode(buffer.getvalue()).decode()
    return f"<img alt=\"{alt}\" src=\"data:image/png;base64,{data}\">"
