"""Background jobs: plain functions taking ids, declared with ``services.queue.job`` and enqueued
by dotted path (``enqueue("jobs.monitoring.poll_monitor", 42)``). They run inside the app context
the worker sets up once; no module here builds an app."""
