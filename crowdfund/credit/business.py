"""Business details: a founder declares them, a moderator checks them against a document
(audit-logged). Flushes only; the routes commit."""
from datetime import datetime

from flask_babel import gettext as _

from crowdfund.accounts.models import User
from crowdfund.credit.models import BusinessDetails
from crowdfund.errors import ValidationFailed
from crowdfund.extensions import db
from crowdfund.moderation.services import record_action, require_moderator
from crowdfund.outbox import emit


def business_of(user_id: int) -> BusinessDetails | None:
    return db.session.get(BusinessDetails, user_id)


def declare(user, name: str, registration_number: str, address: str, now: datetime) -> BusinessDetails:
    """Save what the founder declares. Any change makes the details "declared" again (the check is
    cleared) and emits "business.declared"; saving the same details changes nothing. Flushes."""
    values = {"name": (name or "").strip(), "registration_number": (registration_number or "").strip(),
              "address": (address or "").strip()}
    if not values["name"] or not values["address"]:
        raise ValidationFailed(_("Enter the business name and address."))
    details = business_of(user.id)
    if details is None:
        details = BusinessDetails(user_id=user.id)
        db.session.add(details)
    elif all(getattr(details, key) == value for key, value in values.items()):
        return details
    for key, value in values.items():
        setattr(details, key, value)
    details.declared_at = now
    details.checked_at, details.checked_by_id, details.check_note = None, None, ""
    db.session.flush()
    emit("business.declared", now=now, user_id=user.id)
    return details


def check(moderator, user_id: int, note: str, now: datetime) -> BusinessDetails:
    """A moderator marks the user's declared details checked against the document the note names
    (audit-logged, emits "business.checked"). Flushes."""
    require_moderator(moderator)
    note = (note or "").strip()
    if not note:
        raise ValidationFailed(_("Name the document you checked the details against."))
    details = business_of(user_id)
    if details is None or db.session.get(User, user_id) is None:
        raise ValidationFailed(_("This user has declared no business details."))
    details.checked_at, details.checked_by_id, details.check_note = now, moderator.id, note
    record_action(moderator, "business_checked", None, note,
                  {"user_id": user_id, "name": details.name, "registration_number": details.registration_number})
    emit("business.checked", now=now, user_id=user_id)
    return details
