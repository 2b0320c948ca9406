from flask_babel import lazy_gettext as _l
from wtforms import RadioField, SelectField
from wtforms.validators import DataRequired, InputRequired

from crowdfund.campaigns.forms import AmountField, CampaignForm
from crowdfund.money import amount_input

NO_REWARD = "none"


class PledgeForm(CampaignForm):
    """A pledge's terms in one campaign's currency. The rules that need the campaign (minimum per
    tier, shipping, sold out) are the service's; this form checks only that the input parses."""

    reward = RadioField(_l("Reward"), validators=[InputRequired(message=_l("Choose a reward, or no reward."))])
    amount = AmountField(_l("Pledge amount"), validators=[DataRequired(message=_l("Enter an amount."))],
                         description=_l("At least the reward's minimum; anything above it is extra support. "
                                        "Shipping is added on top."))
    shipping_country = SelectField(_l("Ship to"), default="",
                                   description=_l("Only needed for rewards that ship."))

    def __init__(self, *args, campaign, countries: dict[str, str], **kwargs):
        super().__init__(*args, currency=campaign.currency, **kwargs)
        self.reward.choices = [(NO_REWARD, _l("No reward, I just want to support it"))] + [
            (str(tier.id), tier.title) for tier in campaign.reward_tiers]
        self.shipping_country.choices = [("", _l("Choose a country"))] + list(countries.items())
        self.tiers = {str(tier.id): tier for tier in campaign.reward_tiers}

    @property
    def chosen_tier(self):
        return self.tiers.get(self.reward.data)

    @classmethod
    def data_for(cls, pledge, currency: str) -> dict:
        """The form's fields for an existing pledge (the amount without shipping)."""
        return {"reward": str(pledge.reward_tier_id) if pledge.reward_tier_id else NO_REWARD,
                "amount": amount_input(pledge.amount - pledge.shipping_amount, currency),
                "shipping_country": pledge.shipping_country or ""}
