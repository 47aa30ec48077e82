"""The background worker: ``python worker.py [--burst] [--queues QUEUE] [--no-fork] [--name N]``.

A thin entry point: it builds the app (``create_app()``) and runs the ``flask worker`` command,
so both ways of starting a worker take the same options and run the same code
(``services.worker_runtime.run_worker``: preload the job modules and the fetcher, then an RQ
worker on the queues in priority order). The embedded Redis is started first when no
``REDIS_URL`` is configured. ``python worker.py --help`` lists the options.

``--queues polling --no-fork`` gives polling a worker of its own that runs each job inside the
worker process: several times faster per short poll, without a fork's isolation.
"""
from __future__ import annotations

import sys

import click
from flask.cli import ScriptInfo

from app import create_app
from cli.ops import worker_command
from config import ConfigError


def main(argv: list[str] | None = None) -> int:
    """Run the worker; start-up problems end in one ``worker: …`` line and a non-zero status."""
    args = sys.argv[1:] if argv is None else argv
    try:
        status = worker_command.main(args, prog_name="worker.py", obj=ScriptInfo(create_app=create_app),
                                     standalone_mode=False)
    except ConfigError as exc:
        print(f"worker: {exc}", file=sys.stderr)
        return 2
    except click.UsageError as exc:
        exc.show()
        return exc.exit_code
    except click.ClickException as exc:
        print(f"worker: {exc.format_message()}", file=sys.stderr)
        return exc.exit_code
    except click.Abort:
        return 1
    return status if isinstance(status, int) else 0


if __name__ == "__main__":
    sys.exit(main())
