"""The API's JSON parser: DRF's, refusing strings that are not Unicode text and nesting too deep to decode.

JSON may escape half of a UTF-16 surrogate pair on its own (``"\\ud800"``). Python decodes that into a ``str``
that cannot be encoded to UTF-8, so it would fail later, wherever the text is hashed, stored or sent on (a 500).
Such a body is refused as it is parsed, with a 400 that names where the string is.
"""

from __future__ import annotations

import io
import re
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# An escaped surrogate anywhere in the raw body (pairs included): only then is the parsed data searched.
_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE = re.compile("[\ud800-\udfff]")


def unpaired_surrogate(data: Any) -> tuple[str, str] | None:
    """The location (``items[0].content``) and escaped form of the first string in ``data`` holding an unpaired
    surrogate, or None. Iterative, so the deepest document the JSON decoder accepts cannot exhaust the stack."""
    stack: list[tuple[Any, str]] = [(data, "")]
    while stack:
        value, where = stack.pop()
        if isinstance(value, str):
            found = _SURROGATE.search(value)
            if found is not None:
                return where or "the body", f"\\u{ord(found.group()):04x}"
        elif isinstance(value, dict):
            for key, item in reversed(value.items()):
                found = _SURROGATE.search(key)
                if found is not None:
                    return f"a key of {where or 'the body'}", f"\\u{ord(found.group()):04x}"
                stack.append((item, f"{where}.{key}" if where else key))
        elif isinstance(value, list):
            for index in range(len(value) - 1, -1, -1):
                stack.append((value[index], f"{where}[{index}]"))
    return None


class UnicodeJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        body = stream.read() if stream is not None else b""
        try:
            data = super().parse(io.BytesIO(body), media_type, parser_context)
        except RecursionError:
            raise ParseError("arrays and objects are nested too deeply") from None
        if _ESCAPED_SURROGATE.search(body):
            found = unpaired_surrogate(data)
            if found is not None:
                where, escaped = found
                raise ParseError(
                    f"the string at {where} holds an unpaired UTF-16 surrogate ({escaped}), which is not a Unicode "
                    "character; send the text as UTF-8 or escape both halves of the pair"
                )
        return data
