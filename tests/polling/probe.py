"""A second worker process for the breaker and worker tests: ``python -m tests.polling.probe``.

It builds its own app on the same database and Redis as the test, fetches one page through
the shared fetcher and prints what happened as JSON, so a test can check what *another
process* sees of the circuit breaker.
"""
from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--instance-path", required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--breaker-reset", type=float, default=60.0)
    parser.add_argument("--now", type=float, default=None,
                        help="run the fetcher on a clock stopped at this epoch time (the test's clock)")
    args = parser.parse_args(argv)

    from services.dhgate.clock import set_clock
    from tests.clock import FakeClock
    from tests.conftest import Stores, make_app

    app = make_app(
        Stores(args.database_url, args.redis_url, args.instance_path),
        DHGATE_BASE_URL=args.base_url,
        DHGATE_RETRY_ATTEMPTS=1,
        DHGATE_REQUESTS_PER_SECOND=1000.0,
        DHGATE_RATE_BURST=100,
        DHGATE_BREAKER_FAILURES=5,
        DHGATE_BREAKER_RESET_SECONDS=args.breaker_reset,
    )
    if args.now is not None:
        set_clock(app, FakeClock(args.now))
    with app.app_context():
        from services.dhgate.fetcher import get_fetcher

        fetcher = get_fetcher()
        result = fetcher.fetch(args.path)
        print(json.dumps({"outcome": result.outcome.value, "status": result.status_code,
                          "breaker": fetcher.breaker.state}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
