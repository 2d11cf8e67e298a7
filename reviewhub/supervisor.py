"""A small process supervisor for `make run`: restart what dies, stop all of it on Ctrl-C.

Each child runs in its own process group (its own session), so stopping a child stops what
it started too (a Celery worker's pool, runserver's autoreloader). Groups are signalled even
when their leader has already exited: a dead worker must not leave an orphan behind it.

A child that dies is restarted after a backoff (1 s, 2 s, 4 s, … up to `backoff_max`); one
that dies more than `max_restarts` times within `window` seconds stops everything, naming it,
so a broken part is never hidden behind a stack that looks alive.

`manage.py serve_all` reads the settings, then replaces itself with this file run as a
script (`main`): the process that stays up for the whole session imports the standard
library only, not Django and the apps (~100 MB of the stack's memory, measured by
bench/bench_stack.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Child:
    name: str
    cmd: list[str]
    env: dict[str, str] | None = None
    proc: subprocess.Popen | None = None
    deaths: list[float] = field(default_factory=list)
    restart_at: float | None = None


class ChildKeepsDying(Exception):
    def __init__(self, child: Child, code: int | None):
        self.child, self.code = child, code
        super().__init__(child.name)


class Supervisor:
    def __init__(
        self,
        *,
        say: Callable[[str], None],
        max_restarts: int = 5,
        window: float = 300.0,
        backoff: float = 1.0,
        backoff_max: float = 30.0,
        stop_timeout: float = 15.0,
    ):
        self.say = say
        self.max_restarts, self.window = max_restarts, window
        self.backoff, self.backoff_max = backoff, backoff_max
        self.stop_timeout = stop_timeout
        self.children: list[Child] = []
        self.groups: set[int] = set()  # every process group we started, alive or not
        self.stopping = False

    def start(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> Child:
        child = Child(name=name, cmd=cmd, env=env)
        self.children.append(child)
        self._spawn(child)
        return child

    def _spawn(self, child: Child) -> None:
        child.proc = subprocess.Popen(child.cmd, env=child.env, start_new_session=True)
        child.restart_at = None
        self.groups.add(child.proc.pid)

    def poll(self) -> None:
        """Restart children that died and are due; raise ChildKeepsDying past the cap."""
        now = time.monotonic()
        # Forget groups that are gone, so a recycled process id is never signalled.
        self.groups = {g for g in self.groups if self._group_alive(g)}
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    self.say(f"{child.name}: restarting")
                    self._spawn(child)
                continue
            code = child.proc.poll()
            if code is None:
                continue
            # Whatever the dead child started (pool processes, a reloader's child) goes too.
            self._kill_group(child.proc.pid, signal.SIGKILL)
            child.deaths = [t for t in child.deaths if now - t < self.window] + [now]
            if len(child.deaths) > self.max_restarts:
                raise ChildKeepsDying(child, code)
            delay = min(self.backoff * 2 ** (len(child.deaths) - 1), self.backoff_max)
            self.say(
                f"{child.name} exited with code {code}; restarting in {delay:g} s "
                f"(restart {len(child.deaths)} of at most {self.max_restarts} "
                f"in {self.window:g} s)"
            )
            child.restart_at = now + delay

    def run(self, interval: float = 0.3) -> None:
        """Supervise until stop() is called (by a signal handler) or a child keeps dying."""
        while not self.stopping:
            self.poll()
            time.sleep(interval)

    def stop(self, *_signal_args) -> None:
        self.stopping = True

    def stop_all(self) -> None:
        """SIGTERM every group we started (last started first), then SIGKILL what is left."""
        for child in reversed(self.children):
            if child.proc is not None:
                self._kill_group(child.proc.pid, signal.SIGTERM)
        for pgid in self.groups:
            self._kill_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for child in reversed(self.children):
            if child.proc is None:
                continue
            try:
                child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"{child.name} did not stop in time; killing it")
        while time.monotonic() < deadline and any(self._group_alive(g) for g in self.groups):
            time.sleep(0.1)
        for pgid in self.groups:
            self._kill_group(pgid, signal.SIGKILL)
        for child in self.children:
            if child.proc is not None:
                child.proc.wait()

    @staticmethod
    def _kill_group(pgid: int, sig: int) -> None:
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    @staticmethod
    def _group_alive(pgid: int) -> bool:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True


# --- the `make run` process ---------------------------------------------------------------


class NotReady(Exception):
    pass


def serve(spec: dict) -> int:
    """Start `spec["children"]` in order and supervise them until SIGINT/SIGTERM; returns
    the exit status. A child with a `ready` command is waited for before the next one
    starts: the command runs until it exits 0 (the part is ready) or the part dies."""

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    supervisor = Supervisor(
        say=say,
        max_restarts=spec["max_restarts"],
        window=spec["window"],
        backoff=spec["backoff"],
    )
    signal.signal(signal.SIGINT, supervisor.stop)
    signal.signal(signal.SIGTERM, supervisor.stop)
    try:
        for part in spec["children"]:
            child = supervisor.start(part["name"], part["cmd"], _env(part.get("env")))
            if part.get("ready"):
                _wait_ready(supervisor, child, part["ready"], spec["ready_timeout"])
                if supervisor.stopping:
                    return 0
        print(spec["banner"], flush=True)
        supervisor.run()
        return 0
    except NotReady as exc:
        say(f"{exc}; see the output above")
        return 1
    except ChildKeepsDying as exc:
        say(
            f"{exc.child.name} keeps dying (last exit code {exc.code}, "
            f"{len(exc.child.deaths)} times in {supervisor.window:g} s); stopped everything. "
            f"Its output is above; the command was: {' '.join(exc.child.cmd)}"
        )
        return 1
    finally:
        supervisor.stop_all()
        print("stopped", flush=True)


def _env(extra: dict | None) -> dict | None:
    return {**os.environ, **extra} if extra else None


def _wait_ready(supervisor: Supervisor, child: Child, cmd: list[str], timeout: float) -> None:
    check = subprocess.Popen(cmd, start_new_session=True)
    supervisor.groups.add(check.pid)
    deadline = time.monotonic() + timeout
    while check.poll() is None:
        if supervisor.stopping or child.proc.poll() is not None or time.monotonic() > deadline:
            supervisor._kill_group(check.pid, signal.SIGKILL)
            check.wait()
            if supervisor.stopping:
                return
            raise NotReady(f"{child.name} did not start")
        time.sleep(0.2)
    if check.returncode != 0:
        raise NotReady(f"{child.name} did not start (exit code {check.returncode})")


def main(argv: list[str]) -> int:
    """`python -P reviewhub/supervisor.py <fd>`: the spec is JSON read from file
    descriptor <fd> (a pipe serve_all wrote it to), so nothing of it shows in `ps`."""
    with os.fdopen(int(argv[1]), "rb") as spec:
        return serve(json.loads(spec.read()))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
