"""Log output of `ebmm serve`: every line carries the id of the request it was written for (or none), as text
(default) or as one JSON object per line (`EBMM_LOG_FORMAT=json`, for log pipelines).

A JSON line has `time` (ISO 8601, UTC), `level`, `logger`, `message`, `request_id`, and for the one
`ebmm.access` line per request also `method`, `route`, `status`, `latency_ms`, `tenant`, `model` and
`batch_size` (service.request_context).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson

from service.request_context import RequestFacts, current_request_id
from service.settings import LogFormat

ACCESS_FIELDS = tuple(RequestFacts.__dataclass_fields__)


class RequestIdFilter(logging.Filter):
    """Stamps each record with the id of the request being served (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        line |= {name: getattr(record, name) for name in ACCESS_FIELDS if hasattr(record, name)}
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def log_config(format: LogFormat, level: str) -> dict[str, Any]:
    """A `logging.config.dictConfig` for the server (uvicorn's `log_config`): one stderr handler for every
    logger, stamping request ids, as text or JSON."""
    text = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
    formatter = {"()": f"{__name__}.JsonFormatter"} if format == "json" else {"format": text}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": f"{__name__}.RequestIdFilter"}},
        "formatters": {"default": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "default",
                "filters": ["request_id"],
            }
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {name: {"handlers": [], "propagate": True} for name in ("uvicorn", "uvicorn.error")},
    }
