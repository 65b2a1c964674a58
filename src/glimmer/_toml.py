"""TOML text to data, with a decode error turned into glimmer's error of the caller's kind.

``tomllib`` says where a decode error is only inside its message (``"... (at line 2,
column 3)"`` before Python 3.14), so the line and column are read from there and given back
as a :class:`~glimmer.errors.Location` with the caret line under the fault.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

from glimmer.errors import GlimmerError, Location, caret_context

__all__ = ["loads_toml"]

_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)")


def loads_toml(
    text: str,
    /,
    *,
    source: str | None,
    error: type[GlimmerError],
    hint: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    """``tomllib.loads(text)``; a decode error raises *error* at its line and column.

    Args:
        text: The TOML text.
        source: The file it came from (or a label), for the error's location.
        error: The class to raise, the caller's kind (``RecipeError``, ``GlossaryError``, ...).
        hint: How to fix it, in the caller's terms.
        code: A code other than *error*'s default.

    Raises:
        GlimmerError: Of class *error*: ``not valid TOML: <reason>`` at the fault.

    Examples:
        >>> from glimmer.errors import RecipeError
        >>> loads_toml("seed = 1", source="r.toml", error=RecipeError)
        {'seed': 1}
        >>> try:
        ...     loads_toml("seed = \\n", source="r.toml", error=RecipeError)
        ... except RecipeError as exc:
        ...     print(exc.code, exc.location, exc.message)
        G414 r.toml:1:8 not valid TOML: Invalid value
    """
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = _POSITION.search(str(exc))
        line, col = (int(found.group(1)), int(found.group(2))) if found else (None, None)
        raise error(
            f"not valid TOML: {_POSITION.sub('', str(exc)).strip()}",
            location=Location(source, line, col),
            context=caret_context(text, line, col) if line and col else "",
            hint=hint,
            code=code,
        ) from None
