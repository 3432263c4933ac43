"""Prometheus metrics read from the evalmon store: a custom collector and its registry.

Nothing here starts a server or pushes: build a registry with :func:`build_registry` and
serve it (``prometheus_client.start_http_server``) or push it where you need to.
"""

from metrics.prometheus._position import (
    DEFAULT_SCRAPE_LOCK_TIMEOUT_S,
    NO_POSITION,
    PositionCollector,
    build_registry,
)

__all__ = [
    "DEFAULT_SCRAPE_LOCK_TIMEOUT_S",
    "NO_POSITION",
    "PositionCollector",
    "build_registry",
]
