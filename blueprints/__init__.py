"""One package per area of the site; each exposes ``bp`` and is registered by ``app.py``."""
