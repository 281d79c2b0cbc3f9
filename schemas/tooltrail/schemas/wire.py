"""Strict wire types: what a reader accepts is exactly what the JSON Schema snapshots allow.

pydantic's lax mode would take ``"12.5"`` for a number, ``"yes"`` for a boolean or a Unix
time for a date-time; a producer in another language, generated from the snapshot, would
not. These types close that gap, so one contract is enforced on both sides:

* ``WireTimestamp``: an RFC 3339 date-time string with an explicit offset (``Z`` or
  ``±hh:mm``), a calendar-valid date between 1970 and 2199 and at most nine fraction digits.
  The snapshot carries the same regular expression (portable between Python and ECMA-262);
  Python callers may pass an aware ``datetime`` in the same year range.
* ``INTEGER``: a JSON integer (``2`` or ``2.0``, never ``true`` or ``"2"``).
* ``NUMBER``: a JSON number (never a string or a boolean).
* ``WireBool``: ``true`` or ``false`` only.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BeforeValidator, StrictBool, WithJsonSchema

MIN_YEAR, MAX_YEAR = 1970, 2199
#: A call longer than a week is not a tool call (and would not fit most time arithmetic).
MAX_ELAPSED_MS = 604_800_000
MAX_INT = 2**63 - 1

_YEAR = r"(?:19[7-9][0-9]|2[01][0-9]{2})"
_LEAP = r"(?:19(?:7[26]|8[048]|9[26])|20(?:[02468][048]|[13579][26])|21(?:0[48]|[2468][048]|[13579][26]))"  # noqa: E501 - one regex
_MONTH_DAY = (
    r"(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    r"|02-(?:0[1-9]|1[0-9]|2[0-8]))"
)
_TIME = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?"
_OFFSET = r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
#: ``$(?!\n)`` ends the match at the end of the text in Python and ECMA-262 alike.
RFC3339_PATTERN = rf"^(?:{_YEAR}-{_MONTH_DAY}|{_LEAP}-02-29)T{_TIME}{_OFFSET}$(?!\n)"
_RFC3339 = re.compile(RFC3339_PATTERN)


def _timestamp(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None or not MIN_YEAR <= value.year <= MAX_YEAR:
            raise ValueError(f"must be timezone-aware and between {MIN_YEAR} and {MAX_YEAR}")
        return value
    if not isinstance(value, str) or _RFC3339.match(value) is None:
        raise ValueError(
            "must be an RFC 3339 date-time string with an offset "
            f"(YYYY-MM-DDThh:mm:ss[.fff]Z or ±hh:mm) between {MIN_YEAR} and {MAX_YEAR}"
        )
    return value


def _integer(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be an integer")  # noqa: TRY004 - pydantic only converts ValueError
    return value


def _number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number")  # noqa: TRY004 - pydantic only converts ValueError
    return value


WireTimestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_timestamp),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": RFC3339_PATTERN}),
]
#: Put after the field's ``Field(...)`` constraints: ``Annotated[int, Field(ge=0), INTEGER]``.
INTEGER = BeforeValidator(_integer)
#: Likewise for numbers: ``Annotated[float, Field(ge=0, allow_inf_nan=False), NUMBER]``.
NUMBER = BeforeValidator(_number)
WireBool = StrictBool
