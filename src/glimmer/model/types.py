"""Value types real GLIMMER patterns use: colours, timestamps, semantic versions.

Each is a ``str`` subclass: it is written back exactly as it was written (a colour keeps
its case, a timestamp its spelling) and compares equal to the plain string, while typed
views (``Color.rgb``, ``Timestamp.datetime``, ``Version.parts``) are a property away.
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any, NamedTuple, cast

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

__all__ = ["Color", "Timestamp", "Version", "VersionParts"]


class _PatternStr(str):
    """A ``str`` that pydantic validates against ``_regex`` and keeps verbatim."""

    _regex: re.Pattern[str]
    _example: str
    _what: str
    _json_format: str | None = None

    def __new__(cls, value: str) -> _PatternStr:
        if not isinstance(value, str):
            raise TypeError(f"{cls.__name__} takes a string, got {type(value).__name__}")
        if not cls._regex.fullmatch(value):
            raise ValueError(f"{value!r} is not {cls._what}; write it like {cls._example}")
        return super().__new__(cls, value)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(cls, core_schema.str_schema())

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        out = handler(schema)
        out["pattern"] = f"^{cls._regex.pattern}$"
        out["description"] = f"{cls._what[0].upper()}{cls._what[1:]}, e.g. {cls._example}"
        out["examples"] = [cls._example]
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str.__repr__(self)})"


class Color(_PatternStr):
    """A hex colour such as ``#FF69B4`` (also ``#RGB``, ``#RGBA``, ``#RRGGBBAA``).

    Examples:
        >>> Color("#ff69b4").rgb
        (255, 105, 180)
    """

    _regex = re.compile(r"#(?:[0-9A-Fa-f]{8}|[0-9A-Fa-f]{6}|[0-9A-Fa-f]{3,4})")
    _example = "#FF69B4"
    _what = "a hex colour"

    @property
    def rgb(self) -> tuple[int, int, int]:
        """Red, green and blue, 0-255 each."""
        h = self[1:]
        if len(h) in (3, 4):
            h = "".join(c * 2 for c in h[:3])
        return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)

    @property
    def alpha(self) -> float:
        """Opacity from 0.0 to 1.0 (1.0 when the colour has no alpha digits)."""
        h = self[1:]
        if len(h) == 4:
            return int(h[3] * 2, 16) / 255
        if len(h) == 8:
            return int(h[6:8], 16) / 255
        return 1.0

    @property
    def normalized(self) -> str:
        """Upper-case ``#RRGGBB`` form, for comparing colours written differently."""
        return "#{:02X}{:02X}{:02X}".format(*self.rgb)


class Timestamp(_PatternStr):
    """An ISO 8601 date or date-time, with ``T`` or a space, optional seconds, ``Z`` or offset.

    Examples:
        >>> Timestamp("2025-07-10 16:21:41").datetime
        datetime.datetime(2025, 7, 10, 16, 21, 41)
    """

    _regex = re.compile(
        r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?",
        re.ASCII,
    )
    _example = "2025-08-01T14:15:00Z"
    _what = "an ISO 8601 timestamp"

    def __new__(cls, value: str) -> Timestamp:
        obj = cast(Timestamp, super().__new__(cls, value))
        try:
            obj._parse()
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a real date or time ({exc})") from None
        return obj

    def _parse(self) -> _dt.datetime:
        text = self[:-1] + "+00:00" if self.endswith("Z") else str(self)
        if len(text) == 10:
            return _dt.datetime.combine(_dt.date.fromisoformat(text), _dt.time())
        return _dt.datetime.fromisoformat(text.replace(" ", "T", 1))

    @property
    def datetime(self) -> _dt.datetime:
        """The moment as a ``datetime`` (aware when the text names a zone or ``Z``)."""
        return self._parse()

    @property
    def date(self) -> _dt.date:
        """The calendar date."""
        return self._parse().date()

    @property
    def has_time(self) -> bool:
        """Whether a time of day was written (``2025-08-01`` has none)."""
        return len(self) > 10

    def as_utc(self) -> _dt.datetime:
        """The moment in UTC; a time without a zone is taken as UTC."""
        moment = self._parse()
        if moment.tzinfo is None:
            return moment.replace(tzinfo=_dt.UTC)
        return moment.astimezone(_dt.UTC)


class VersionParts(NamedTuple):
    """A semantic version split into its parts; compares by precedence of the numbers."""

    major: int
    minor: int
    patch: int
    prerelease: str | None
    build: str | None


class Version(_PatternStr):
    """A semantic version such as ``1.3.0`` (``MAJOR.MINOR.PATCH[-pre][+build]``).

    Examples:
        >>> Version("1.3.0").parts.minor
        3
    """

    _regex = re.compile(
        r"(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+([0-9A-Za-z.-]+))?", re.ASCII
    )
    _example = "1.0.0"
    _what = "a semantic version"

    @property
    def parts(self) -> VersionParts:
        """Major, minor, patch, pre-release and build."""
        m = self._regex.fullmatch(self)
        assert m is not None
        return VersionParts(int(m[1]), int(m[2]), int(m[3]), m[4], m[5])

    @property
    def major(self) -> int:
        return self.parts.major

    @property
    def minor(self) -> int:
        return self.parts.minor

    @property
    def patch(self) -> int:
        return self.parts.patch
