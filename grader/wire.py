"""Plain-data messages between the grader and a student process.

Everything that crosses the process boundary is JSON plus raw ``.npy`` blobs,
never pickle: decoding plain data cannot run code, so nothing a student
returns can act inside the grader.  Both sides use this module; each supplies
its own rule for values that are not plain data (the student side turns them
into numbered handles, the grader side refuses them).

A message is ``[8-byte length][JSON header]`` followed by one
``[8-byte length][bytes]`` frame per blob the header refers to.
"""

import base64
import io
import json
import os
import select
import struct
import sys
import time

MAX_MESSAGE_BYTES = 256 * 2**20  # all of one message: the JSON header and its arrays
MAX_HEADER_BYTES = 16 * 2**20    # the JSON part alone (arrays travel as blobs)
MAX_ITEMS = 1_000_000            # values in one decoded message, so decoding stays fast
_LENGTH = struct.Struct("<Q")


class WireError(Exception):
    """The other side sent something that is not a well-formed message."""


def send(fd, header, blobs=(), deadline=None):
    """Write one message to a file descriptor; ``deadline`` as in :func:`recv`.

    With a deadline, a reader that stops reading (a pipe stays full) costs
    at most the time left, never a hang.
    """
    text = json.dumps(dict(header, blobs=len(blobs))).encode("utf-8", "surrogatepass")
    parts = [_LENGTH.pack(len(text)), text]
    for blob in blobs:
        parts += [_LENGTH.pack(len(blob)), blob]
    data = memoryview(b"".join(parts))
    if deadline is not None:
        os.set_blocking(fd, False)  # write what fits, wait for room until the deadline
    while data:
        try:
            data = data[os.write(fd, data):]
        except BlockingIOError:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([], [fd], [], left)[1]:
                raise TimeoutError("the other side stopped reading") from None


def recv(fd, deadline=None):
    """Read one message; ``deadline`` is a ``time.monotonic()`` value or None."""
    budget = [MAX_MESSAGE_BYTES]

    def frame(limit):
        size = _LENGTH.unpack(_read_exact(fd, _LENGTH.size, deadline))[0]
        if size > min(limit, budget[0]):
            raise WireError(f"message larger than {min(limit, MAX_MESSAGE_BYTES) // 2**20} MiB")
        budget[0] -= size
        return _read_exact(fd, size, deadline)

    try:
        header = json.loads(frame(MAX_HEADER_BYTES).decode("utf-8", "surrogatepass"))
    except (ValueError, RecursionError, MemoryError) as error:
        raise WireError(f"malformed message: {str(error)[:100]}") from None
    if type(header) is not dict or type(header.get("blobs")) is not int or not 0 <= header["blobs"] <= 10_000:
        raise WireError("malformed message header")
    return header, [frame(MAX_MESSAGE_BYTES) for _ in range(header["blobs"])]


def is_error_description(value):
    """Whether ``value`` describes an exception as a student process must: a type name, a flag, a text."""
    return (type(value) is dict and set(value) == {"type", "builtin", "message"}
            and type(value["type"]) is str and value["type"].isidentifier() and len(value["type"]) <= 100
            and type(value["builtin"]) is bool and type(value["message"]) is str and len(value["message"]) <= 4000)


def _read_exact(fd, size, deadline):
    chunks = []
    while size:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError("no answer in time")
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            raise EOFError("the other side closed the connection")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


# ---- values ---------------------------------------------------------------

_SCALARS = (type(None), bool, int, float, str)
_SET_TAGS = {set: "$set", frozenset: "$frozenset"}


def encode(value, blobs, other, depth=0):
    """Turn ``value`` into JSON-ready data, appending arrays to ``blobs``.

    Only exact built-in types count as plain: a subclass of ``int`` or ``str``
    may carry a rigged ``__eq__``, so it goes to ``other`` like any object.
    """
    if depth > 100:
        raise ValueError("value is nested too deeply")
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is list:
        return [encode(item, blobs, other, depth + 1) for item in value]
    if kind is tuple:
        return {"$tuple": [encode(item, blobs, other, depth + 1) for item in value]}
    if kind in (set, frozenset):
        return {_SET_TAGS[kind]: [encode(item, blobs, other, depth + 1) for item in value]}
    if kind is dict:
        return {"$dict": [[encode(k, blobs, other, depth + 1), encode(v, blobs, other, depth + 1)]
                          for k, v in value.items()]}
    if kind is bytes:
        return {"$bytes": base64.b64encode(value).decode("ascii")}
    numpy = sys.modules.get("numpy")
    if numpy is not None and kind is numpy.ndarray and not value.dtype.hasobject:
        return {"$array": _add_blob(blobs, value)}
    if numpy is not None and isinstance(value, numpy.generic) and not value.dtype.hasobject:
        return {"$scalar": _add_blob(blobs, numpy.asarray(value))}
    return other(value, blobs)


def _add_blob(blobs, array):
    buffer = io.BytesIO()
    sys.modules["numpy"].save(buffer, array, allow_pickle=False)
    blobs.append(buffer.getvalue())
    return len(blobs) - 1


def decode(data, blobs, tagged, depth=0, budget=None):
    """Inverse of :func:`encode`; ``tagged(tag, payload, decode)`` handles
    the tags a side adds itself (handles, tensors).

    The other side's data is checked as it is read: every container must have
    the shape :func:`encode` gives it, and one message holds at most
    ``MAX_ITEMS`` values, so a crafted message cannot make decoding slow.
    """
    budget = [MAX_ITEMS] if budget is None else budget
    budget[0] -= 1
    if budget[0] < 0:
        raise WireError(f"value has more than {MAX_ITEMS:,} parts")
    if depth > 100:
        raise WireError("value is nested too deeply")
    if type(data) in _SCALARS:
        return data

    def inner(item):
        return decode(item, blobs, tagged, depth + 1, budget)

    if type(data) is list:
        return [inner(item) for item in data]
    if type(data) is not dict or len(data) not in (1, 2):
        raise WireError("unknown value")
    tag = next(iter(data))
    payload = data[tag]
    if tag in ("$tuple", "$set", "$frozenset", "$dict", "$bytes", "$array", "$scalar") and len(data) != 1:
        raise WireError(f"malformed {tag}")
    if tag == "$tuple" and type(payload) is list:
        return tuple(inner(item) for item in payload)
    if tag in ("$set", "$frozenset") and type(payload) is list:
        items = [inner(item) for item in payload]
        try:
            return (set if tag == "$set" else frozenset)(items)
        except TypeError:
            raise WireError(f"a {tag[1:]} holds an unhashable value") from None
    if tag == "$dict" and type(payload) is list and all(type(p) is list and len(p) == 2 for p in payload):
        return {inner(k): inner(v) for k, v in payload}
    if tag == "$bytes" and type(payload) is str:
        return base64.b64decode(payload, validate=True)
    if tag == "$array":
        return _load_blob(blobs, payload)
    if tag == "$scalar":
        array = _load_blob(blobs, payload)
        if array.shape != ():
            raise WireError("a scalar must have no dimensions")
        return array[()]
    if tag in ("$tuple", "$set", "$frozenset", "$dict", "$bytes"):
        raise WireError(f"malformed {tag}")
    return tagged(tag, data, inner)


def _load_blob(blobs, index):
    import numpy

    if type(index) is not int or not 0 <= index < len(blobs):
        raise WireError("bad array reference")
    try:
        return numpy.load(io.BytesIO(blobs[index]), allow_pickle=False)
    except Exception as error:  # whatever a crafted .npy makes NumPy raise
        raise WireError(f"bad array: {str(error)[:100]}") from None
