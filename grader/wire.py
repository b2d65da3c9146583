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

MAX_MESSAGE_BYTES = 256 * 2**20
_LENGTH = struct.Struct("<Q")


class WireError(Exception):
    """The other side sent something that is not a well-formed message."""


def send(fd, header, blobs=()):
    """Write one message to a file descriptor."""
    text = json.dumps(dict(header, blobs=len(blobs))).encode("utf-8", "surrogatepass")
    parts = [_LENGTH.pack(len(text)), text]
    for blob in blobs:
        parts += [_LENGTH.pack(len(blob)), blob]
    data = memoryview(b"".join(parts))
    while data:
        data = data[os.write(fd, data):]


def recv(fd, deadline=None):
    """Read one message; ``deadline`` is a ``time.monotonic()`` value or None."""
    budget = [MAX_MESSAGE_BYTES]

    def frame():
        size = _LENGTH.unpack(_read_exact(fd, _LENGTH.size, deadline))[0]
        if size > budget[0]:
            raise WireError(f"message larger than {MAX_MESSAGE_BYTES // 2**20} MiB")
        budget[0] -= size
        return _read_exact(fd, size, deadline)

    try:
        header = json.loads(frame().decode("utf-8", "surrogatepass"))
    except (ValueError, RecursionError) as error:
        raise WireError(f"malformed message: {error}") from None
    if not isinstance(header, dict) or not isinstance(header.get("blobs"), int):
        raise WireError("malformed message header")
    return header, [frame() for _ in range(header["blobs"])]


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


def decode(data, blobs, tagged, depth=0):
    """Inverse of :func:`encode`; ``tagged(tag, payload, array)`` handles
    the tags a side adds itself (handles, tensors)."""
    if depth > 100:
        raise WireError("value is nested too deeply")
    if type(data) in _SCALARS:
        return data
    if type(data) is list:
        return [decode(item, blobs, tagged, depth + 1) for item in data]
    if type(data) is not dict or len(data) not in (1, 2):
        raise WireError("unknown value")
    tag = next(iter(data))
    payload = data[tag]
    if tag == "$tuple":
        return tuple(decode(item, blobs, tagged, depth + 1) for item in payload)
    if tag == "$dict":
        return {decode(k, blobs, tagged, depth + 1): decode(v, blobs, tagged, depth + 1)
                for k, v in payload}
    if tag == "$bytes":
        return base64.b64decode(payload)
    if tag == "$array":
        return _load_blob(blobs, payload)
    if tag == "$scalar":
        return _load_blob(blobs, payload)[()]
    return tagged(tag, data, lambda index: _load_blob(blobs, index))


def _load_blob(blobs, index):
    import numpy

    if type(index) is not int or not 0 <= index < len(blobs):
        raise WireError("bad array reference")
    try:
        return numpy.load(io.BytesIO(blobs[index]), allow_pickle=False)
    except ValueError as error:
        raise WireError(f"bad array: {error}") from None
