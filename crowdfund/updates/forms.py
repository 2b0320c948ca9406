from flask_babel import lazy_gettext as _l
from crowdfund.forms import Form as FlaskForm, SubForm  # the project's input layer (crowdfund/forms.py)
from wtforms import DateField, FieldList, FormField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from crowdfund.campaigns.forms import AmountField
from crowdfund.clock import utcnow
from crowdfund.updates.models import MILESTONE_STATUS_LABELS, MILESTONE_STATUSES, VISIBILITY_LABELS


def _optional_int(value):
    if value in (None, "", "None"):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return value  # not a valid choice: pre_validate refuses it


class SpendLineForm(SubForm):
    """Spend on one budget line (the line is given by the entry's position in the campaign's budget)."""

    currency_code = "USD"  # set per form to the campaign's currency
    amount = AmountField(_l("Spent"), validators=[Optional()], allow_zero=True,
                         render_kw={"inputmode": "decimal", "autocomplete": "off"})
    note = StringField(_l("Note"), validators=[Optional(), Length(max=300)])

    def validate_note(self, field):
        if (field.data or "").strip() and not (self.amount.data or "").strip():
            raise ValidationError(_l("Enter the amount this note is about."))


class UpdateForm(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=160)])
    body = TextAreaField(_l("Update"), validators=[DataRequired(), Length(max=50000)],
                         description=_l("Markdown, as in your story; pictures from your gallery."),
                         render_kw={"rows": 14})
    visibility = RadioField(_l("Who can read it"), default="public",
                            choices=[SelectChoice(key, label) for key, label in VISIBILITY_LABELS.items()])
    # The milestone report (optional).
    milestone_id = SelectField(_l("Milestone"), coerce=_optional_int, choices=[], validate_choice=True)
    milestone_status = RadioField(_l("Status"), validate_choice=False,
                                  choices=[SelectChoice(key, MILESTONE_STATUS_LABELS[key]) for key in MILESTONE_STATUSES])
    milestone_new_date = DateField(_l("New date"), validators=[Optional()],
                                   description=_l("Delayed: when you now expect to reach it."))
    milestone_reason = TextAreaField(_l("Reason for the delay"), validators=[Length(max=5000)],
                                     description=_l("Delayed: what happened, and what you are doing about it."),
                                     render_kw={"rows": 3})
    milestone_evidence = TextAreaField(_l("Evidence"), validators=[Length(max=20000)],
                                       description=_l("Completed: what was done and how backers can see it. "
                                                      "Markdown; pictures from your gallery."),
                                       render_kw={"rows": 5})
    spend = FieldList(FormField(SpendLineForm))

    def __init__(self, *args, campaign=None, **kwargs):
        lines = list(campaign.budget_lines) if campaign is not None else []
        super().__init__(*args, **kwargs)
        self.campaign = campaign
        self.budget_lines = lines
        self.milestone_id.choices = [SelectChoice("", _l("No milestone report"))] + [
            SelectChoice(str(m.id), f"{m.title} ({MILESTONE_STATUS_LABELS.get(m.status, m.status)})")
            for m in (campaign.milestones if campaign is not None else [])]
        # One spend entry per budget line, in the budget's order, whatever the request sent.
        while len(self.spend.entries) < len(lines):
            self.spend.append_entry()
        while len(self.spend.entries) > len(lines):
            self.spend.pop_entry()
        for entry in self.spend:
            entry.form.currency_code = campaign.currency if campaign is not None else "USD"

    def spend_rows(self):
        """(budget line, entry form) pairs for the template."""
        return list(zip(self.budget_lines, (entry.form for entry in self.spend)))

    def validate(self, extra_validators=None):
        ok = super().validate(extra_validators)
        if self.milestone_id.data is None:
            if self.milestone_status.data or self.milestone_new_date.data or (self.milestone_reason.data or "").strip() \
                    or (self.milestone_evidence.data or "").strip():
                self.milestone_id.errors = list(self.milestone_id.errors) + [
                    _l("Choose the milestone this report is about.")]
                return False
            return ok
        status = self.milestone_status.data
        if status not in MILESTONE_STATUSES:
            self.milestone_status.errors = list(self.milestone_status.errors) + [_l("Choose the milestone's status.")]
            return False
        if status == "delayed":
            if self.milestone_new_date.data is None:
                if not self.milestone_new_date.errors:
                    self.milestone_new_date.errors = list(self.milestone_new_date.errors) + [
                        _l("Give the new date for a delayed milestone.")]
                ok = False
            elif self.milestone_new_date.data <= utcnow().date():
                self.milestone_new_date.errors = list(self.milestone_new_date.errors) + [
                    _l("The new date must be in the future.")]
                ok = False
            if not (self.milestone_reason.data or "").strip():
                self.milestone_reason.errors = list(self.milestone_reason.errors) + [
                    _l("Tell your backers why the milestone is delayed.")]
                ok = False
        if status == "completed" and not (self.milestone_evidence.data or "").strip():
            self.milestone_evidence.errors = list(self.milestone_evidence.errors) + [
                _l("Show what was done: describe the evidence (pictures from your gallery help).")]
            ok = False
        return ok
