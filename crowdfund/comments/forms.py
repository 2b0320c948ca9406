from flask_babel import lazy_gettext as _l
from crowdfund.forms import Form as FlaskForm  # the project's input layer (crowdfund/forms.py)
from wtforms import HiddenField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from crowdfund.comments.models import MAX_COMMENT_LENGTH
from crowdfund.comments.services import MAX_REPORT_REASON


class CommentForm(FlaskForm):
    body = TextAreaField(_l("Your comment"), validators=[
        DataRequired(message=_l("Write something first.")),
        Length(max=MAX_COMMENT_LENGTH, message=_l("A comment can be at most %(max)d characters."))],
        description=_l("Plain text; line breaks are kept."), render_kw={"rows": 4, "maxlength": MAX_COMMENT_LENGTH})
    parent_id = HiddenField(validators=[Optional(), Regexp(r"^\d{1,9}$")])  # an id: below 2^31 (the id columns)

    @property
    def parent(self) -> int | None:
        return int(self.parent_id.data) if self.parent_id.data else None


class ReportForm(FlaskForm):
    reason = StringField(_l("Why? (optional)"), validators=[Optional(), Length(max=MAX_REPORT_REASON)],
                         render_kw={"maxlength": MAX_REPORT_REASON})


class HideForm(FlaskForm):
    reason = TextAreaField(_l("Reason (recorded in the audit log, shown to moderators)"),
                           validators=[DataRequired(message=_l("Give a reason.")), Length(max=2000)],
                           render_kw={"rows": 2})


class UnhideForm(FlaskForm):
    reason = StringField(_l("Reason (optional)"), validators=[Optional(), Length(max=2000)])
