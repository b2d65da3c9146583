"""Student values as the grader's tests see them.

Tests run in the grader process.  A student's name is either a plain value
(rebuilt here from JSON/.npy, so its ``==`` is Python's or NumPy's own) or a
:class:`Remote` handle whose calls and attribute reads are forwarded to the
student process, each answer again plain data or another handle.  Tensors
(anything with ``.asnumpy()``) arrive as :class:`TensorValue` arrays.
"""

import builtins

import numpy

from . import wire
from .sandbox import RemoteError, SandboxError


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


def ask(sandbox, op, **fields):
    """One request to the student process, with arguments and result as plain data."""
    blobs = []
    encoded = {key: encode(value, blobs) for key, value in fields.items() if key not in ("handle", "name")}
    fields.update(encoded)
    try:
        data, reply_blobs = sandbox.request(op, blobs=blobs, **fields)
    except RemoteError as error:
        raise remote_exception(error.info) from None
    return decode(sandbox, data, reply_blobs)


def namespace(sandbox):
    """The student's global names, ready to be a test's globals."""
    return ask(sandbox, "names")


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
    def tagged(tag, data, load):
        if tag == "$handle" and type(data["$handle"]) is int and type(data.get("type")) is str:
            return Remote(sandbox, data["$handle"], data["type"])
        if tag == "$tensor":
            array = wire.decode(data["$tensor"], blobs, tagged)
            if not isinstance(array, numpy.ndarray):
                raise wire.WireError("a tensor must be an array")
            return array.view(TensorValue)
        raise wire.WireError(f"unknown value tag {tag!r}")

    try:
        return wire.decode(data, blobs, tagged)
    except (wire.WireError, TypeError, ValueError, KeyError, RecursionError) as error:
        sandbox.kill()
        raise SandboxError("error", f"student process sent a malformed value ({error})") from None


_remote_classes = {}


def remote_exception(info):
    """An exception a test can catch as the builtin type the student's code raised.

    Only builtin exception classes are rebuilt (by name); anything else
    becomes a plain StudentError, so no student class is ever created here.
    """
    base = getattr(builtins, info["type"], None)
    if not (info.get("builtin") and isinstance(base, type) and issubclass(base, Exception)):
        base = Exception
    if base not in _remote_classes:
        _remote_classes[base] = type("Student" + base.__name__, (StudentError, base), {})
    error = _remote_classes[base](f"{info['type']}: {info['message']}")
    error.info = info
    return error


class StudentError(Exception):
    """Raised in a test when the student's code raised; ``info`` has its type and message."""
