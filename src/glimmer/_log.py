"""Library messages go through :mod:`logging`; a console handler shows them by default.

Every module logs to a child of the ``glimmer`` logger (``glimmer.train.fit``). Until the
user decides otherwise, that logger shows INFO and above on stderr as ``glimmer <message>``
(warnings marked) and does not pass them on; to route them elsewhere::

    import logging
    glimmer_log = logging.getLogger("glimmer")
    glimmer_log.handlers.clear()        # no console lines
    glimmer_log.propagate = True        # to the application's own handlers
    glimmer_log.setLevel(logging.WARNING)  # or only warnings and errors
"""

from __future__ import annotations

import logging

__all__ = ["get_logger"]

ROOT = "glimmer"


class ConsoleHandler(logging.Handler):
    """``glimmer <message>`` on stderr (through rich: markup-free, no highlighting)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from rich.console import Console
            from rich.text import Text

            line = Text("glimmer ", style="bold")
            if record.levelno >= logging.WARNING:
                line.append(f"{record.levelname.lower()}: ", style="yellow")
            line.append(record.getMessage())
            Console(stderr=True, highlight=False).print(line)
        except Exception:  # a handler never raises into the library
            self.handleError(record)


def _configure_root() -> None:
    root = logging.getLogger(ROOT)
    if root.handlers or getattr(root, "_glimmer_default", False):
        return  # the user (or an earlier call) configured it
    root.addHandler(ConsoleHandler())
    root.setLevel(logging.INFO)
    root.propagate = False
    root._glimmer_default = True  # type: ignore[attr-defined]


def get_logger(name: str, /) -> logging.Logger:
    """The logger of module *name* (a child of ``glimmer``), the default handler in place.

    Examples:
        >>> get_logger("glimmer.train.fit").name
        'glimmer.train.fit'
    """
    _configure_root()
    return logging.getLogger(name)
