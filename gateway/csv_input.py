"""Reading a CSV file someone made in a spreadsheet: bounded, in UTF-8 or GB18030, each row with its line.

Used by the imports that take a file from a person (``firegw registry import``, ``firegw parties import``).
The file's size is checked before it is read and its rows are counted as they are read, so a wrong file (a
log, a database dump) is refused with a sentence instead of filling the memory; a row is returned with the
line it starts on (a quoted cell may span lines), so that every problem can name its line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

#: Excel saves "CSV" in the system's code page: GB18030 on a Chinese Windows, UTF-8 with "CSV UTF-8".
ENCODINGS = ("utf-8-sig", "gb18030")
_MIB = 1 << 20


class CsvRefused(ValueError):
    """The file cannot be read as a CSV within its bounds; the message says why and what to do."""


def read_rows(path: Path, *, max_bytes: int, max_rows: int) -> list[tuple[int, list[str]]]:
    """The file's non-blank rows with the line each starts on, the header first. ``max_rows`` counts the
    rows after the header. ``CsvRefused`` (naming the file) when it cannot be read, is larger than
    ``max_bytes``, is neither UTF-8 nor GB18030 text, is not CSV, or has more rows than ``max_rows``."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise CsvRefused(
                f"{path} is {size / _MIB:.1f} MiB; at most {max_bytes / _MIB:g} MiB is read: split the file"
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise CsvRefused(f"{path} cannot be read ({exc.strerror or exc})") from None
    for encoding in ENCODINGS:
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise CsvRefused(f"{path} is neither UTF-8 nor GB18030 text; save it as CSV (UTF-8)")
    # strict: a quote left open is an error at its line, not the rest of the file swallowed into one cell.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                if len(rows) > max_rows:
                    raise CsvRefused(
                        f"{path} has more than {max_rows:,} rows after the header; split the file"
                    )
                rows.append((start, row))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise CsvRefused(f"{path}: line {reader.line_num}: not CSV ({exc})") from None
    return rows


def header_problems(
    line: int, columns: Sequence[str], known: Sequence[str], required: Sequence[str]
) -> list[str]:
    """What is wrong with a header line (an unknown, missing or repeated column), and then what it must name;
    empty when it is right."""
    unknown = [c for c in columns if c not in known]
    missing = [c for c in required if c not in columns]
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    problems = [f"line {line}: unknown column {c!r}" for c in unknown]
    problems += [f"line {line}: column {c!r} is missing" for c in missing]
    problems += [f"line {line}: column {c!r} appears more than once" for c in repeated]
    if problems:
        problems.append(
            f"the first line names the columns: {','.join(known)} ({', '.join(required)} required)"
        )
    return problems
