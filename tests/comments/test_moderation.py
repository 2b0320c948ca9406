"""Anyone signed in reports a comment once; moderators see open reports, hide a comment with a
reason (audit-logged), and unhide it. A hidden comment disappears for everyone but moderators; the
replies to it stay."""
import pytest

from crowdfund.comments.models import CommentReport
from crowdfund.extensions import db
from crowdfund.moderation.models import AuditEntry

from .helpers import comments_in_db, read_comments


@pytest.fixture
def moderator(make_user):
    return make_user(role="moderator", display_name="Mira Moderator")


@pytest.fixture
def rude(live, make_user, make_pledge, add_comment):
    """A rude comment by a backer."""
    author = make_user(display_name="Rex Rude")
    make_pledge(live, backer=author, state="active")
    return add_comment(live, author, "Buy cheap pills at spam.example")


def reports():
    return list(db.session.execute(db.select(CommentReport).order_by(CommentReport.id)).scalars())


def audit(action):
    return list(db.session.execute(db.select(AuditEntry).where(AuditEntry.action == action)).scalars())


def test_anyone_signed_in_reports_a_comment_once(login, live, rude, make_user):
    reader = make_user()  # not a backer: reporting is open to everyone signed in
    reader_client = login(reader)

    first = reader_client.post(f"/comments/{rude.id}/report", data={"reason": "Spam"}, follow_redirects=True)
    second = reader_client.post(f"/comments/{rude.id}/report", data={"reason": "Spam again"}, follow_redirects=True)

    assert "the moderators will look at this comment" in first.get_data(as_text=True)
    assert "You have already reported this comment." in second.get_data(as_text=True)
    assert [(r.reporter_id, r.reason) for r in reports()] == [(reader.id, "Spam")]
    assert "You reported this comment." in reader_client.get(f"/c/{live.slug}").get_data(as_text=True)


def test_a_report_needs_no_reason_and_others_may_report_too(login, rude, make_user):
    for user in (make_user(), make_user()):
        assert login(user).post(f"/comments/{rude.id}/report").status_code == 303

    assert [r.reason for r in reports()] == ["", ""]


def test_a_visitor_is_asked_to_log_in_and_nobody_reports_their_own_comment(client, login, rude):
    assert client.post(f"/comments/{rude.id}/report").headers["Location"].startswith("/login")
    author = db.session.get(type(rude.author), rude.author_id)
    assert login(author).post(f"/comments/{rude.id}/report").status_code == 403
    assert reports() == []


def test_a_comment_one_cannot_read_cannot_be_reported(login, live, backer, make_user, make_update, add_comment):
    update = make_update(live, "backers")
    secret = add_comment(live, backer, "Backers only", update=update)

    assert login(make_user()).post(f"/comments/{secret.id}/report").status_code == 404
    assert login(make_user()).post("/comments/999999/report").status_code == 404
    assert reports() == []


def test_reported_comments_page_is_for_moderators_only(client, login, make_user, founder):
    assert client.get("/moderation/comments").headers["Location"].startswith("/login")
    assert login(make_user()).get("/moderation/comments").status_code == 403
    assert login(founder).get("/moderation/comments").status_code == 403


def test_moderators_see_open_reports_with_the_comment_and_reasons(login, live, rude, make_user, moderator):
    login(make_user(display_name="Rita Reporter")).post(f"/comments/{rude.id}/report", data={"reason": "It is spam"})

    page = login(moderator).get("/moderation/comments").get_data(as_text=True)

    assert "Buy cheap pills at spam.example" in page
    assert "Rita Reporter" in page and "It is spam" in page and "Rex Rude" in page
    assert f'href="/c/{live.slug}#comment-{rude.id}"' in page
    assert "Reported comments" in login(moderator).get("/moderation/").get_data(as_text=True)


def test_a_hidden_comment_disappears_for_everyone_but_moderators(
        client, login, live, rude, backer, founder, make_user, moderator, add_comment):
    reply = add_comment(live, backer, "Please stop posting spam", parent=rude)
    login(make_user()).post(f"/comments/{rude.id}/report", data={"reason": "Spam"})
    moderator_client = login(moderator)

    response = moderator_client.post(f"/moderation/comments/{rude.id}/hide", data={"reason": "Advertising"})

    assert response.status_code == 303
    author = db.session.get(type(founder), rude.author_id)
    for viewer in (client, login(backer), login(founder), login(author), login(make_user())):
        page = viewer.get(f"/c/{live.slug}").get_data(as_text=True)
        shown, _tags = read_comments(page)
        assert "Buy cheap pills" not in page and "Advertising" not in page
        assert "Rex Rude" not in shown[rude.id].text
        assert shown[rude.id].text.strip() == "This comment was hidden by a moderator."
        assert shown[reply.id].body == "Please stop posting spam"  # the reply stays
        assert shown[reply.id].in_replies_of == rude.id
    shown, _tags = read_comments(moderator_client.get(f"/c/{live.slug}").get_data(as_text=True))
    assert shown[rude.id].body == "Buy cheap pills at spam.example"
    assert shown[rude.id].hidden_badge and "Advertising" in shown[rude.id].text
    # the report is closed; the moderation page lists the comment under "Recently hidden"
    assert all(r.resolved_at is not None for r in reports())
    moderation_page = moderator_client.get("/moderation/comments").get_data(as_text=True)
    assert "No open reports." in moderation_page and f'id="hidden-{rude.id}"' in moderation_page


def test_a_hidden_comment_without_replies_leaves_no_trace_and_cannot_be_replied_to(
        client, login, live, rude, backer, moderator):
    login(moderator).post(f"/moderation/comments/{rude.id}/hide", data={"reason": "Spam"})

    page = client.get(f"/c/{live.slug}").get_data(as_text=True)
    response = login(backer).post(f"/c/{live.slug}/comments", data={"body": "Hi", "parent_id": str(rude.id)})

    assert "Buy cheap pills" not in page and "This comment was hidden" not in page
    assert "No comments yet." in page
    assert response.status_code == 422
    assert login(backer).post(f"/comments/{rude.id}/report").status_code == 404


def test_hiding_and_unhiding_are_audit_logged(client, login, live, rude, moderator):
    moderator_client = login(moderator)

    moderator_client.post(f"/moderation/comments/{rude.id}/hide", data={"reason": "Advertising"})
    moderator_client.post(f"/moderation/comments/{rude.id}/unhide", data={"reason": "It was a real shop"})

    [hidden] = audit("hide_comment")
    [unhidden] = audit("unhide_comment")
    assert (hidden.actor_id, hidden.campaign_id, hidden.reason) == (moderator.id, live.id, "Advertising")
    assert hidden.details["comment_id"] == rude.id
    assert (unhidden.actor_id, unhidden.reason, unhidden.details["comment_id"]) == (
        moderator.id, "It was a real shop", rude.id)
    assert "Buy cheap pills at spam.example" in client.get(f"/c/{live.slug}").get_data(as_text=True)
    log = moderator_client.get("/moderation/audit").get_data(as_text=True)
    assert "hide comment" in log and "Advertising" in log


def test_hiding_needs_a_reason(login, live, rude, moderator):
    moderator_client = login(moderator)

    response = moderator_client.post(f"/moderation/comments/{rude.id}/hide", data={"reason": "  "})

    assert response.status_code == 422
    assert "Give a reason." in response.get_data(as_text=True)
    assert comments_in_db()[0].hidden_at is None
    assert audit("hide_comment") == []


def test_only_moderators_hide_or_unhide(client, login, live, rude, founder, backer):
    for user_client in (login(founder), login(backer)):
        assert user_client.post(f"/moderation/comments/{rude.id}/hide", data={"reason": "x"}).status_code == 403
        assert user_client.post(f"/moderation/comments/{rude.id}/unhide").status_code == 403
    assert client.post(f"/moderation/comments/{rude.id}/hide", data={"reason": "x"}).status_code == 302
    assert comments_in_db()[0].hidden_at is None


def test_hiding_twice_or_unhiding_a_shown_comment_is_refused(login, rude, moderator):
    moderator_client = login(moderator)

    assert moderator_client.post(f"/moderation/comments/{rude.id}/unhide").status_code == 409
    assert moderator_client.post(f"/moderation/comments/{rude.id}/hide", data={"reason": "Spam"}).status_code == 303
    assert moderator_client.post(f"/moderation/comments/{rude.id}/hide", data={"reason": "Spam"}).status_code == 409
    assert len(audit("hide_comment")) == 1


def test_a_moderator_hides_from_the_campaign_page_and_returns_there(login, live, rude, moderator):
    moderator_client = login(moderator)
    page = moderator_client.get(f"/c/{live.slug}").get_data(as_text=True)
    assert f'action="/moderation/comments/{rude.id}/hide"' in page

    response = moderator_client.post(f"/moderation/comments/{rude.id}/hide",
                                     data={"reason": "Spam", "next": f"/c/{live.slug}#comment-{rude.id}"})

    assert response.headers["Location"] == f"/c/{live.slug}#comment-{rude.id}"
    offsite = moderator_client.post(f"/moderation/comments/{rude.id}/unhide", data={"next": "//evil.example/"})
    assert offsite.headers["Location"] == "/moderation/comments"


def test_keeping_a_reported_comment_closes_its_reports(login, live, rude, make_user, moderator):
    login(make_user()).post(f"/comments/{rude.id}/report", data={"reason": "I disagree"})
    moderator_client = login(moderator)

    moderator_client.post(f"/moderation/comments/{rude.id}/dismiss")

    assert "No open reports." in moderator_client.get("/moderation/comments").get_data(as_text=True)
    assert comments_in_db()[0].hidden_at is None
    assert len(audit("dismiss_comment_reports")) == 1
