"""What ``scripts/run_all.py`` knows about the processes it supervises, for the Platform page.

The supervisor writes a small JSON file into the instance folder whenever a process starts, exits
or is due to restart, and at least every ``WRITE_EVERY_SECONDS``. A file rather than Redis: the
page must still say which process keeps stopping when Redis is what is down. The Platform
page reads it (``read_status``); a file not refreshed for ``STALE_AFTER_SECONDS`` means no
supervisor is running (the product may be run some other way: systemd, containers).
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

logger = logging.getLogger(__name__)

STATUS_FILE = "supervisor.json"
WRITE_EVERY_SECONDS = 5.0
STALE_AFTER_SECONDS = 30.0


@dataclass
class ProcessStatus:
    """One supervised process. ``state``: running / restarting / starting."""

    name: str
    state: str
    pid: int | None = None
    crashes: int = 0  # exits since it last ran quietly for a while
    restarts: int = 0  # restarts over the supervisor's lifetime
    last_exit: int | None = None  # exit status (negative: killed by that signal)
    last_exit_at: float | None = None  # unix time
    restart_at: float | None = None  # unix time of the planned restart

    @property
    def failing(self) -> bool:
        return self.state != "running" or self.crashes > 0


@dataclass
class SupervisorStatus:
    pid: int
    updated_at: datetime
    processes: list[ProcessStatus] = field(default_factory=list)

    @property
    def failing(self) -> list[ProcessStatus]:
        return [p for p in self.processes if p.failing]


def write_status(folder: str | os.PathLike[str], processes: list[ProcessStatus]) -> None:
    """Replace the status file atomically (a reader never sees half a file)."""
    folder = Path(folder)
    data = {"pid": os.getpid(), "updated_at": time.time(), "processes": [asdict(p) for p in processes]}
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".supervisor-", suffix=".json")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(data, out)
        os.replace(temporary, folder / STATUS_FILE)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def remove_status(folder: str | os.PathLike[str]) -> None:
    """A supervisor that stops cleanly leaves no status behind."""
    (Path(folder) / STATUS_FILE).unlink(missing_ok=True)


def read_status(folder: str | os.PathLike[str], *, now: float | None = None) -> SupervisorStatus | None:
    """The supervisor's last report, or ``None`` when none is running (no file, or a stale one)."""
    path = Path(folder) / STATUS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        updated = float(data["updated_at"])
        processes = [ProcessStatus(**entry) for entry in data["processes"]]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        logger.warning("unreadable supervisor status in %s", path, exc_info=True)
        return None
    if (now if now is not None else time.time()) - updated > STALE_AFTER_SECONDS:
        return None
    return SupervisorStatus(pid=int(data.get("pid", 0)), updated_at=datetime.fromtimestamp(updated, UTC),
                            processes=processes)
