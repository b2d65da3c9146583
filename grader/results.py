"""What grading finds: results per test, per question and per submission, as plain data.

``grades.json`` is ``SubmissionResult.to_dict()`` for each student; the
gradebook, feedback and Gradescope files are written from these
(:mod:`grader.feedback`), and ``merge-manual`` reads it back
(:meth:`SubmissionResult.from_dict`) to add the scores a person gave.
"""

from dataclasses import asdict, dataclass, field

STATUSES = ("pass", "partial", "fail", "error", "timeout", "memory")  # partial: some of its points


@dataclass
class TestResult:
    id: str
    visible: bool         # the student can see (part of) this test
    hidden: bool          # the test has hidden parts
    points: float
    max_points: float
    status: str           # one of STATUSES
    message: str = ""
    hints: tuple = ()


@dataclass
class QuestionResult:
    id: str
    score: float
    max_score: float
    message: str
    tests: list
    manual: bool = False  # graded by a person (grader.manual): no tests, score from the review sheet
    answer: str = ""      # a manually graded answer as the student wrote it, for the review sheet
    pending: bool = False  # a manually graded question that no person has scored yet (0 points until then)


@dataclass
class SubmissionResult:
    student: str
    assignment: str
    status: str           # ok, invalid, timeout, memory, crashed, error
    message: str
    questions: list = field(default_factory=list)
    log: str = ""         # the start of the student process's output

    @property
    def score(self):
        return sum(q.score for q in self.questions)

    @property
    def max_score(self):
        return sum(q.max_score for q in self.questions)

    def to_dict(self):
        return dict(asdict(self), score=self.score, max_score=self.max_score)

    @classmethod
    def from_dict(cls, data):
        """The result that ``to_dict`` wrote (``grades.json``); raises KeyError or TypeError if it is not one."""
        questions = [QuestionResult(**dict(q, tests=[TestResult(**dict(t, hints=tuple(t["hints"])))
                                                     for t in q["tests"]]))
                     for q in data["questions"]]
        return cls(data["student"], data["assignment"], data["status"], data["message"], questions, data["log"])


GRADED = "graded by hand"  # the message of a manually graded question once a person scored it
PENDING = f"{GRADED}: not graded yet"


def manual_result(question, answer="", message=PENDING):
    """A manually graded question before a person has scored it."""
    return QuestionResult(question.id, 0.0, question.points, message, [], manual=True, answer=answer, pending=True)


def test_result(test, status, message="", hints=(), points=None):
    """The result of ``test``; ``points`` is given for partial credit, else full for a pass, 0 otherwise."""
    points = points if points is not None else test.points if status == "pass" else 0.0
    return TestResult(test.id, test.is_visible, test.has_hidden, points, test.points, status, message, hints)
