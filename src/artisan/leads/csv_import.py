"""Reading a lead CSV as people export them: common header names, `,` `;` or tab delimiters, a
UTF-8 byte-order mark, and `custom.<name>` columns, with a report of how each header was read."""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from typing import Any

from artisan.core.errors import ValidationFailed
from artisan.leads.schemas import MAX_IMPORT_ROWS, ColumnMapping

CUSTOM_PREFIX = "custom."
# The headers that name each lead field, compared after folding case, spaces, dashes and
# underscores away ("First Name", "first_name" and "FIRST-NAME" are all `firstname`).
_ALIASES: dict[str, tuple[str, ...]] = {
    "email": ("email", "emailaddress", "mail", "workemail"),
    "first_name": ("firstname", "first", "givenname", "forename"),
    "last_name": ("lastname", "last", "surname", "familyname"),
    "company": ("company", "companyname", "organization", "organisation", "account"),
    "title": ("title", "jobtitle", "position"),
    "phone": ("phone", "phonenumber", "telephone", "mobile"),
    "linkedin_url": ("linkedin", "linkedinurl", "linkedinprofile"),
    "timezone": ("timezone", "tz"),
    "status": ("status", "leadstatus"),
    "source": ("source", "leadsource"),
}
_FIELD_OF = {alias: field for field, aliases in _ALIASES.items() for alias in aliases}
_DELIMITERS = (",", ";", "\t")
_INTEGER = re.compile(r"^[+-]?\d{1,18}$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


@dataclass(frozen=True, slots=True)
class ParsedCsv:
    """The rows of a CSV as lead objects, and how each header was read."""

    rows: list[dict[str, Any]]
    columns: list[ColumnMapping]
    delimiter: str


def _fold(header: str) -> str:
    return re.sub(r"[\s_\-.]+", "", header.strip().lower())


def field_of(header: str) -> str | None:
    """The lead field a header names (`custom.<name>` for a custom field), or None."""
    stripped = header.strip()
    if stripped.lower().startswith(CUSTOM_PREFIX) and len(stripped) > len(CUSTOM_PREFIX):
        return CUSTOM_PREFIX + stripped[len(CUSTOM_PREFIX) :]
    return _FIELD_OF.get(_fold(stripped))


def _delimiter(first_line: str) -> str:
    """The delimiter the header row uses: whichever of `,` `;` tab it holds most of."""
    counts = {d: first_line.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _typed(value: str) -> Any:
    """A number when the text is one (an integer stays an integer), else the text."""
    if _INTEGER.match(value):
        return int(value)
    if _NUMBER.match(value):
        number = float(value)
        # 1e999 is no number JSON can hold: it stays text.
        return number if math.isfinite(number) else value
    return value


def parse_csv(content: bytes, *, infer_types: bool = False) -> ParsedCsv:
    """Rows of an uploaded CSV as lead objects; `infer_types` turns numeric custom values into
    numbers (they stay text otherwise)."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationFailed("The file is not UTF-8 text", code="invalid_csv") from exc
    delimiter = _delimiter(text.split("\n", 1)[0])
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    headers = [h for h in (reader.fieldnames or []) if h is not None]
    mapping = {header: field_of(header) for header in headers}
    unknown = [header for header, field in mapping.items() if field is None]
    if unknown:
        raise ValidationFailed(
            f"Unknown CSV columns: {', '.join(unknown)}; name lead fields, or custom fields "
            "as custom.<name>",
            code="invalid_csv",
            columns=unknown,
        )
    fields = list(mapping.values())
    if "email" not in fields:
        raise ValidationFailed(
            "The CSV needs a header row with an email column", code="invalid_csv"
        )
    repeated = sorted({f for f in fields if f is not None and fields.count(f) > 1})
    if repeated:
        raise ValidationFailed(
            f"Several columns name the same field: {', '.join(repeated)}",
            code="invalid_csv",
            fields=repeated,
        )
    rows: list[dict[str, Any]] = []
    try:
        for record in reader:
            if len(rows) >= MAX_IMPORT_ROWS:
                raise ValidationFailed(
                    f"A CSV import takes at most {MAX_IMPORT_ROWS} rows", code="too_many_rows"
                )
            row: dict[str, Any] = {}
            custom: dict[str, Any] = {}
            for header, value in record.items():
                if header is None:
                    row["__extra__"] = value
                    continue
                value = (value or "").strip() if isinstance(value, str) else value
                if value == "" or value is None:
                    continue
                field = mapping[header]
                assert field is not None
                if field.startswith(CUSTOM_PREFIX):
                    name = field[len(CUSTOM_PREFIX) :]
                    custom[name] = _typed(value) if infer_types else value
                else:
                    row[field] = value
            if custom:
                row["custom_fields"] = custom
            rows.append(row)
    except csv.Error as exc:
        raise ValidationFailed(f"The CSV cannot be read: {exc}", code="invalid_csv") from exc
    if not rows:
        raise ValidationFailed("The CSV has no data rows", code="invalid_csv")
    columns = [ColumnMapping(header=h, field=f) for h, f in mapping.items() if f is not None]
    return ParsedCsv(rows, columns, delimiter)
