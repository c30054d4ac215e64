"""structlog configuration: JSON lines, configured once in main."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import orjson
import structlog

__all__ = ["configure_logging", "mask_phones"]

# Mainland mobile numbers (11 digits, 1[3-9]...) and landlines with an area code.
_PHONE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)|(?<!\d)(0\d{2,3}-?)\d{3,4}(\d{4})(?!\d)")


def _mask(text: str) -> str:
    return _PHONE.sub(
        lambda m: (
            f"{m.group(1)}****{m.group(2)}" if m.group(1) else f"{m.group(3)}****{m.group(4)}"
        ),
        text,
    )


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return _mask(value)
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_masked(v) for v in value)
    return value


def mask_phones(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: phone numbers in any logged value become 138****5678."""
    return {key: _masked(value) for key, value in event_dict.items()}


def configure_logging(level: str = "info", *, json: bool = True) -> None:
    """Set up structlog (and the stdlib root logger, for aiohttp's own messages)."""
    numeric = logging.getLevelNamesMapping()[level.upper()]
    processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.dict_tracebacks,
        mask_phones,
    ]
    if json:
        processors.append(structlog.processors.JSONRenderer(serializer=orjson.dumps))
        factory: structlog.types.WrappedLogger = structlog.BytesLoggerFactory(sys.stderr.buffer)
    else:
        processors.append(structlog.dev.ConsoleRenderer())
        factory = structlog.PrintLoggerFactory(sys.stderr)
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(
        level=max(numeric, logging.WARNING), stream=sys.stderr, format="%(message)s"
    )
