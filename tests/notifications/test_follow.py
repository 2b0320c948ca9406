"""Following a campaign from its page: signed-in users, public campaigns, not one's own."""
from crowdfund.extensions import db
from crowdfund.notifications.models import Follow


def follows(user, campaign):
    return db.session.execute(db.select(db.func.count(Follow.id)).where(
        Follow.user_id == user.id, Follow.campaign_id == campaign.id)).scalar_one()


def test_a_signed_in_user_follows_and_unfollows_from_the_campaign_page(login, make_user, make_campaign):
    campaign = make_campaign(state="live")
    user = make_user()
    client = login(user)
    assert 'action="/c/%s/follow"' % campaign.slug in client.get(f"/c/{campaign.slug}").get_data(as_text=True)

    response = client.post(f"/c/{campaign.slug}/follow", follow_redirects=True)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "You follow" in page and "Unfollow" in page
    client.post(f"/c/{campaign.slug}/follow")  # twice is still one follow
    assert follows(user, campaign) == 1

    page = client.post(f"/c/{campaign.slug}/unfollow", follow_redirects=True).get_data(as_text=True)
    assert "You no longer follow" in page
    assert follows(user, campaign) == 0


def test_visitors_are_asked_to_sign_in_and_cannot_follow(client, make_campaign):
    campaign = make_campaign(state="live")
    assert "Sign in to follow" in client.get(f"/c/{campaign.slug}").get_data(as_text=True)
    response = client.post(f"/c/{campaign.slug}/follow")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert db.session.execute(db.select(db.func.count(Follow.id))).scalar_one() == 0


def test_no_following_ones_own_a_stopped_or_a_private_campaign(founder, founder_client, login, make_user,
                                                                make_campaign):
    own = make_campaign(founder=founder, state="live")
    assert f"/c/{own.slug}/follow" not in founder_client.get(f"/c/{own.slug}").get_data(as_text=True)
    assert founder_client.post(f"/c/{own.slug}/follow").status_code == 403

    client = login(make_user())
    cancelled = make_campaign(state="cancelled")
    assert client.post(f"/c/{cancelled.slug}/follow").status_code == 403
    draft = make_campaign(state="draft")
    assert client.post(f"/c/{draft.slug}/follow").status_code == 404
    assert client.get(f"/c/{own.slug}/follow").status_code == 405
    assert db.session.execute(db.select(db.func.count(Follow.id))).scalar_one() == 0


def test_following_needs_the_csrf_token(csrf_app, make_user, make_campaign):
    campaign = make_campaign(state="live")
    user = make_user()
    client = csrf_app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    client.post("/login", data={"email": user.email, "password": "correct horse battery", "csrf_token": token})

    assert client.post(f"/c/{campaign.slug}/follow").status_code == 400
    assert follows(user, campaign) == 0


def test_the_follow_box_costs_the_same_queries_whatever_the_number_of_followers(
        login, make_user, make_campaign, count_queries):
    campaign = make_campaign(state="live")
    viewer = make_user()
    client = login(viewer)
    db.session.add(Follow(user_id=viewer.id, campaign_id=campaign.id))
    db.session.commit()

    url = f"/c/{campaign.slug}"

    def statements():
        db.session.expunge_all()  # a request starts from an empty session, not with the test's objects
        with count_queries() as seen:
            assert client.get(url).status_code == 200
        return len(seen)

    few = statements()
    for _ in range(30):
        db.session.add(Follow(user_id=make_user().id, campaign_id=campaign.id))
    db.session.commit()
    assert statements() == few
