"""structlog configuration: JSON lines, configured once in main."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import orjson
import structlog
from structlog.tracebacks import ExceptionDictTransformer

from whistle.privacy import masked

__all__ = ["configure_logging", "log_processors", "mask_phones"]

_FRAMES_ONLY = ExceptionDictTransformer(show_locals=False)


def mask_phones(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: phone numbers in any logged value become 138****5678."""
    return {key: masked(value) for key, value in event_dict.items()}


def log_processors(*, json: bool = True) -> list[structlog.types.Processor]:
    """The processor chain of :func:`configure_logging`, ending in its renderer."""
    processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    if json:
        # Tracebacks as data, without each frame's local variables: those hold request bodies,
        # passwords and tokens (structlog's dict_tracebacks shows them).
        processors.append(structlog.processors.ExceptionRenderer(_FRAMES_ONLY))
        processors.append(mask_phones)
        processors.append(structlog.processors.JSONRenderer(serializer=orjson.dumps))
    else:
        # Plain text tracebacks (no locals), made before masking; the console renderer's
        # default (rich, when installed) would print every frame's locals.
        processors.append(structlog.processors.format_exc_info)
        processors.append(mask_phones)
        processors.append(structlog.dev.ConsoleRenderer())
    return processors


def configure_logging(level: str = "info", *, json: bool = True) -> None:
    """Set up structlog (and the stdlib root logger, for aiohttp's own messages)."""
    numeric = logging.getLevelNamesMapping()[level.upper()]
    factory: structlog.types.WrappedLogger
    if json:
        factory = structlog.BytesLoggerFactory(sys.stderr.buffer)
    else:
        factory = structlog.PrintLoggerFactory(sys.stderr)
    structlog.configure(
        processors=log_processors(json=json),
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(
        level=max(numeric, logging.WARNING), stream=sys.stderr, format="%(message)s"
    )
