"""The one-click unsubscribe link: works without signing in, asks before changing anything on GET,
accepts mail clients' one-click POST, and cannot be forged or turned on another user."""
from itsdangerous import URLSafeSerializer

from crowdfund.accounts.models import User
from crowdfund.extensions import db
from crowdfund.notifications import services
from crowdfund.updates.models import Update


def post_update(campaign, visibility="public"):
    update = Update(campaign_id=campaign.id, author_id=campaign.founder_id, title="News", body="Oven in.",
                    visibility=visibility)
    db.session.add(update)
    db.session.commit()
    services.notify("update", update.id)


def reload(user):
    db.session.expire_all()
    return db.session.get(User, user.id)


def test_the_link_in_an_email_unsubscribes_without_signing_in(csrf_app, make_campaign, make_pledge, make_user,
                                                             outbox):
    campaign = make_campaign(state="live")
    backer = make_user()
    make_pledge(campaign, backer=backer)
    post_update(campaign)
    link = outbox[0]["List-Unsubscribe"].strip("<>")
    assert link in outbox[0].get_body(preferencelist=("plain",)).get_content()
    path = link.split("://", 1)[1].split("/", 1)[1]
    client = csrf_app.test_client()

    page = client.get(f"/{path}")
    assert page.status_code == 200
    assert "Stop these emails?" in page.get_data(as_text=True)
    assert reload(backer).email_updates  # looking changes nothing

    done = client.post(f"/{path}")  # no session, no CSRF token: the signed link is the proof
    assert done.status_code == 200
    assert "You are unsubscribed" in done.get_data(as_text=True)
    backer = reload(backer)
    assert not backer.email_updates and backer.email_follows

    outbox.clear()
    post_update(campaign)
    assert outbox == []


def test_mail_clients_one_click_post_unsubscribes(csrf_app, make_user):
    user = make_user()
    token = services.unsubscribe_token(user.id, "follows")
    response = csrf_app.test_client().post(f"/unsubscribe/{token}", data="List-Unsubscribe=One-Click",
                                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    user = reload(user)
    assert not user.email_follows and user.email_updates


def test_a_forged_or_altered_token_changes_nothing(app, client, make_user):
    alice, bob = make_user(), make_user()
    token = services.unsubscribe_token(alice.id, "updates")
    payload, signature = token.rsplit(".", 1)
    # Bob's id with Alice's signature; a token signed with another key; one from another purpose (salt).
    with_bobs_id = URLSafeSerializer("whatever").dump_payload({"u": bob.id, "p": "updates"}).decode()
    forged = [f"{with_bobs_id}.{signature}",
              URLSafeSerializer("not-the-secret", salt="crowdfund-unsubscribe").dumps({"u": bob.id, "p": "updates"}),
              URLSafeSerializer(app.config["SECRET_KEY"], salt="email-verify").dumps({"u": bob.id, "p": "updates"}),
              URLSafeSerializer(app.config["SECRET_KEY"], salt="crowdfund-unsubscribe").dumps(
                  {"u": bob.id, "p": "password"}),
              "nonsense", f"{payload}.{signature[:-2]}xx"]
    for token in forged:
        assert client.get(f"/unsubscribe/{token}").status_code == 404
        assert client.post(f"/unsubscribe/{token}").status_code == 404
    bob = reload(bob)
    assert bob.email_updates and bob.email_follows
    assert reload(alice).email_updates


def test_settings_turn_the_two_kinds_of_email_on_and_off(login, make_user):
    user = make_user(display_name="Pat Prefs")
    client = login(user)
    page = client.get("/me/settings").get_data(as_text=True)
    assert 'name="email_updates"' in page and 'name="email_follows"' in page

    response = client.post("/me/settings", data={"display_name": "Pat Prefs", "bio": "", "email_follows": "y"})
    assert response.status_code == 302
    user = reload(user)
    assert not user.email_updates and user.email_follows
    client.post("/me/settings", data={"display_name": "Pat Prefs", "email_updates": "y"})
    user = reload(user)
    assert user.email_updates and not user.email_follows
