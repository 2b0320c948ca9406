"""Where a form may send the user back to (infrastructure; no feature imports).

`safe_next(value, default)` returns value only when it is a same-site relative path; anything a
browser could read as another site is refused and the default returned: "//evil", "/\\evil",
"https:…", and control characters or whitespace, which browsers drop ("/\\t/evil.example" is
"//evil.example" to them) and which would make an invalid Location header (a newline: a 500).
"""
from urllib.parse import urlsplit


def safe_next(value, default: str) -> str:
    if not isinstance(value, str) or not value.startswith("/") or len(value) > 2048:
        return default
    if value.startswith("//") or "\\" in value:
        return default
    if any(ord(char) < 33 or 127 <= ord(char) < 160 or char.isspace() for char in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value
