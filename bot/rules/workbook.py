"""Writing workbooks safely: text that looks like a formula stays text (CSV/formula injection).

A cell whose text starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return would be
taken by a spreadsheet as a formula (openpyxl writes ``=…`` as one outright). Every workbook
zhibu writes goes through ``append_row``: such text is stored as a string cell with Excel's
quote prefix, so it shows as typed and is never evaluated, not even after an edit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def looks_like_formula(value: object) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def append_row(ws: Any, values: Sequence[Any]) -> None:
    """``ws.append(values)``, with every formula-like text written as plain text."""
    ws.append(list(values))
    row = ws.max_row
    for index, value in enumerate(values, start=1):
        if looks_like_formula(value):
            cell = ws.cell(row=row, column=index)
            cell.value = value
            cell.data_type = "s"
            cell.quotePrefix = True
