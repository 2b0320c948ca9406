from datetime import date
from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l
from crowdfund.forms import Form as FlaskForm  # the project's input layer (crowdfund/forms.py)
from wtforms import BooleanField, DateField, IntegerField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from crowdfund import money
from crowdfund.campaigns.models import MAX_DURATION_DAYS, MIN_DURATION_DAYS

CURRENCY_CHOICES = [SelectChoice(code, code) for code in money.CURRENCIES]
FUNDING_CHOICES = [
    SelectChoice("all_or_nothing", _l("All or nothing: backers are charged only if the goal is met")),
    SelectChoice("flexible", _l("Flexible: backers are charged when they pledge; you keep what is raised")),
]


class AmountField(StringField):
    """An amount typed in the currency's major unit ("1250.50"); after validation `.minor`
    holds it in minor units. The currency is the form's `currency_code`."""

    def __init__(self, label=None, validators=None, allow_zero=False, **kwargs):
        super().__init__(label, validators, **kwargs)
        self.allow_zero = allow_zero
        self.minor = None

    def pre_validate(self, form):
        self.minor = None
        if not (self.data or "").strip():
            return  # DataRequired / Optional decide whether empty is allowed
        try:
            self.minor = money.parse_amount(self.data, form.currency_code)
        except money.AmountError as error:
            raise ValidationError(str(error)) from None
        if self.minor == 0 and not self.allow_zero:
            raise ValidationError(_l("The amount must be more than zero."))


class CampaignForm(FlaskForm):
    """A form whose amounts are in one campaign's currency."""

    def __init__(self, *args, currency: str = "USD", **kwargs):
        super().__init__(*args, **kwargs)
        self.currency_code = currency


class NewCampaignForm(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(min=3, max=120)])
    category_id = SelectField(_l("Category"), coerce=int, validators=[InputRequired()])
    currency = SelectField(_l("Currency"), choices=CURRENCY_CHOICES, default="USD")
    funding_model = RadioField(_l("Funding model"), choices=FUNDING_CHOICES, default="all_or_nothing")


class BasicsForm(CampaignForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(min=3, max=120)])
    blurb = StringField(_l("Blurb"), validators=[Optional(), Length(max=200)],
                        description=_l("One sentence that says what you are making, shown on cards."))
    category_id = SelectField(_l("Category"), coerce=int, validators=[InputRequired()])
    funding_model = RadioField(_l("Funding model"), choices=FUNDING_CHOICES)
    currency = SelectField(_l("Currency"), choices=CURRENCY_CHOICES)
    goal = AmountField(_l("Funding goal"), validators=[Optional()])
    duration_days = IntegerField(
        _l("Duration in days"), validators=[InputRequired(), NumberRange(MIN_DURATION_DAYS, MAX_DURATION_DAYS)],
        description=_l("From launch to deadline: 1 to 60 days. Shorter campaigns often do better."))
    story = TextAreaField(_l("Story"), validators=[Length(max=50000)],
                          description=_l("Markdown. What you are making, who you are, why it matters."),
                          render_kw={"rows": 14})
    risks = TextAreaField(_l("Risks and challenges"), validators=[Length(max=10000)],
                          description=_l("What could go wrong, and how you will handle it."))

    def validate_currency(self, field):
        # The goal is typed in the currency being chosen (validated before the goal).
        self.currency_code = field.data


class BudgetLineForm(CampaignForm):
    purpose = StringField(_l("What the money is for"), validators=[DataRequired(), Length(max=200)])
    amount = AmountField(_l("Amount"), validators=[DataRequired()])


MIN_YEAR, MAX_YEAR = 2000, 2100  # the years a delivery month can name


class MonthField(StringField):
    """A month as YYYY-MM (the browser's <input type="month">); data is the first day."""

    def process_formdata(self, valuelist):
        self.data = None
        self.raw = (valuelist[0] if valuelist else "").strip()
        if not self.raw:
            return
        try:
            year, month = (int(part) for part in self.raw.split("-"))
            if not MIN_YEAR <= year <= MAX_YEAR:  # a 20-digit year would overflow date()
                raise ValueError
            self.data = date(year, month, 1)
        except (ValueError, OverflowError):
            self.data = None
            raise ValueError(_l("Enter a month as YYYY-MM, e.g. 2027-03.")) from None

    def _value(self):
        if isinstance(self.data, date):
            return self.data.strftime("%Y-%m")
        return getattr(self, "raw", "") or ""


class RewardTierForm(CampaignForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=120)])
    description = TextAreaField(_l("What backers get"), validators=[DataRequired(), Length(max=5000)])
    minimum_amount = AmountField(_l("Minimum pledge"), validators=[DataRequired()])
    quantity = IntegerField(_l("Limited quantity"), validators=[Optional(), NumberRange(min=1, max=1_000_000)],
                            description=_l("Leave empty for unlimited."))
    estimated_delivery = MonthField(_l("Estimated delivery (month)"), render_kw={"type": "month"})
    ships = BooleanField(_l("This reward is shipped"))
    shipping_amount = AmountField(_l("Shipping cost"), validators=[Optional()], allow_zero=True)

    def validate_estimated_delivery(self, field):
        if field.data and field.data < date.today().replace(day=1):
            raise ValidationError(_l("The delivery month cannot be in the past."))


class MilestoneForm(CampaignForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=120)])
    description = TextAreaField(_l("What will be delivered"), validators=[DataRequired(), Length(max=5000)])
    due_date = DateField(_l("Due date"), validators=[InputRequired(message=_l("Enter a date."))])
    release_percent = StringField(_l("Share of funds released (%)"), validators=[DataRequired()],
                                  description=_l("All milestones' shares add up to 100 %."))

    release_bp: int | None = None

    def validate_release_percent(self, field):
        try:
            value = Decimal(str(field.data).strip().rstrip("%").strip())
        except InvalidOperation:
            raise ValidationError(_l("Enter a percentage, like 25 or 12.5.")) from None
        if not value.is_finite():  # NaN, sNaN, Infinity: arithmetic on sNaN would raise
            raise ValidationError(_l("Enter a percentage, like 25 or 12.5."))
        # Range and precision before any arithmetic: 1e999999 * 100 overflows the decimal context,
        # and 1e-999999999 * 100 would underflow to a silent 0.
        if not 0 <= value <= 100 or value.as_tuple().exponent < -2 and value != value.quantize(Decimal("0.01")):
            raise ValidationError(_l("Enter a percentage from 0 to 100 with at most two decimals."))
        self.release_bp = int(value.quantize(Decimal("0.01")) * 100)

    def validate_due_date(self, field):
        if field.data and field.data <= date.today():
            raise ValidationError(_l("The due date must be in the future."))


class DecisionForm(FlaskForm):
    decision = RadioField(_l("Decision"), choices=[
        SelectChoice("approve", _l("Approve")), SelectChoice("request_changes", _l("Request changes")),
        SelectChoice("reject", _l("Reject"))],
        validators=[InputRequired(message=_l("Choose a decision."))])
    reason = TextAreaField(_l("Reason (shown to the founder)"),
                           validators=[DataRequired(message=_l("Every decision needs a reason.")), Length(max=5000)])


class ReasonForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(message=_l("Give a reason.")), Length(max=5000)])


class CancelForm(FlaskForm):
    reason = TextAreaField(_l("Why are you cancelling? (shown to backers)"),
                           validators=[DataRequired(message=_l("Tell your backers why.")), Length(max=5000)])
    confirm = BooleanField(_l("I understand that cancelling is final and every pledge is released"),
                           validators=[DataRequired(message=_l("Tick the box to confirm."))])
