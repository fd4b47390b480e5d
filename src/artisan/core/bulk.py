"""Bulk statements that take their rows as one array parameter per column.

One statement writes any number of rows with a fixed text, so the driver prepares it once and the
server parses and plans it once, instead of a VALUES list whose text changes with the row count.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ColumnArrays:
    """The rows of a bulk statement, gathered row by row and handed over column by column."""

    __slots__ = ("_names", "_rows")

    def __init__(self, columns: Mapping[str, str]) -> None:
        self._names = list(columns)
        self._rows: list[tuple[Any, ...]] = []

    def add(self, *values: Any) -> None:
        """Append one row, its values in the column order."""
        self._rows.append(values)

    def __len__(self) -> int:
        return len(self._rows)

    def column(self, name: str) -> list[Any]:
        """One column's values."""
        index = self._names.index(name)
        return [row[index] for row in self._rows]

    def arrays(self) -> list[list[Any]]:
        """One array per column, in the column order (for numbered parameters)."""
        if not self._rows:
            return [[] for _ in self._names]
        # Transposed in one pass of C code rather than one append per value.
        return [list(values) for values in zip(*self._rows, strict=True)]

    def params(self, prefix: str = "") -> dict[str, list[Any]]:
        """One array per column, by name (for the named parameters of `unnest_named`)."""
        return {
            f"{prefix}{name}": values
            for name, values in zip(self._names, self.arrays(), strict=True)
        }


def unnest_named(columns: Mapping[str, str], prefix: str = "") -> str:
    """Rows `v(<columns>)` from one named array parameter per column (`:<prefix><name>`)."""
    arrays = ", ".join(f"CAST(:{prefix}{name} AS {kind}[])" for name, kind in columns.items())
    return f"unnest({arrays}) AS v({', '.join(columns)})"


def unnest_numbered(columns: Mapping[str, str], first: int) -> str:
    """Rows `v(<columns>)` from one numbered array parameter per column, from `$<first>` on."""
    arrays = ", ".join(
        f"CAST(${number} AS {kind}[])" for number, kind in enumerate(columns.values(), first)
    )
    return f"unnest({arrays}) AS v({', '.join(columns)})"
