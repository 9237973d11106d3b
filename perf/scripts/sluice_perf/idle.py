"""Idle keepalive connections: open N client connections, do one request on each, keep them
open and idle, and let the caller read the proxy's RSS.

Non-blocking sockets on one epoll selector; connections are opened in waves so that the
listen backlog (and the SYN queue) never overflows.
"""

from __future__ import annotations

import resource
import selectors
import socket
import time


def raise_nofile(wanted: int) -> int:
    """Raises the soft RLIMIT_NOFILE towards `wanted` (up to the hard limit); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


class _Conn:
    __slots__ = ("sock", "state", "buf", "need")

    def __init__(self, sock):
        self.sock = sock
        self.state = "connecting"
        self.buf = b""
        self.need = None  # total bytes of head + body once the head is parsed


class IdleClients:
    def __init__(self, port: int, path: str = "/"):
        self.port = port
        self.request = (
            "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: sluice-perf-idle\r\n\r\n"
            % (path, port)
        ).encode()
        self.open: list[socket.socket] = []
        self.failures: list[str] = []

    def open_connections(self, n: int, wave: int = 500, timeout: float = 30.0) -> int:
        """Opens n connections, each completing one request; returns how many succeeded."""
        sel = selectors.DefaultSelector()
        try:
            remaining = n
            while remaining > 0 and len(self.failures) < 20:
                batch = min(wave, remaining)
                remaining -= batch
                self._wave(sel, batch, timeout)
        finally:
            sel.close()
        return len(self.open)

    def _wave(self, sel, batch: int, timeout: float) -> None:
        pending = 0
        for _ in range(batch):
            try:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            except OSError as e:
                self.failures.append("socket(): %s" % e)
                break
            s.setblocking(False)
            err = s.connect_ex(("127.0.0.1", self.port))
            if err not in (0, 115):  # EINPROGRESS
                self.failures.append("connect: errno %d" % err)
                s.close()
                continue
            sel.register(s, selectors.EVENT_WRITE, _Conn(s))
            pending += 1
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=1.0):
                c: _Conn = key.data
                done = self._step(sel, c)
                if done is not None:
                    pending -= 1
                    sel.unregister(c.sock)
                    if done:
                        self.open.append(c.sock)
                    else:
                        c.sock.close()
        if pending:
            self.failures.append("%d connections timed out" % pending)
            for key in list(sel.get_map().values()):
                sel.unregister(key.fileobj)
                key.fileobj.close()

    def _step(self, sel, c: _Conn):
        """Advances one connection; True when its response is complete, False on failure,
        None while in progress."""
        s = c.sock
        if c.state == "connecting":
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self.failures.append("connect: errno %d" % err)
                return False
            try:
                s.send(self.request)  # small: fits the empty send buffer in one go
            except OSError as e:
                self.failures.append("send: %s" % e)
                return False
            c.state = "reading"
            sel.modify(s, selectors.EVENT_READ, c)
            return None
        try:
            data = s.recv(65536)
        except BlockingIOError:
            return None
        except OSError as e:
            self.failures.append("recv: %s" % e)
            return False
        if not data:
            self.failures.append("closed before a full response")
            return False
        c.buf += data
        if c.need is None:
            end = c.buf.find(b"\r\n\r\n")
            if end < 0:
                return None
            head = c.buf[:end].decode("latin-1").split("\r\n")
            status = head[0].split(" ")
            if len(status) < 2 or status[1] != "200":
                self.failures.append("status line %r" % head[0])
                return False
            length = 0
            for line in head[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            c.need = end + 4 + length
        if len(c.buf) >= c.need:
            c.buf = b""
            return True
        return None

    def still_open(self) -> int:
        """Connections the server has not closed (a readable idle socket means EOF or junk)."""
        sel = selectors.DefaultSelector()
        for s in self.open:
            sel.register(s, selectors.EVENT_READ)
        closed = len(sel.select(timeout=0))
        sel.close()
        return len(self.open) - closed

    def close(self) -> None:
        for s in self.open:
            s.close()
        self.open = []
