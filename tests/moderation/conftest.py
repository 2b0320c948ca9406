"""Fixtures for the moderation tests: a logged-in moderator and reading back the audit log."""
import pytest

from crowdfund.extensions import db
from crowdfund.moderation.models import AuditEntry


@pytest.fixture
def moderator(make_user):
    return make_user(role="moderator", display_name="Mira Moderator")


@pytest.fixture
def as_moderator(auth, moderator):
    """The client logged in as the moderator; returns the moderator."""
    auth.login(moderator)
    return moderator


@pytest.fixture
def audit_entries():
    """The audit entries of one campaign, oldest first, read fresh from the database."""

    def entries(campaign_id):
        db.session.expire_all()
        return list(db.session.execute(
            db.select(AuditEntry).where(AuditEntry.campaign_id == campaign_id).order_by(AuditEntry.id)).scalars())

    return entries
