"""structlog configuration: JSON lines, configured once in main."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog
from structlog.tracebacks import ExceptionDictTransformer

from whistle.privacy import has_phone, masked

__all__ = ["configure_logging", "log_processors", "mask_phones"]

_FRAMES_ONLY = ExceptionDictTransformer(show_locals=False)


def mask_phones(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: phone numbers in any logged value become 138****5678."""
    # Most lines are short strings, numbers and None: one search over their text joined by
    # NULs (which no number spans) instead of a regex call per value (issue 21).
    texts = []
    for value in event_dict.values():
        kind = type(value)  # exact types: a str subclass (an enum) is masked value by value
        if kind is str:
            texts.append(value)
        elif not (value is None or kind is int or kind is float or kind is bool):
            break  # a dict, a list, an object: mask value by value
    else:
        if not has_phone("\x00".join(texts)):
            return event_dict
    return {key: masked(value) for key, value in event_dict.items()}


class _Timestamp:
    """``timestamp``: ISO 8601 in UTC with microseconds, like structlog's
    ``TimeStamper(fmt="iso", utc=True)``, with the date and time formatted once a second."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(
        self, _: Any, __: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        now = time.time()
        second = int(now)
        if second != self._second:
            moment = datetime.fromtimestamp(second, UTC)
            self._prefix, self._second = moment.strftime("%Y-%m-%dT%H:%M:%S"), second
        micros = int((now - second) * 1_000_000)
        event_dict["timestamp"] = f"{self._prefix}.{micros:06d}Z"
        return event_dict


def log_processors(*, json: bool = True) -> list[structlog.types.Processor]:
    """The processor chain of :func:`configure_logging`, ending in its renderer."""
    processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        _Timestamp(),
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
