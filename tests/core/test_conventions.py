"""Conventions of docs/conventions.md that the source's syntax can show, checked with `ast`."""

from __future__ import annotations

import ast
from pathlib import Path

from artisan.core import errors

SOURCE = Path(__file__).resolve().parents[2] / "src" / "artisan"


def _error_classes() -> set[str]:
    found: set[str] = set()
    pending = [errors.AppError]
    while pending:
        kind = pending.pop()
        found.add(kind.__name__)
        pending.extend(kind.__subclasses__())
    return found


def _raised_errors() -> list[tuple[str, int, str, set[str]]]:
    """(file, line, class, keywords) of every `raise SomeError(...)` of an AppError class."""
    names = _error_classes()
    raised = []
    for path in sorted(SOURCE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
                continue
            func = node.exc.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name in names:
                keywords = {k.arg for k in node.exc.keywords if k.arg}
                raised.append((str(path.relative_to(SOURCE)), node.lineno, name, keywords))
    return raised


def test_errors_are_raised_as_the_subclass_of_their_status() -> None:
    raised = _raised_errors()
    assert len(raised) > 50  # the reader sees the code base's raises
    offending = [
        f"{path}:{line} raises {name}(..., {', '.join(sorted(keywords & {'status'}))}=...)"
        if name != "AppError"
        else f"{path}:{line} raises AppError itself"
        for path, line, name, keywords in raised
        if name == "AppError" or "status" in keywords
    ]
    assert not offending, "\n  ".join(
        ["raise the subclass that carries the status (Conflict, ValidationFailed, ...)", *offending]
    )


def test_every_status_has_its_subclass() -> None:
    # What the rule above relies on: each status the platform answers has a class to raise.
    statuses = {errors.AppError.status}
    pending = list(errors.AppError.__subclasses__())
    while pending:
        kind = pending.pop()
        statuses.add(kind.status)
        pending.extend(kind.__subclasses__())
    assert {400, 401, 402, 403, 404, 409, 413, 422, 429} <= statuses
