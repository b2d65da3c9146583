"""Start, watch and kill the student process of one submission.

The grader side of :mod:`grader.student`: it launches the process with a
scrubbed environment in an empty scratch directory, sends requests with
deadlines, and a watchdog thread kills the whole process tree when it
exceeds its memory cap or the submission's total time.
"""

import base64
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from dataclasses import dataclass

from . import seccomp, wire
from .notebook import EXECUTION_VARIABLE, copy_read_only

GRADER_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SYSTEM_READ_PATHS = ["/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/proc", "/sys", "/opt"]
# Of /etc only what the dynamic loader, fonts (matplotlib) and time zones need: a root grader's
# student must not read /etc/shadow or host keys (its files are "its own" to a process run as root).
ETC_READ_PATHS = ["/etc/ld.so.cache", "/etc/ld.so.preload", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/fonts",
                  "/etc/localtime", "/etc/timezone", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf",
                  "/etc/os-release", "/etc/mime.types", "/etc/matplotlibrc"]
# /dev is read-only except these: a raw disk or loop device opened by a root grader's student
# would give away every file, and a writable /dev (or /dev/shm) lets one student break the next.
DEVICE_RULES = [("/dev/null", "use-file"), ("/dev/zero", "use-file"), ("/dev/full", "use-file"),
                ("/dev/random", "read-file"), ("/dev/urandom", "read-file")]
_BOOT = "import sys; sys.path[0] = sys.argv[1]; from grader.student import main; main(int(sys.argv[2]), int(sys.argv[3]))"


@dataclass(frozen=True)
class Limits:
    """Resource limits for one submission's student process."""

    cell_timeout: float = 60.0      # seconds for one cell or one call from a test
    total_timeout: float = 600.0    # seconds for the whole submission
    memory_mb: int = 2048           # resident memory of the process tree
    max_processes: int = 256        # processes and threads (MindSpore starts dozens)
    max_output_kb: int = 64         # stdout/stderr kept for the instructor
    disk_mb: int = 1024             # files in the scratch folder (on a tmpfs /tmp they are memory)
    # Where this machine cannot confine the process in full (no user or network namespace,
    # no Landlock, no system-call filter), strict refuses to run student code at all; the
    # default runs it with what could be applied and says what could not (docs/grader.md).
    strict: bool = False


class SandboxError(Exception):
    """The student process can no longer answer; ``status`` says why."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status  # "timeout", "memory" or "error"


class RemoteError(Exception):
    """Student code raised an exception; carries its plain description."""

    def __init__(self, info):
        super().__init__(f"{info['type']}: {info['message']}")
        self.info = info


class Sandbox:
    def __init__(self, limits=Limits(), read_paths=(), files=None):
        """Start the student process; ``files`` ({relative path: source}) are copied, read-only,
        into its folder first: the data files a lesson ships with."""
        self.limits = limits
        self.scratch = tempfile.mkdtemp(prefix="grader-scratch-")
        copy_read_only(files or {}, self.scratch)
        self.deadline = time.monotonic() + limits.total_timeout
        self.dead = None  # SandboxError once the process is gone
        self.output = bytearray()
        self.next_id = 0
        to_child, self.requests = os.pipe()
        self.replies, from_child = os.pipe()
        self.process = subprocess.Popen(
            [sys.executable, "-s", "-B", "-u", "-c", _BOOT, GRADER_PARENT, str(to_child), str(from_child)],
            cwd=self.scratch, env=self._environment(), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, pass_fds=(to_child, from_child),
            start_new_session=True)
        os.close(to_child)
        os.close(from_child)
        # Student code runs only after "init", so joining the cgroup here is race-free.
        self.cgroup = _process_cgroup(self.process.pid, limits.max_processes)
        self.user_namespace = None
        self.drainer = threading.Thread(target=self._drain, daemon=True)
        self.drainer.start()
        note = self.request("init", config=self._config(read_paths))[0]  # before any student code ran
        self.note = note[:500] if type(note) is str else ""
        if self.note and limits.strict:
            self.close()
            raise SandboxError("refused", f"not graded: strict confinement, and this machine could not apply "
                                          f"all of it ({self.note})")
        own = _namespace_of(self.process.pid)
        self.user_namespace = own if own != _namespace_of(os.getpid()) else None
        threading.Thread(target=self._watch, daemon=True).start()

    def _environment(self):
        env = {"HOME": self.scratch, "TMPDIR": self.scratch, "IPYTHONDIR": os.path.join(self.scratch, ".ipython"),
               "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0",
               "PYTHONIOENCODING": "utf-8:backslashreplace", "MPLBACKEND": "Agg", "GLOG_v": "3",
               "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               # nbgrader's signal that a notebook is being graded (e.g. to skip long training)
               EXECUTION_VARIABLE: "autograde"}
        # Some CPUs need these for OpenBLAS to compute correctly; they carry no secrets.
        env.update({k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ})
        return env

    def _config(self, read_paths):
        paths = SYSTEM_READ_PATHS + [sys.prefix, sys.base_prefix, sys.exec_prefix,
                                     os.path.dirname(os.path.realpath(sys.executable)),
                                     sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"],
                                     os.path.join(GRADER_PARENT, "grader")] + list(read_paths)
        rules = [(path, "read") for path in sorted(set(paths + ETC_READ_PATHS))] + DEVICE_RULES
        try:
            syscalls, why = base64.b64encode(seccomp.program()).decode("ascii"), ""
        except OSError as error:
            syscalls, why = None, str(error)
        return {"rules": rules + [(self.scratch, "write")], "seccomp": syscalls, "seccomp_note": why,
                # Address space is a backstop for instant huge allocations; MindSpore
                # alone reserves over 2 GiB of it, so the real cap is resident memory.
                "address_space_bytes": (self.limits.memory_mb + 6144) * 2**20,
                "max_processes": self.limits.max_processes, "max_file_bytes": 256 * 2**20}

    # ---- requests --------------------------------------------------------------

    def request(self, op, blobs=(), timeout=None, **fields):
        """Send one request and return the decoded reply's value (JSON data + blobs).

        Raises RemoteError when student code raised, SandboxError when the
        process timed out, ran out of memory or died.
        """
        if self.dead:
            raise self.dead
        self.next_id += 1
        limit = min(self.deadline, time.monotonic() + (timeout or self.limits.cell_timeout))
        try:
            wire.send(self.requests, dict(fields, op=op, id=self.next_id), blobs, limit)
            header, reply_blobs = self._reply(limit)
        except TimeoutError:
            header, reply_blobs = self._interrupt()
        except (OSError, EOFError, wire.WireError) as error:
            raise self.die("error", f"student process stopped answering ({error})")
        if header.get("ok") is True and set(header) == {"ok", "value", "id", "blobs"}:
            return header["value"], reply_blobs
        if header.get("ok") is False and set(header) == {"ok", "error", "id", "blobs"} \
                and wire.is_error_description(header["error"]):
            raise RemoteError(header["error"])
        raise self.die("error", "student process sent a malformed reply")

    def _reply(self, deadline):
        while True:
            header, blobs = wire.recv(self.replies, deadline)
            if type(header.get("id")) is int and header["id"] == self.next_id:
                return header, blobs
            # else: a late reply to an interrupted request; skip it

    def _interrupt(self):
        """A request ran too long: interrupt it, or kill the process if it will not stop."""
        if time.monotonic() >= self.deadline:
            raise self.die("timeout", f"submission exceeded {self.limits.total_timeout:g} s in total")
        try:
            os.kill(self.process.pid, signal.SIGINT)
            header, blobs = self._reply(time.monotonic() + 2)
        except (OSError, EOFError, TimeoutError, wire.WireError):
            raise self.die("timeout", f"no answer within {self.limits.cell_timeout:g} s") from None
        if self.dead:  # the watchdog may have killed it meanwhile
            raise self.dead
        raise SandboxError("timeout", f"took longer than {self.limits.cell_timeout:g} s (interrupted)")

    # ---- the process tree ------------------------------------------------------------

    def die(self, status, message):
        """End the student process for good: every later request raises the returned SandboxError."""
        if not self.dead:
            self.dead = SandboxError(status, message)
        self.kill()
        return self.dead

    def kill(self):
        """Kill every process of the student's tree, including any that left its session."""
        for _ in range(100):
            pids = self._tree()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.01)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def _tree(self):
        """Process ids of the student's tree: its user namespace (or session) members."""
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            pid = int(entry)
            if pid == self.process.pid and self.process.poll() is None:
                pids.append(pid)
            elif self.user_namespace and _namespace_of(pid) == self.user_namespace:
                pids.append(pid)
            elif not self.user_namespace and _session_of(pid) == self.process.pid:
                pids.append(pid)
        return pids

    def _watch(self):
        ticks = 0
        while self.process.poll() is None:
            if time.monotonic() > self.deadline:
                self.die("timeout", f"submission exceeded {self.limits.total_timeout:g} s in total")
            elif self._memory_used() > self.limits.memory_mb * 2**20:
                self.die("memory", f"used more than {self.limits.memory_mb} MB of memory")
            elif ticks % 20 == 0 and (problem := self._scratch_problem()):
                self.die("memory", problem)
            ticks += 1
            time.sleep(0.05)

    def _scratch_problem(self, max_entries=20_000):
        """Why the scratch folder is over its cap (bytes or number of files), or None; about once a second."""
        used, entries, folders = 0, 0, [self.scratch]
        while folders:
            try:
                with os.scandir(folders.pop()) as listing:
                    for entry in listing:
                        entries += 1
                        if entries > max_entries:
                            return f"created more than {max_entries:,} files"
                        if entry.is_dir(follow_symlinks=False):
                            folders.append(entry.path)
                        elif entry.is_file(follow_symlinks=False):
                            used += entry.stat(follow_symlinks=False).st_blocks * 512
            except OSError:
                continue  # removed meanwhile
        if used > self.limits.disk_mb * 2**20:
            return f"wrote more than {self.limits.disk_mb} MB of files"
        return None

    def _memory_used(self):
        """Bytes the tree uses.  Resident sizes count pages shared after fork once per
        process, so above the cap the precise (proportional) figure decides."""
        pids = self._tree()
        resident = sum(map(_resident_bytes, pids))
        if resident <= self.limits.memory_mb * 2**20:
            return resident
        return sum(map(_proportional_bytes, pids))

    def _drain(self):
        """Read the student's stdout/stderr so it never blocks; keep only the start."""
        cap = self.limits.max_output_kb * 1024
        for chunk in iter(lambda: self.process.stdout.read1(65536), b""):
            self.output += chunk[: max(0, cap - len(self.output))]

    def close(self):
        """Kill the process tree and remove the scratch directory."""
        if not self.dead:
            self.dead = SandboxError("error", "sandbox closed")
        self.kill()
        self.drainer.join(timeout=1)  # descendants holding the pipe are dead by now
        if self.cgroup:
            try:
                os.rmdir(self.cgroup)
            except OSError:
                pass
        for fd in (self.requests, self.replies):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.scratch, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _process_cgroup(pid, max_processes):
    """Put ``pid`` in a new cgroup-v1 ``pids`` group capped at ``max_processes``; return its path.

    RLIMIT_NPROC (set in the student process) does not bind processes of
    root, so a grader run as root needs this; it returns None where the
    pids controller is not writable, and then RLIMIT_NPROC is the cap.
    """
    root = next((line.split()[1] for line in open("/proc/self/mounts")
                 if line.split()[2] == "cgroup" and "pids" in line.split()[3].split(",")), None)
    if root is None:
        return None
    path = os.path.join(root, f"grader-{pid}")
    try:
        os.mkdir(path)
        for name, value in [("pids.max", max_processes), ("cgroup.procs", pid)]:
            with open(os.path.join(path, name), "w") as file:
                file.write(str(value))
    except OSError:
        try:
            os.rmdir(path)
        except OSError:
            pass
        return None
    return path


def module_paths(names):
    """Files or package folders of importable modules, for the student's read allow-list."""
    paths = []
    for name in names:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is None:
            continue
        if spec.submodule_search_locations:
            paths += list(spec.submodule_search_locations)
        elif spec.origin and os.path.isfile(spec.origin):
            paths.append(spec.origin)
    return paths


def _namespace_of(pid):
    try:
        return os.readlink(f"/proc/{pid}/ns/user")
    except OSError:
        return None


def _session_of(pid):
    try:
        with open(f"/proc/{pid}/stat") as file:
            return int(file.read().rsplit(")", 1)[1].split()[3])
    except (OSError, ValueError, IndexError):
        return None


def _proportional_bytes(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as file:
            return next(int(line.split()[1]) * 1024 for line in file if line.startswith("Pss:"))
    except (OSError, ValueError, IndexError, StopIteration):
        return 0


def _resident_bytes(pid):
    try:
        with open(f"/proc/{pid}/statm") as file:
            return int(file.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
