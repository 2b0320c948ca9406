"""URL converters (infrastructure). `<int:…>` in every route means a database id: 1 to 2^31-1.

Every id column is `Integer` (PostgreSQL INTEGER, 32-bit signed): a larger value is refused by
PostgreSQL ("integer out of range") and overflows SQLite's driver beyond 2^63, both a 500."""
from werkzeug.routing import IntegerConverter, UnicodeConverter, ValidationError

DB_ID_MAX = 2 ** 31 - 1  # the id columns' type; raise with a move to BigInteger


class BoundedIntConverter(IntegerConverter):
    """An id outside the id columns' range (or 0) is a 404, not an OverflowError or a database error."""

    def __init__(self, map, fixed_digits=0, min=1, max=DB_ID_MAX, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)

    def to_python(self, value: str):
        if len(value) > len(str(DB_ID_MAX)):  # also spares int() a string of thousands of digits
            raise ValidationError()
        return super().to_python(value)


class PlainTextConverter(UnicodeConverter):
    """The default `<name>` / `<string:name>` segment (slugs, category names), without control characters:
    PostgreSQL refuses NUL in a text parameter with an error, so such a URL is a 404 before any query."""

    def __init__(self, map, minlength=1, maxlength=None, length=None):
        super().__init__(map, minlength=minlength, maxlength=maxlength, length=length)
        self.regex = self.regex.replace("[^/]", "[^/\\x00-\\x1f\\x7f]")
