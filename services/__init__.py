"""Domain services shared by the web app, the worker, the scheduler and the CLI."""
