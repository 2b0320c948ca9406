from flask_babel import lazy_gettext as _l
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

from crowdfund.campaigns.forms import AmountField, CampaignForm


class RefundForm(CampaignForm):
    """A refund typed in the campaign's currency (`currency=` when building the form)."""

    amount = AmountField(_l("Amount to refund"), validators=[DataRequired(message=_l("Enter an amount."))])
    reason = TextAreaField(_l("Reason (recorded in the audit log and sent to the backer)"),
                           validators=[DataRequired(message=_l("Give a reason for the refund.")), Length(max=480)])
