"""The student process: runs untrusted notebook code and answers questions about it.

It first locks itself down (own user namespace, resource limits, Landlock),
then runs cells in an IPython shell and serves requests from the grader:
call this function, read that attribute.  Every answer is plain data; any
other object stays here and is sent as a numbered handle.  Nothing it says
is trusted: the grader only compares the plain values it receives.
"""

import base64
import ctypes
import importlib
import os
import random
import resource
import sys

from grader import landlock, seccomp, wire

_CLONE_NEWUSER, _CLONE_NEWNET, _CLONE_NEWIPC = 0x10000000, 0x40000000, 0x08000000
_INLINE_BYTES = 4 * 2**20  # bigger arrays stay here as handles, converted on demand


def lock_down(config):
    """Apply the limits in ``config``; return a note on what could not be applied."""
    notes = []
    # Own user namespace: its own process count, so RLIMIT_NPROC caps this tree alone (and
    # the grader can find every member).  Own network namespace: no network at all, and none
    # of the host's abstract Unix sockets.  Own IPC namespace: no System V or POSIX message
    # queues shared with anyone, and none left behind.
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET | _CLONE_NEWIPC) != 0:
        notes.append("no network namespace: UDP and the host's abstract sockets reachable")
        if libc.unshare(_CLONE_NEWUSER) != 0:
            notes.append("no user namespace: process limit shared with the user")
    memory = config["address_space_bytes"]
    for limit, value in [(resource.RLIMIT_AS, memory), (resource.RLIMIT_NPROC, config["max_processes"]),
                         (resource.RLIMIT_FSIZE, config["max_file_bytes"]), (resource.RLIMIT_CORE, 0),
                         (resource.RLIMIT_MSGQUEUE, 0)]:
        resource.setrlimit(limit, (value, value))
    try:
        landlock.restrict(config["rules"])
    except OSError as error:
        notes.append(f"filesystem not confined ({error})")
    try:
        if config["seccomp"] is None:
            raise OSError(config["seccomp_note"])
        seccomp.install(base64.b64decode(config["seccomp"]))
    except OSError as error:
        notes.append(f"system calls not filtered ({error})")
    return "; ".join(notes)


class Server:
    """Answers the grader's requests; one instance per student process."""

    def __init__(self, requests_fd, replies_fd):
        self.requests, self.replies = requests_fd, replies_fd
        self.handles = {}
        self.shell = None

    def serve(self):
        while True:
            try:
                header, blobs = wire.recv(self.requests)
            except KeyboardInterrupt:
                continue  # a late interrupt meant for a finished request
            except EOFError:
                return
            try:
                out = []
                value = getattr(self, "op_" + header["op"])(header, blobs, out)
                reply = {"ok": True, "value": value}
            except BaseException as error:  # student code can raise anything
                out = []
                reply = {"ok": False, "error": describe(error)}
            reply["id"] = header.get("id")
            try:
                wire.send(self.replies, reply, out)
            except KeyboardInterrupt:
                wire.send(self.replies, dict(reply, ok=False, error=describe(KeyboardInterrupt())), [])

    # ---- requests ------------------------------------------------------------

    def op_init(self, header, blobs, out):
        note = lock_down(header["config"])
        from IPython.core.interactiveshell import InteractiveShell
        from traitlets.config import Config

        config = Config()
        config.HistoryManager.enabled = False
        config.InteractiveShell.colors = "nocolor"  # tracebacks go to a plain-text log
        self.shell = InteractiveShell.instance(config=config)
        return note

    def op_run(self, header, blobs, out):
        """Run one cell as IPython would; report its error, if any."""
        result = self.shell.run_cell(header["code"], store_history=False)
        error = result.error_before_exec or result.error_in_exec
        return None if error is None else self.encode(describe(error), out)

    def op_seed(self, header, blobs, out):
        seed = header["seed"]
        random.seed(seed)
        for name, seeder in [("numpy", lambda m: m.random.seed(seed)),
                             ("mindspore", lambda m: m.set_seed(seed))]:
            if name in sys.modules:
                seeder(sys.modules[name])

    def op_names(self, header, blobs, out):
        """The values of the global names the grader asks for (those that exist), as values or handles."""
        namespace = self.shell.user_ns
        return {"$dict": [[name, self.encode(namespace[name], out, inline_limit=_INLINE_BYTES)]
                          for name in header["names"] if name in namespace]}

    def op_call(self, header, blobs, out):
        args = self.decode(header["args"], blobs)
        kwargs = self.decode(header["kwargs"], blobs)
        return self.encode(self.target(header)(*args, **kwargs), out)

    def op_getattr(self, header, blobs, out):
        return self.encode(getattr(self.target(header), header["name"]), out)

    def op_setattr(self, header, blobs, out):
        setattr(self.target(header), header["name"], self.decode(header["value"], blobs))

    def op_getitem(self, header, blobs, out):
        return self.encode(self.target(header)[self.decode(header["key"], blobs)], out)

    def op_len(self, header, blobs, out):
        return int(len(self.target(header)))

    def op_list(self, header, blobs, out):
        return self.encode(list(self.target(header)), out)

    def op_value(self, header, blobs, out):
        return self.encode(self.target(header), out)

    def op_repr(self, header, blobs, out):
        return str(repr(self.target(header)))[:2000]

    # ---- values ---------------------------------------------------------------

    def target(self, header):
        return self.handles[header["handle"]]

    def encode(self, value, out, inline_limit=None):
        def other(obj, blobs):
            if inline_limit is None or _nbytes(obj) <= inline_limit:
                if callable(getattr(obj, "asnumpy", None)) and not isinstance(obj, type):
                    import numpy

                    array = numpy.asarray(obj.asnumpy())
                    if not array.dtype.hasobject:  # a real tensor's numbers; anything else stays a handle
                        return {"$tensor": wire.encode(array, blobs, self.handle), "type": _type_name(obj)}
            return self.handle(obj, blobs)

        if inline_limit is not None and _nbytes(value) > inline_limit:
            return self.handle(value, out)
        return wire.encode(value, out, other)

    def handle(self, obj, blobs):
        key = len(self.handles)
        self.handles[key] = obj
        return {"$handle": key, "type": _type_name(obj)}

    def decode(self, data, blobs):
        def tagged(tag, data, inner):
            if tag == "$handle":
                return self.handles[data["$handle"]]
            if tag == "$tensor":  # the grader sent a tensor: rebuild its type here
                module, _, name = data["type"].partition(":")
                cls = importlib.import_module(module)
                for part in name.split("."):
                    cls = getattr(cls, part)
                return cls(inner(data["$tensor"]))
            raise wire.WireError(f"unknown tag {tag}")

        return wire.decode(data, blobs, tagged)


def _nbytes(value):
    try:
        size = getattr(value, "nbytes", 0)
        return size if type(size) is int else 0
    except Exception:
        return 0


def _type_name(obj):
    cls = obj if isinstance(obj, type) else type(obj)
    return f"{getattr(cls, '__module__', '?')}:{getattr(cls, '__qualname__', '?')}"


def describe(error):
    """An exception as plain data: its class name, whether that is a builtin, and its text."""
    cls = type(error)
    try:
        message = str(error)
    except BaseException:
        message = "<unprintable message>"
    return {"type": str(cls.__name__), "builtin": cls.__module__ == "builtins", "message": message[:2000]}


def main(requests_fd, replies_fd):
    Server(requests_fd, replies_fd).serve()
    os._exit(0)
