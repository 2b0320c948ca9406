from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import RadioField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from crowdfund.updates.models import VISIBILITY_LABELS


class UpdateForm(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=160)])
    body = TextAreaField(_l("Update"), validators=[DataRequired(), Length(max=50000)],
                         description=_l("Markdown, as in your story; pictures from your gallery."),
                         render_kw={"rows": 14})
    visibility = RadioField(_l("Who can read it"), default="public",
                            choices=[SelectChoice(key, label) for key, label in VISIBILITY_LABELS.items()])
