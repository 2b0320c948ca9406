from flask_babel import lazy_gettext as _l
from crowdfund.forms import Form as FlaskForm  # the project's input layer (crowdfund/forms.py)
from flask_wtf.file import FileField
from wtforms import BooleanField, EmailField, PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, EqualTo, Length, ValidationError

from crowdfund.accounts.services import find_user_by_email, password_problem


class PasswordRules:
    """Validator applying the platform's password policy (length, common passwords)."""

    def __call__(self, form, field):
        email = form.email.data if hasattr(form, "email") else None
        problem = password_problem(field.data or "", email)
        if problem:
            raise ValidationError(problem)


class SignupForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Email(check_deliverability=False), Length(max=254)])
    display_name = StringField(_l("Display name"), validators=[DataRequired(), Length(min=2, max=80)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), PasswordRules()],
                             description=_l("At least 8 characters, not a common password."))

    def validate_email(self, field):
        if find_user_by_email(field.data):
            raise ValidationError(_l("An account with that email already exists. Log in instead?"))


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Email(check_deliverability=False)])
    password = PasswordField(_l("Password"), validators=[DataRequired()])
    remember = BooleanField(_l("Remember me"))


class RequestResetForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Email(check_deliverability=False)])


class ResetPasswordForm(FlaskForm):
    password = PasswordField(_l("New password"), validators=[DataRequired(), PasswordRules()])
    confirm = PasswordField(_l("Repeat the new password"),
                            validators=[DataRequired(), EqualTo("password", _l("The two passwords differ."))])


class ProfileForm(FlaskForm):
    display_name = StringField(_l("Display name"), validators=[DataRequired(), Length(min=2, max=80)])
    bio = TextAreaField(_l("About you"), validators=[Length(max=2000)],
                        description=_l("Shown on your public profile. Markdown allowed."))
    avatar = FileField(_l("Avatar (JPEG, PNG, WebP or GIF)"))
    email_updates = BooleanField(_l("Email me updates, milestone reports and results of campaigns I back"))
    email_follows = BooleanField(_l("Email me when a campaign I follow posts a public update, 48 hours before its "
                                    "deadline, and when its founder launches a new campaign"))


class EmptyForm(FlaskForm):
    """A form with only the CSRF token, for buttons that POST."""
