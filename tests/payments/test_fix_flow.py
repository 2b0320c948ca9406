"""The fix flow in the browser's place: a declined card replaced by a new one, a 3-D Secure payment
confirmed on-session through the stand-in's route, and what the founder sees of it all."""
import pytest

from crowdfund.payments import gateway
from crowdfund.settlement.fixing import settlement_summary
from crowdfund.campaigns.models import Campaign
from crowdfund.extensions import db
from crowdfund.ticker import run_periodic_jobs

from charging_support import (AFTER_DEADLINE, DECLINED, LAUNCHED, THREE_D_SECURE, VISA, data_attribute,
                              fresh_pledge, ledger_rows, payment_intents_by_pledge, pledge_with_card)


@pytest.fixture
def errored_pledge(make_campaign, make_user, make_pledge):
    """errored_pledge(card) → a pledge whose deadline charge with that card did not go through."""

    def make(number):
        campaign = make_campaign(state="live", goal=10_000, launched_at=LAUNCHED, duration_days=30)
        pledge = pledge_with_card(make_user, make_pledge, campaign, number, amount=12_000)
        run_periodic_jobs(AFTER_DEADLINE)
        return pledge

    return make


def _confirm_setup_in_browser(setup_intent_id, number):
    """What confirmCardSetup does with the card the backer typed."""
    card = gateway.client().v1.payment_methods.create(
        params={"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}})
    gateway.client().v1.setup_intents.confirm(setup_intent_id, params={"payment_method": card.id})


def test_declined_card_replaced_by_a_new_card_is_collected(app, stripe_standin, client, auth, errored_pledge):
    pledge = errored_pledge(DECLINED)
    auth.login(pledge.email)

    page = client.get(f"/pledges/{pledge.id}/fix")
    setup_intent_id = data_attribute(page.text, 'name="setup_intent_id" value')
    _confirm_setup_in_browser(setup_intent_id, VISA)
    response = client.post(f"/pledges/{pledge.id}/fix/card", data={"setup_intent_id": setup_intent_id})

    assert page.status_code == 200 and 'id="card-form"' in page.text
    assert response.status_code == 302 and response.location.endswith(f"/pledges/{pledge.id}")
    after = fresh_pledge(pledge.id)
    assert (after.state, after.card_summary, after.charge_attempts) == ("collected", "Visa •••• 4242", 2)
    assert [kind for kind, _, _ in ledger_rows(pledge.id)] == ["charge", "platform_fee"]
    assert payment_intents_by_pledge() == {str(pledge.id): 2}  # the declined one and the paid one
    assert gateway.client().v1.payment_methods.retrieve(pledge.card).customer is None  # old card forgotten


def test_new_card_that_is_declined_too_says_so_and_keeps_the_pledge_errored(app, stripe_standin, client, auth,
                                                                            errored_pledge):
    pledge = errored_pledge(DECLINED)
    auth.login(pledge.email)
    setup_intent_id = data_attribute(client.get(f"/pledges/{pledge.id}/fix").text, 'name="setup_intent_id" value')
    _confirm_setup_in_browser(setup_intent_id, DECLINED)

    response = client.post(f"/pledges/{pledge.id}/fix/card", data={"setup_intent_id": setup_intent_id})

    assert response.status_code == 422
    assert "Your new card was declined too" in response.text
    assert fresh_pledge(pledge.id).state == "errored"


def test_setup_intent_of_another_pledge_is_refused(app, stripe_standin, client, auth, errored_pledge):
    pledge, other = errored_pledge(DECLINED), errored_pledge(DECLINED)
    other_setup, _ = gateway.create_setup_intent(fresh_pledge(other.id).stripe_customer_id, other.id)
    _confirm_setup_in_browser(other_setup, VISA)
    auth.login(pledge.email)

    response = client.post(f"/pledges/{pledge.id}/fix/card", data={"setup_intent_id": other_setup})

    assert response.status_code == 422
    assert "That card form has expired" in response.text
    assert fresh_pledge(pledge.id).state == "errored"
    assert payment_intents_by_pledge().get(str(pledge.id)) == 1


def test_authentication_confirmed_on_session_collects_the_same_payment_intent(app, stripe_standin, client, auth,
                                                                             errored_pledge):
    pledge = errored_pledge(THREE_D_SECURE)
    payment_intent_id = fresh_pledge(pledge.id).stripe_payment_intent_id
    auth.login(pledge.email)

    page = client.get(f"/pledges/{pledge.id}/fix")
    client_secret = data_attribute(page.text, "data-client-secret")
    status, _ = stripe_standin.request(  # what the stand-in Stripe.js posts after "Complete authentication"
        "POST", f"/v1/payment_intents/{payment_intent_id}/_authenticate?success=true",
        {"key": stripe_standin.publishable_key, "client_secret": client_secret})
    response = client.post(f"/pledges/{pledge.id}/fix/confirmed")

    assert 'id="authenticate-form"' in page.text and status == 200
    assert response.status_code == 302
    after = fresh_pledge(pledge.id)
    assert (after.state, after.stripe_payment_intent_id) == ("collected", payment_intent_id)
    assert payment_intents_by_pledge() == {str(pledge.id): 1}
    assert [(kind, amount) for kind, amount, _ in ledger_rows(pledge.id)] == [("charge", 12_000), ("platform_fee", 600)]


def test_failed_authentication_offers_a_new_card(app, stripe_standin, client, auth, errored_pledge):
    pledge = errored_pledge(THREE_D_SECURE)
    payment_intent_id = fresh_pledge(pledge.id).stripe_payment_intent_id
    auth.login(pledge.email)
    client_secret = data_attribute(client.get(f"/pledges/{pledge.id}/fix").text, "data-client-secret")
    stripe_standin.request("POST", f"/v1/payment_intents/{payment_intent_id}/_authenticate?success=false",
                           {"key": stripe_standin.publishable_key, "client_secret": client_secret})

    response = client.post(f"/pledges/{pledge.id}/fix/confirmed")

    assert response.status_code == 422
    assert 'id="card-form"' in response.text
    assert fresh_pledge(pledge.id).state == "errored"


def test_fix_page_is_only_for_the_backer(app, stripe_standin, client, auth, make_user, errored_pledge):
    pledge = errored_pledge(DECLINED)
    stranger = make_user()

    anonymous = client.get(f"/pledges/{pledge.id}/fix")
    auth.login(stranger)
    page = client.get(f"/pledges/{pledge.id}/fix")
    post = client.post(f"/pledges/{pledge.id}/fix/confirmed")

    assert anonymous.status_code == 302 and "/login" in anonymous.location
    assert (page.status_code, post.status_code) == (404, 404)


def test_fix_form_without_csrf_token_is_refused(csrf_app, stripe_standin, errored_pledge):
    pledge = errored_pledge(THREE_D_SECURE)
    client = csrf_app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = str(pledge.backer_id)
        session["_fresh"] = True

    response = client.post(f"/pledges/{pledge.id}/fix/confirmed")

    assert response.status_code == 400
    assert fresh_pledge(pledge.id).state == "errored"


def test_founder_sees_collected_errored_dropped_and_still_expected(app, stripe_standin, client, auth, make_user,
                                                                  make_pledge, make_campaign):
    founder = make_user()
    campaign = make_campaign(founder=founder, state="live", goal=10_000, launched_at=LAUNCHED, duration_days=30)
    slug, campaign_id, founder_email = campaign.slug, campaign.id, founder.email
    pledge_with_card(make_user, make_pledge, campaign, VISA, amount=12_000)
    pledge_with_card(make_user, make_pledge, campaign, DECLINED, amount=3_000)
    dropped = pledge_with_card(make_user, make_pledge, campaign, DECLINED, amount=2_000)
    run_periodic_jobs(AFTER_DEADLINE)
    row = fresh_pledge(dropped.id)
    row.state = "dropped"
    db.session.commit()

    summary = settlement_summary(db.session.get(Campaign, campaign_id))
    auth.login(founder_email)
    page = client.get(f"/c/{slug}/settlement")
    auth.logout()
    auth.login(make_user())
    stranger = client.get(f"/c/{slug}/settlement")

    assert (summary.collected_count, summary.collected_amount) == (1, 12_000)
    assert (summary.errored_count, summary.errored_amount) == (1, 3_000)
    assert (summary.dropped_count, summary.dropped_amount, summary.still_expected) == (1, 2_000, 3_000)
    assert page.status_code == 200
    assert "Amount still expected" in page.text and "$30.00" in page.text and "$120.00" in page.text
    assert stranger.status_code == 404


def _setup_intents_of(pledge_id) -> list[str]:
    return [intent.id for intent in gateway.client().v1.setup_intents.list(params={"limit": 100}).auto_paging_iter()
            if intent.metadata and intent.metadata.to_dict().get("pledge_id") == str(pledge_id)]


def test_reloading_the_fix_page_reuses_its_setup_intent(app, stripe_standin, client, auth, errored_pledge):
    """Each view of the fix page used to create a SetupIntent: a card-testing surface. One fix session
    now has one, until a card is confirmed with it."""
    pledge = errored_pledge(DECLINED)
    auth.login(pledge.email)
    before = set(_setup_intents_of(pledge.id))

    shown = [data_attribute(client.get(f"/pledges/{pledge.id}/fix").text, 'name="setup_intent_id" value')
             for _ in range(4)]

    assert len(set(shown)) == 1
    assert set(_setup_intents_of(pledge.id)) - before == {shown[0]}


def test_the_fix_flow_is_rate_limited_like_pledging(app, stripe_standin, errored_pledge):
    from crowdfund import create_app

    pledge = errored_pledge(DECLINED)
    limited = create_app({**app.config, "RATELIMIT_ENABLED": True, "PLEDGE_RATE_LIMIT": "3 per minute"})
    with limited.app_context():
        client = limited.test_client()
        client.post("/login", data={"email": pledge.email, "password": "correct horse battery"})
        statuses = [client.get(f"/pledges/{pledge.id}/fix").status_code for _ in range(3)]
        statuses.append(client.post(f"/pledges/{pledge.id}/fix/card", data={"setup_intent_id": "seti_x"}).status_code)
        db.session.remove()
        db.engine.dispose()

    assert statuses == [200, 200, 200, 429]
