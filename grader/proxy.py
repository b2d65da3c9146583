"""Student values as the grader's tests see them.

Tests run in the grader process.  A student's name is either a plain value
(rebuilt here from JSON/.npy, so its ``==`` is Python's or NumPy's own) or a
:class:`Remote` handle whose calls and attribute reads are forwarded to the
student process, each answer again plain data or another handle.  Tensors
(anything with ``.asnumpy()``) arrive as :class:`TensorValue` arrays.
"""

import numpy

from . import wire
from .sandbox import RemoteError


class TensorValue(numpy.ndarray):
    """A NumPy array that came from a student's tensor; ``.asnumpy()`` still works."""

    def asnumpy(self):
        return numpy.asarray(self)


class Remote:
    """A handle to an object living in the student process."""

    __slots__ = ("_sandbox", "_handle", "_type")

    def __init__(self, sandbox, handle, type_name):
        object.__setattr__(self, "_sandbox", sandbox)
        object.__setattr__(self, "_handle", handle)
        object.__setattr__(self, "_type", type_name)

    def _ask(self, op, **fields):
        return ask(self._sandbox, op, handle=self._handle, **fields)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return self._ask("getattr", name=name)

    def __setattr__(self, name, value):
        self._ask("setattr", name=name, value=value)

    def __call__(self, *args, **kwargs):
        return self._ask("call", args=list(args), kwargs=kwargs)

    def __getitem__(self, key):
        return self._ask("getitem", key=key)

    def __len__(self):
        return self._ask("len")

    def __iter__(self):
        return iter(self._ask("list"))

    def __array__(self, dtype=None, copy=None):
        value = self._ask("value")
        if isinstance(value, Remote):
            raise TypeError(f"a {value._type} from student code is not an array")
        return numpy.asarray(value, dtype=dtype)

    def __bool__(self):
        raise TypeError(f"a {self._type} from student code has no truth value here; compare plain values")

    def __repr__(self):
        return f"<student {self._type}: {self._ask('repr')}>"


# What each request's answer must be; anything else means the student process is not the one we started.
_EXPECTED = {
    "len": (lambda value: type(value) is int and value >= 0, "a length"),
    "list": (lambda value: type(value) is list, "a list"),
    "repr": (lambda value: type(value) is str and len(value) <= 10_000, "a short text"),
    "seed": (lambda value: value is None, "nothing"),
    "run": (lambda value: value is None or wire.is_error_description(value), "nothing or an error"),
}
_PLAIN_FIELDS = ("handle", "name", "names", "code", "seed")  # sent as they are: the grader's own values


def ask(sandbox, op, **fields):
    """One request to the student process, with arguments and result as plain data."""
    blobs = []
    encoded = {key: encode(value, blobs) for key, value in fields.items() if key not in _PLAIN_FIELDS}
    fields.update(encoded)
    try:
        data, reply_blobs = sandbox.request(op, blobs=blobs, **fields)
    except RemoteError as error:
        raise remote_exception(error.info) from None
    value = decode(sandbox, data, reply_blobs)
    check, what = _EXPECTED.get(op, (None, ""))
    if check is not None and not check(value):
        raise _malformed(sandbox, f"the answer to {op!r} is not {what}")
    return value


def names(sandbox, wanted):
    """The student's values for the names in ``wanted`` that it defines, and nothing else."""
    found = ask(sandbox, "names", names=list(wanted))
    if type(found) is not dict or not set(found) <= set(wanted):
        raise _malformed(sandbox, "it reported names that were not asked for")
    return found


def _malformed(sandbox, why):
    return sandbox.die("error", f"student process sent a malformed answer ({why})")


def encode(value, blobs):
    def other(obj, blobs):
        if isinstance(obj, Remote):
            return {"$handle": obj._handle}
        if isinstance(obj, TensorValue):
            return wire.encode(numpy.asarray(obj), blobs, other)
        if callable(getattr(obj, "asnumpy", None)):  # a tensor the test built: rebuilt as its type there
            cls = type(obj)
            return {"$tensor": wire.encode(numpy.asarray(obj.asnumpy()), blobs, other),
                    "type": f"{cls.__module__}:{cls.__qualname__}"}
        raise TypeError(f"cannot pass a {type(obj).__name__} to student code")

    return wire.encode(value, blobs, other)


def decode(sandbox, data, blobs):
    def tagged(tag, data, inner):
        if tag == "$handle" and type(data["$handle"]) is int and type(data.get("type")) is str \
                and len(data["type"]) <= 300:
            return Remote(sandbox, data["$handle"], data["type"])
        if tag == "$tensor" and type(data.get("type")) is str:
            array = inner(data["$tensor"])
            if type(array) is not numpy.ndarray:
                raise wire.WireError("a tensor must be an array")
            return array.view(TensorValue)
        raise wire.WireError(f"unknown value tag {tag[:20]!r}")

    try:
        return wire.decode(data, blobs, tagged)
    except (wire.WireError, TypeError, ValueError, KeyError, RecursionError, MemoryError) as error:
        raise _malformed(sandbox, str(error)[:200]) from None


class StudentError(Exception):
    """Raised in a test when the student's code raised; ``info`` has its type and message.

    It is the grader's own class, so nothing of the student's is ever created
    here; for the common error types it is also an instance of the builtin
    type of the same name, so ``except ValueError`` in a test still works.
    """

    def __str__(self):
        return self.args[0] if self.args else ""


# The types a test may catch by name.  Never control-flow types (StopIteration would end a
# test's map() or zip() early; GeneratorExit, KeyboardInterrupt and SystemExit steer the
# interpreter) nor the ones the grader raises about itself (TimeoutError, MemoryError, RecursionError).
CATCHABLE = {cls.__name__: cls for cls in (
    ValueError, TypeError, KeyError, IndexError, LookupError, ArithmeticError, ZeroDivisionError, OverflowError,
    FloatingPointError, NotImplementedError, RuntimeError, AssertionError, AttributeError, NameError,
    UnboundLocalError, ImportError, ModuleNotFoundError, OSError, FileNotFoundError, PermissionError, UnicodeError)}
_classes = {name: type("Student" + name, (StudentError, cls), {}) for name, cls in CATCHABLE.items()}


def remote_exception(info):
    """The StudentError for an exception the student's code raised (``info`` is its plain description)."""
    cls = _classes.get(info["type"], StudentError) if info["builtin"] else StudentError
    error = cls(f"{info['type']}: {info['message']}")
    error.info = info
    return error
