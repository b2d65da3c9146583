"""Confine the current process with Linux Landlock (no root needed).

After :func:`restrict` the process (and every process it starts) can use
only the listed paths, each with its own rights (read a tree, write a tree,
read or write one file or device), open no TCP connections, connect to
no abstract Unix socket, and signal or ptrace no process outside its own
sandbox; it cannot mount anything either.  This is what keeps the source
notebook, hidden tests, other students' work, raw disks and the grader's own
files out of reach of student code.  See the kernel's
``Documentation/userspace-api/landlock.rst``.
"""

import ctypes
import os
import struct

_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446  # same on every architecture
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR, TRUNCATE = 1 << 0, 1 << 1, 1 << 2, 1 << 3, 1 << 14
_FILE_ONLY = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | (1 << 15)  # + ioctl_dev
RIGHTS = {  # what a rule may grant, by name
    "read": EXECUTE | READ_FILE | READ_DIR,  # a tree: read and run its files, list its folders
    "read-file": READ_FILE,                  # one file or device, read only
    "use-file": READ_FILE | WRITE_FILE | TRUNCATE,  # one file or device, read and write (/dev/null)
    "write": (1 << 16) - 1,                  # a tree: everything (the scratch folder)
}


def _fs_rights(abi):
    """Every filesystem right this kernel knows, so all of them are denied by default."""
    bits = (1 << 13) - 1  # ABI 1: execute .. make_sym
    if abi >= 2:
        bits |= 1 << 13  # refer
    if abi >= 3:
        bits |= 1 << 14  # truncate
    if abi >= 5:
        bits |= 1 << 15  # ioctl_dev
    return bits


_libc = ctypes.CDLL(None, use_errno=True)


def _syscall(number, *args):
    result = _libc.syscall(number, *args)
    if result < 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))
    return result


def abi_version():
    """Landlock ABI of this kernel, or 0 where Landlock is missing."""
    try:
        return _syscall(_CREATE_RULESET, None, ctypes.c_size_t(0), _CREATE_RULESET_VERSION)
    except (OSError, AttributeError):
        return 0


def restrict(rules):
    """Allow ``rules`` (``(path, right)`` pairs, rights named as in RIGHTS); deny the rest.

    Raises OSError where the kernel has no Landlock.
    """
    abi = abi_version()
    if abi < 1:
        raise OSError("Landlock is not available on this kernel")
    everything = _fs_rights(abi)
    attr = struct.pack("<Q", everything)
    if abi >= 4:
        attr += struct.pack("<Q", 0b11)  # bind and connect TCP: no rule grants them
    if abi >= 6:
        attr += struct.pack("<Q", 0b11)  # scope abstract unix sockets and signals
    buffer = ctypes.create_string_buffer(attr, len(attr))
    ruleset = _syscall(_CREATE_RULESET, buffer, ctypes.c_size_t(len(attr)), 0)
    try:
        for path, right in rules:
            _allow(ruleset, path, RIGHTS[right] & everything)
        _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        _syscall(_RESTRICT_SELF, ruleset, 0)
    finally:
        os.close(ruleset)


def _allow(ruleset, path, rights):
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # a path that does not exist needs no rule
    try:
        if not os.path.isdir(path):
            rights &= _FILE_ONLY
        if not rights:
            return
        rule = ctypes.create_string_buffer(struct.pack("<Qi", rights, fd), 12)
        _syscall(_ADD_RULE, ruleset, _RULE_PATH_BENEATH, rule, 0)
    finally:
        os.close(fd)
