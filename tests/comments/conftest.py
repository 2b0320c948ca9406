"""A live campaign, its updates, and a client for each role that may or may not comment."""
import pytest

from crowdfund.comments.models import Comment
from crowdfund.extensions import db
from crowdfund.updates.models import Update


@pytest.fixture
def live(founder, make_campaign):
    return make_campaign(founder=founder, state="live")


@pytest.fixture
def make_update(founder):
    def make(campaign, visibility="public", title=None):
        update = Update(campaign_id=campaign.id, author_id=campaign.founder_id, visibility=visibility,
                        title=title or f"A {visibility} update", body="News about the oven.")
        db.session.add(update)
        db.session.commit()
        return update

    return make


@pytest.fixture
def backer(make_user, make_pledge, live):
    user = make_user(display_name="Bea Backer")
    make_pledge(live, backer=user, state="active")
    return user


@pytest.fixture
def add_comment():
    """A comment written straight into the database (not through the page)."""

    def add(campaign, author, body="Looking forward to the bread!", update=None, parent=None, **extra):
        comment = Comment(campaign_id=campaign.id, author_id=author.id, body=body,
                          update_id=update.id if update else None, parent_id=parent.id if parent else None, **extra)
        db.session.add(comment)
        db.session.commit()
        return comment

    return add

