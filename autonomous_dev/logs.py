"""Logging set-up, done once: a redacting filter on every handler, text (rich) or JSON lines, audit events."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from autonomous_dev.security.redact import Redactor

if TYPE_CHECKING:
    from rich.console import Console

HANDLER_NAME = "autonomous-dev"
CHATTY_LIBRARIES = ("httpx", "httpx2", "urllib3", "github", "git", "anthropic")
ROUTINE_EVENTS = ("credential_loaded",)  # every command has them: kept off a text console unless DEBUG
AUDIT_FIELDS = ("event", "repo", "issue", "detector", "count", "destination", "source")


class RedactingFilter(logging.Filter):
    """Renders each record's message once, redacted, so no handler can print a secret."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redactor.redact(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = self.redactor.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class RoutineEventFilter(logging.Filter):
    """Keeps routine audit events off a human's console unless their logger shows DEBUG lines; the JSON
    log and LOG_FILE still get them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "event", None) not in ROUTINE_EVENTS:
            return True
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


class LibraryFilter(logging.Filter):
    """Client libraries' warnings ("Retrying ...") are ours to report: theirs become DEBUG records.

    The adapters turn a failure into one clear error; what the library said on the way is for --debug.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.split(".")[0] not in CHATTY_LIBRARIES or record.levelno >= logging.ERROR:
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(logging.DEBUG)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the audit fields when present."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in AUDIT_FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """Plain lines for pipes and files: time, level, issue context, message."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")


def configure(
    redactor: Redactor,
    level: str = "INFO",
    fmt: str = "text",
    stream: TextIO | None = None,
    file: Path | None = None,
    console: Console | None = None,
) -> logging.Handler:
    """Install the handlers on the root logger; every one goes through the same redactor.

    `file` adds JSON lines (audit events included) appended to that file, whatever the console format.
    `console`, in text format, is the rich console that a live display also draws on.
    """
    stream = stream or sys.stderr
    handler: logging.Handler
    if fmt == "json":
        handler = logging.StreamHandler(stream)
        handler.setFormatter(JsonFormatter())
    elif console is not None or stream.isatty():
        from rich.console import Console
        from rich.logging import RichHandler

        handler = RichHandler(console=console or Console(file=stream), show_path=False, markup=False)
    else:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(TextFormatter())
    if fmt != "json":
        handler.addFilter(RoutineEventFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == HANDLER_NAME:
            root.removeHandler(old)
            old.close()
    handlers: list[logging.Handler] = [handler]
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(file, encoding="utf-8"))
        handlers[-1].setFormatter(JsonFormatter())
    for each in handlers:
        each.addFilter(LibraryFilter())
        each.addFilter(RedactingFilter(redactor))
        each.set_name(HANDLER_NAME)
        root.addHandler(each)
    root.setLevel(level)
    # Client libraries log every request at INFO; keep that for --verbose / DEBUG.
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.NOTSET if level == "DEBUG" else logging.WARNING)
    return handler


def audit(
    logger: logging.Logger,
    event: str,
    message: str,
    *args: object,
    level: int = logging.INFO,
    **fields: object,
) -> None:
    """Log an audit event with a stable `event` field."""
    logger.log(level, message, *args, extra={"event": event, **fields})
