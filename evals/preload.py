"""Start `paybill serve` processes fast: fork them from a process that imported Paybill once.

Importing the server (the MCP SDK, SQLAlchemy, Casbin, sqlglot) costs seconds of CPU, and a
replay starts a server per transcript (per principal on stdio). The preloader imports it
once, then forks a child per request that runs the unchanged ``paybill`` command line with
the requester's arguments, environment and standard streams (passed over a Unix socket with
SCM_RIGHTS). Each child is a fresh server process; only the imports are shared.

Protocol on the socket: the requester sends ``{"argv", "env"}`` with three descriptors
(stdin, stdout, stderr); the preloader answers ``"pid <n>\\n"`` after the fork and
``"exit <code>\\n"`` when the child ends.

Run: ``python -m paybill.evals.preload SOCKET``; it exits when its parent does.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import sys
import traceback

# What a stdio server's command runs: hand this process's streams to a preloaded child and
# exit with its status. Runs with `python -I -S`, so it starts in milliseconds.
LAUNCHER = """
import json, os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
socket.send_fds(s, [json.dumps({"argv": sys.argv[2:], "env": dict(os.environ)}).encode()],
                [0, 1, 2])
null = os.open(os.devnull, os.O_RDWR)
os.dup2(null, 0)
os.dup2(null, 1)
data = b""
while chunk := s.recv(64):
    data += chunk
lines = [line for line in data.decode().splitlines() if line.startswith("exit ")]
sys.exit(int(lines[0][5:]) if lines else 1)
"""


def _child(argv: list[str], env: dict[str, str], fds: list[int]) -> None:
    """Become ``paybill ARGV`` on the passed streams; never returns."""
    code = 1
    try:
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        os.environ.clear()
        os.environ.update(env)
        from paybill.server.cli.main import main

        main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve_forever(path: str) -> None:
    """Accept spawn requests on the Unix socket ``path`` until the parent process exits."""
    # The expensive imports, done once. The command line imports its subcommands lazily, so
    # `serve` (the MCP SDK, the tools, sqlglot, Casbin) is imported here explicitly: without
    # it every forked server would import it again.
    import paybill.server.cli.main
    import paybill.server.cli.serve  # noqa: F401

    parent = os.getppid()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    children: dict[int, socket.socket] = {}
    while os.getppid() == parent:
        ready, _, _ = select.select([listener], [], [], 0.05)
        if ready:
            conn, _ = listener.accept()
            message, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
            if not message or len(fds) != 3:  # a readiness probe, or a broken request
                for fd in fds:
                    os.close(fd)
                conn.close()
                continue
            request = json.loads(message)
            pid = os.fork()
            if pid == 0:
                listener.close()
                conn.close()
                _child(request["argv"], request["env"], fds)
            for fd in fds:
                os.close(fd)
            conn.sendall(f"pid {pid}\n".encode())
            children[pid] = conn
        while children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            conn = children.pop(pid, None)
            if conn is not None:
                # The requester may be gone already; then there is nobody to tell.
                with contextlib.suppress(OSError):
                    conn.sendall(f"exit {os.waitstatus_to_exitcode(status)}\n".encode())
                conn.close()


if __name__ == "__main__":
    serve_forever(sys.argv[1])
