"""Starting, watching and measuring the processes under test (Linux /proc only)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


class StartFailed(Exception):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StartFailed("exited with status %s before listening" % proc.returncode)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise StartFailed("not listening on port %d after %.0f s" % (port, timeout))


def children(pid: int) -> list[int]:
    """Direct children of pid (nginx workers under their master)."""
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        out = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open("/proc/%s/stat" % entry) as f:
                        fields = f.read().rsplit(")", 1)[1].split()
                    if int(fields[1]) == pid:
                        out.append(int(entry))
                except (OSError, IndexError, ValueError):
                    pass
        return out


def cpu_ticks(pid: int) -> int:
    """utime + stime of all threads of pid, in clock ticks."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return int(fields[11]) + int(fields[12])


def rss_kib(pid: int) -> int:
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Proc:
    """One server under test. `pids()` are the processes whose CPU and RSS count (for nginx the
    master and its workers)."""

    def __init__(self, name: str, argv: list[str], cpus: str, port: int, log_dir: str,
                 with_children: bool = False, env: dict | None = None):
        self.name = name
        self.port = port
        self.with_children = with_children
        self.stdout_path = os.path.join(log_dir, "%s.out" % name)
        self.stderr_path = os.path.join(log_dir, "%s.err" % name)
        argv = ["taskset", "-c", cpus] + argv
        self.argv = argv
        self.proc = subprocess.Popen(
            argv,
            stdout=open(self.stdout_path, "wb"),
            stderr=open(self.stderr_path, "wb"),
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        try:
            wait_port(port, self.proc)
        except StartFailed as e:
            self.stop()
            raise StartFailed("%s %s; stderr: %s" % (name, e, self.stderr_tail())) from None
        if with_children:
            deadline = time.monotonic() + 5
            while not children(self.proc.pid) and time.monotonic() < deadline:
                time.sleep(0.05)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def pids(self) -> list[int]:
        pids = [self.proc.pid]
        if self.with_children:
            pids += children(self.proc.pid)
        return pids

    def cpu_ticks(self) -> int:
        total = 0
        for pid in self.pids():
            try:
                total += cpu_ticks(pid)
            except OSError:
                pass
        return total

    def rss_kib(self) -> int:
        total = 0
        for pid in self.pids():
            try:
                total += rss_kib(pid)
            except OSError:
                pass
        return total

    def stderr_tail(self, n: int = 600) -> str:
        try:
            with open(self.stderr_path, "rb") as f:
                data = f.read()
        except OSError:
            return ""
        return data[-n:].decode("utf-8", "replace").strip()

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        try:
            # Its own session: signal the process group (nginx master + workers), nothing else.
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout=12)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
