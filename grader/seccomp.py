"""Deny the system calls that reach past Landlock, with a seccomp filter (no root needed).

Landlock confines files, TCP and abstract sockets.  What it leaves open on
the kernels we meet, a student process does not need:

* Unix sockets by path (``socket(AF_UNIX, ...)``): connecting to a local
  service's socket (a Docker socket would hand over the machine).  Landlock
  has no right for that on the kernels we have met (6.18 included).  Stream
  socket pairs stay allowed (``multiprocessing.Pipe`` uses them; they connect
  nowhere else); datagram pairs could send to a path.
* Shared memory outside the process (``memfd_create``, System V ``shmget``):
  the memory cap counts what processes map, and such memory can be held
  without being mapped, or outlive the process.
* io_uring, whose operations (open a socket, connect) bypass this filter;
  ``bpf``, ``perf_event_open``, ``userfaultfd`` and the kernel keyrings, which
  graders never need and which have a long record of kernel bugs;
  ``ptrace`` and cross-process memory calls (Landlock also scopes these).

Denied calls fail with ``EPERM`` (``EACCES`` for sockets), as a locked-down
system would answer, so a library that probes for them carries on.

The grader builds the filter once with libseccomp (through ``pyseccomp``,
which takes a while to load) and hands the compiled program to each student
process, which only installs it.
"""

import ctypes
import errno
import functools
import socket
import tempfile

DENIED = ("memfd_create", "memfd_secret", "shmget", "io_uring_setup", "io_uring_enter", "io_uring_register",
          "bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key", "ptrace",
          "process_vm_readv", "process_vm_writev", "kcmp")
_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 38, 22, 2


@functools.cache
def program():
    """The filter as a compiled BPF program (bytes), built in the grader; raises OSError if impossible."""
    try:
        import pyseccomp as seccomp
    except (ImportError, RuntimeError, OSError) as error:  # RuntimeError: libseccomp.so missing
        raise OSError(f"seccomp unavailable ({error})") from None
    rules = seccomp.SyscallFilter(seccomp.ALLOW)
    rules.add_rule(seccomp.ERRNO(errno.EACCES), "socket", seccomp.Arg(0, seccomp.EQ, socket.AF_UNIX))
    for kind in (socket.SOCK_DGRAM, socket.SOCK_SEQPACKET):
        rules.add_rule(seccomp.ERRNO(errno.EACCES), "socketpair", seccomp.Arg(0, seccomp.EQ, socket.AF_UNIX),
                       seccomp.Arg(1, seccomp.MASKED_EQ, 0xF, kind))  # the type's low bits; the rest are flags
    for name in DENIED:
        try:
            rules.add_rule(seccomp.ERRNO(errno.EPERM), name)
        except (OSError, ValueError, RuntimeError):
            pass  # a call this kernel or architecture does not have needs no rule
    with tempfile.TemporaryFile() as file:
        rules.export_bpf(file)
        file.seek(0)
        return file.read()


class _Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install(compiled):
    """Load a program made by :func:`program` into this process and every process it starts."""
    libc = ctypes.CDLL(None, use_errno=True)
    code = ctypes.create_string_buffer(compiled, len(compiled))
    filter_program = _Program(len(compiled) // 8, ctypes.addressof(code))  # 8 bytes per BPF instruction
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or \
            libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(filter_program), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "seccomp filter not loaded")
