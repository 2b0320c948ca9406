"""Forms of crowdfund/credit: reward receipts, business details, campaign reports and their review."""
from flask_babel import lazy_gettext as _l
from wtforms import RadioField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from crowdfund.forms import Form


class ReceiptForm(Form):
    """A backer's word on their reward."""

    state = RadioField(_l("Your answer"),
                       choices=[SelectChoice("received", _l("Yes, I received it")),
                                SelectChoice("not_received", _l("No, it has not arrived"))],
                       validators=[DataRequired(message=_l("Choose whether your reward arrived."))])
    note = TextAreaField(_l("Note for the founder (optional)"), validators=[Optional(), Length(max=500)])



class BusinessForm(Form):
    """The business details a founder declares (shown as "declared" until a moderator checks them)."""

    name = StringField(_l("Business name"), validators=[DataRequired(message=_l("Enter the business name.")),
                                                          Length(max=200)])
    registration_number = StringField(
        _l("Registration number (optional)"), validators=[Optional(), Length(max=80)],
        description=_l("The number the business is registered under, such as a company or VAT number."))
    address = TextAreaField(_l("Registered address"),
                            validators=[DataRequired(message=_l("Enter the address.")), Length(max=1000)])


class BusinessCheckForm(Form):
    """A moderator's record of checking business details against a document."""

    note = TextAreaField(_l("Document seen (recorded in the audit log)"),
                         validators=[DataRequired(message=_l("Name the document you checked the details against.")),
                                     Length(max=1000)])


class ReportForm(Form):
    """Reporting a campaign to the moderators."""

    reason = TextAreaField(_l("What is wrong with this campaign?"),
                           validators=[DataRequired(message=_l("Tell the moderators what is wrong.")),
                                       Length(max=5000)])


class ResolveReportForm(Form):
    """A moderator upholding or dismissing a report."""

    outcome = RadioField(_l("Outcome"),
                         choices=[SelectChoice("upheld", _l("Uphold")), SelectChoice("dismissed", _l("Dismiss"))],
                         validators=[DataRequired(message=_l("Choose uphold or dismiss."))])
    note = TextAreaField(_l("Note (recorded in the audit log)"),
                         validators=[DataRequired(message=_l("Give a reason.")), Length(max=2000)])

