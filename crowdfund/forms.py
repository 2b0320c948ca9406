"""The one input layer every form inherits (infrastructure: flask, wtforms, babel only).

`Form` (a FlaskForm) and `SubForm` (a plain wtforms Form, for FormField rows) bind every field with
two guards placed before the field's own validators:
- text fields refuse NUL and other C0/C1 control characters (a multi-line TextAreaField keeps
  tab, newline and carriage return). Refused, not stripped, so nothing typed is lost silently:
  the form is re-shown filled in with the message next to the field.
- number fields (IntegerField, DecimalField, FloatField) refuse non-finite values and anything
  outside the database's integer range (32-bit signed: the columns are `Integer`), so overflow becomes a field error, not a 500.
Domain limits (a year 2000–2100, a share 0–100) stay with the fields that know them.
"""
import math
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import Form as WTForm
from wtforms.fields import DecimalField, FloatField, IntegerField, StringField, TextAreaField
from wtforms.validators import StopValidation

DB_INT_MAX = 2 ** 31 - 1  # the project's integer columns are `Integer` (PostgreSQL INTEGER, 32-bit)
DB_INT_MIN = -(2 ** 31)

_MULTILINE_ALLOWED = frozenset("\t\n\r")


def control_characters(text: str, multiline: bool = False) -> bool:
    """True when text holds NUL or another C0/C1 control character (or DEL)."""
    for char in text:
        code = ord(char)
        if code < 32 or 127 <= code < 160:
            if multiline and char in _MULTILINE_ALLOWED:
                continue
            return True
    return False


class RefuseControlCharacters:
    """Stops validation (so no later validator or database query sees the text) with a field error."""

    def __init__(self, multiline: bool = False):
        self.multiline = multiline

    def __call__(self, form, field):
        data = field.data
        if isinstance(data, str) and control_characters(data, self.multiline):
            raise StopValidation(
                _l("Remove the control characters (such as NUL) from this text; they cannot be stored.")
                if not self.multiline else
                _l("Remove the control characters (such as NUL) from this text; only tabs and line breaks "
                   "are allowed."))


class BoundedNumber:
    """A finite number within the range of the database's integer columns."""

    def __init__(self, minimum=DB_INT_MIN, maximum=DB_INT_MAX):
        self.minimum, self.maximum = minimum, maximum

    def __call__(self, form, field):
        value = field.data
        if value is None:
            return
        if isinstance(value, (float, Decimal)):
            finite = value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)
            if not finite:
                raise StopValidation(_l("Enter a finite number."))
        if not self.minimum <= value <= self.maximum:
            raise StopValidation(_l("Enter a number from %(min)s to %(max)s.", min=self.minimum, max=self.maximum))


def guard_field(field, refuse_control_characters: bool = True):
    """Put the input guards before a bound field's own validators (a new list: the unbound
    field's validator list is shared by every instance of the form)."""
    if isinstance(field, StringField):
        if not refuse_control_characters:
            return field
        guard = RefuseControlCharacters(multiline=isinstance(field, TextAreaField))
    elif isinstance(field, (IntegerField, DecimalField, FloatField)):
        guard = BoundedNumber()
    else:
        return field
    field.validators = [guard, *field.validators]
    return field


class InputMeta:
    """wtforms combines the Meta classes of a form's bases, so this sits in front of FlaskForm's."""

    def bind_field(self, form, unbound_field, options):
        return guard_field(super().bind_field(form, unbound_field, options),
                           getattr(form, "refuse_control_characters", True))


class Form(FlaskForm):
    """The base of every form in the project (CSRF from FlaskForm, input guards from InputMeta).
    A form whose text is never stored (the editor's live preview) may set
    `refuse_control_characters = False`."""

    refuse_control_characters = True

    class Meta(InputMeta):
        pass


class SubForm(WTForm):
    """The base of a form used as rows inside another (FormField): the same guards, no CSRF."""

    class Meta(InputMeta):
        pass
