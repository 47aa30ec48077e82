"""A local imitation of DHgate for tests, demos and benchmarks.

``SandboxServer`` serves DHgate's real URL paths with pages shaped like the real site's, from a
deterministic ``Catalog`` that can evolve (new listings, price moves, sell-outs, delistings) and
a ``FaultBook`` that makes it misbehave on purpose (rate limits, blocks, challenges, garbled or
truncated pages, slowness, "fail the next N requests"). Importing this package starts nothing.
"""
from __future__ import annotations

from .catalog import Catalog
from .faults import Fault, FaultBook, FaultError, FaultMode
from .model import (
    CatalogError,
    Change,
    ProductStatus,
    SandboxProduct,
    StoreInfo,
    UnknownProduct,
    UnknownStore,
)
from .server import SandboxServer, SandboxStartError, run_sandbox

__all__ = [
    "Catalog",
    "CatalogError",
    "Change",
    "Fault",
    "FaultBook",
    "FaultError",
    "FaultMode",
    "ProductStatus",
    "SandboxProduct",
    "SandboxServer",
    "SandboxStartError",
    "StoreInfo",
    "UnknownProduct",
    "UnknownStore",
    "run_sandbox",
]
