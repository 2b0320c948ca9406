"""Forms of the risk pages."""
from flask_babel import lazy_gettext as _l
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

from crowdfund.forms import Form


class ClearForm(Form):
    """A moderator clears a campaign's current risk flags, saying why (audit-logged)."""

    reason = TextAreaField(_l("Why these flags are cleared (recorded in the audit log)"),
                           validators=[DataRequired(message=_l("Give a reason.")), Length(max=5000)])
