"""A progress line on stderr for long scans: incidents done, rate, time left.

Drawn only when stderr is a terminal, so logs and pipes of a nightly job never receive it.
"""

from __future__ import annotations

import sys
import time

REDRAW_SECONDS = 0.5


class Progress:
    def __init__(self, *, quiet: bool = False, stream=None, what: str = "incidents"):
        self.stream = stream or sys.stderr
        self.enabled = not quiet and _is_terminal(self.stream)
        self.what = what
        self.total: int | None = None
        self.done = 0
        self.started = time.monotonic()
        self._drawn = 0.0
        self._width = 0

    def set_total(self, total: int) -> None:
        self.total = total

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self.enabled and time.monotonic() - self._drawn >= REDRAW_SECONDS:
            self._draw()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.done / elapsed
        text = f"{self.done:,}"
        if self.total:
            text += f" / {self.total:,} {self.what} ({min(self.done / self.total, 1.0):.0%})"
        else:
            text += f" {self.what}"
        text += f" · {rate:,.0f}/s"
        if self.total and rate > 0 and self.done < self.total:
            text += f" · {_duration((self.total - self.done) / rate)} left"
        return text

    def _draw(self) -> None:
        text = self.line()
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = len(text)
        self._drawn = time.monotonic()

    def close(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _duration(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"
