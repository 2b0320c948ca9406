from flask_babel import lazy_gettext as _l
from crowdfund.forms import Form as FlaskForm  # the project's input layer (crowdfund/forms.py)
from flask_wtf.file import FileField
from wtforms import HiddenField, StringField, TextAreaField
from wtforms.validators import AnyOf, DataRequired, Length

from crowdfund.media.models import MAX_ALT_LENGTH
from crowdfund.media.video import MAX_URL_LENGTH

ALT_HINT = _l("What the picture shows, for people using screen readers and when it cannot load.")


class CoverForm(FlaskForm):
    image = FileField(_l("Cover image (JPEG, PNG, WebP or GIF, up to 10 MB)"))
    alt = StringField(_l("Description (alt text)"), validators=[DataRequired(), Length(max=MAX_ALT_LENGTH)],
                      description=ALT_HINT)


class GalleryAddForm(FlaskForm):
    image = FileField(_l("Image (JPEG, PNG, WebP or GIF, up to 10 MB)"))
    alt = StringField(_l("Description (alt text)"), validators=[DataRequired(), Length(max=MAX_ALT_LENGTH)],
                      description=ALT_HINT)


class AltForm(FlaskForm):
    alt = StringField(_l("Description (alt text)"), validators=[DataRequired(), Length(max=MAX_ALT_LENGTH)])


class MoveForm(FlaskForm):
    direction = HiddenField(validators=[AnyOf(["up", "down"])])


class VideoForm(FlaskForm):
    url = StringField(_l("Video address (YouTube or Vimeo)"), validators=[Length(max=MAX_URL_LENGTH)],
                      description=_l("The page address of the video. Leave empty for no video."))


class PreviewForm(FlaskForm):
    refuse_control_characters = False  # nothing is stored; the renderer and sanitiser handle any text
    text = TextAreaField(validators=[Length(max=50000)])
