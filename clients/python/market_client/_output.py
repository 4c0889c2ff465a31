"""How the command line prints: JSON for scripts, aligned tables for people (wide CJK
characters count two columns)."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TextIO

Cell = Callable[[Mapping[str, Any]], Any]
Column = tuple[str, str | Cell]


def width(text: str) -> int:
    """Terminal columns ``text`` takes: wide and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def pad(text: str, columns: int) -> str:
    return text + " " * (columns - width(text))


def money(amount: Any, currency: Any) -> str:
    """Minor units as ``1,234.56 CNY``."""
    if not isinstance(amount, int):
        return ""
    sign = "-" if amount < 0 else ""
    units, cents = divmod(abs(amount), 100)
    return f"{sign}{units:,}.{cents:02d} {currency or ''}".rstrip()


def text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(text(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def cell(row: Mapping[str, Any], how: str | Cell) -> str:
    return text(row.get(how) if isinstance(how, str) else how(row))


def table(rows: Iterable[Mapping[str, Any]], columns: Sequence[Column], out: TextIO) -> int:
    """Print ``rows`` as a table with a header; returns how many rows were printed."""
    cells = [[cell(row, how) for _, how in columns] for row in rows]
    headers = [name for name, _ in columns]
    widths = [max([width(h)] + [width(r[i]) for r in cells]) for i, h in enumerate(headers)]
    out.write("  ".join(pad(h.upper(), w) for h, w in zip(headers, widths, strict=True))
              .rstrip() + "\n")
    for row in cells:
        out.write("  ".join(pad(c, w) for c, w in zip(row, widths, strict=True)).rstrip()
                  + "\n")
    return len(cells)


def record(obj: Mapping[str, Any], out: TextIO, fields: Sequence[Column] | None = None) -> None:
    """One object as ``name  value`` lines (nested objects as compact JSON)."""
    pairs = ([(name, cell(obj, how)) for name, how in fields] if fields is not None
             else [(str(k), text(v)) for k, v in obj.items()])
    column = max((width(name) for name, _ in pairs), default=0)
    for name, value in pairs:
        out.write(f"{pad(name, column)}  {value}".rstrip() + "\n")


def dump(value: Any, out: TextIO) -> None:
    out.write(json.dumps(value, ensure_ascii=False, indent=2, sort_keys=False) + "\n")


class Bar:
    """Progress of a transfer on a terminal: bytes so far (and of how many, with the share
    when the exchange says), redrawn in place on standard error; nothing when ``quiet`` or
    when standard error is not a terminal."""

    def __init__(self, label: str, stream: TextIO, *, quiet: bool) -> None:
        self.label, self.stream = label, stream
        self.shown = not quiet and stream.isatty()
        self.drawn = False

    def __call__(self, done: int, total: int | None) -> None:
        if not self.shown:
            return
        if total:
            share = min(done * 100 // total, 100)
            filled = share * 24 // 100
            text = f"{self.label} [{'#' * filled}{'-' * (24 - filled)}] {share:3d}% " \
                   f"{done:,}/{total:,} B"
        else:
            text = f"{self.label} {done:,} B"
        self.stream.write("\r" + text)
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
