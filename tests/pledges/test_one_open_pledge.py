"""One open pledge per backer and campaign, enforced by the database: a double click or a second tab
never makes a second pledge, so the deadline never charges a backer twice."""
import threading
from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from crowdfund.accounts.models import User
from crowdfund.campaigns.models import Campaign
from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.payments import gateway
from crowdfund.pledges import services
from crowdfund.pledges.models import OPEN_STATES, Pledge
from crowdfund.settlement import checkout
from crowdfund.ticker import run_periodic_jobs

from .helpers import confirm_card_in_browser, pledges_in

BACKERS, SUBMISSIONS = 10, 4


def _open_pledges_by_backer(campaign) -> dict[int, int]:
    counts: dict[int, int] = {}
    for pledge in pledges_in(campaign):
        if pledge.state in OPEN_STATES:
            counts[pledge.backer_id] = counts.get(pledge.backer_id, 0) + 1
    return counts


def test_the_database_refuses_a_second_open_pledge(app, make_campaign, make_user, make_pledge):
    campaign, backer = make_campaign(state="live"), make_user()
    make_pledge(campaign, backer=backer, state="active")

    with pytest.raises(IntegrityError):
        make_pledge(campaign, backer=backer, state="pending")
    db.session.rollback()
    # Settled pledges are history, not open: a cancelled one and a new one live side by side.
    make_pledge(campaign, backer=backer, state="cancelled")
    assert _open_pledges_by_backer(campaign) == {backer.id: 1}


def test_simultaneous_submissions_make_one_open_pledge_each_and_one_charge_at_the_deadline(
        app, live_campaign, make_user, stripe_standin):
    campaign = live_campaign()
    campaign_id = campaign.id
    backer_ids = [make_user().id for _ in range(BACKERS)]
    start = threading.Barrier(BACKERS * SUBMISSIONS)
    outcomes: list[tuple[int, str, int | None]] = []

    def submit(backer_id):
        # Each thread is one submission of the pledge form: its own app context, session, connection.
        start.wait(timeout=60)
        with app.app_context():
            try:
                campaign = db.session.get(Campaign, campaign_id)
                pledge = checkout.start_pledge(campaign, db.session.get(User, backer_id), None, 2500, None, utcnow())
                outcomes.append((backer_id, "created", pledge.id))
            except services.AlreadyPledged as error:
                db.session.rollback()
                outcomes.append((backer_id, "existing", error.pledge_id))
            except Exception as error:  # noqa: BLE001  (any other outcome fails the test below)
                db.session.rollback()
                outcomes.append((backer_id, f"{type(error).__name__}: {error}", None))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=submit, args=(backer_id,))
               for backer_id in backer_ids for _ in range(SUBMISSIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert len(outcomes) == BACKERS * SUBMISSIONS
    assert {outcome for _, outcome, _ in outcomes} <= {"created", "existing"}, outcomes
    assert _open_pledges_by_backer(campaign) == {backer_id: 1 for backer_id in backer_ids}
    winners = {backer_id: pledge_id for backer_id, outcome, pledge_id in outcomes if outcome == "created"}
    assert sorted(winners) == sorted(backer_ids)
    # Every refused submission was told which pledge the backer already has.
    assert all(pledge_id == winners[backer_id] for backer_id, outcome, pledge_id in outcomes if outcome == "existing")

    # Each backer saves a card; the campaign reaches its goal; the deadline charges each backer once.
    for pledge in pledges_in(campaign):
        confirm_card_in_browser(pledge)
        checkout.complete_pledge(db.session.get(Pledge, pledge.id), utcnow())
    campaign = db.session.get(Campaign, campaign_id)
    campaign.goal = BACKERS * 2500
    db.session.commit()
    run_periodic_jobs(campaign.deadline + timedelta(minutes=1))
    db.session.expire_all()
    charged = {}
    for intent in gateway.client().v1.payment_intents.list(params={"limit": 100}).auto_paging_iter():
        backer = intent.metadata.to_dict().get("pledge_id")
        charged[backer] = charged.get(backer, 0) + 1
    assert sorted(charged.values()) == [1] * BACKERS
    assert {p.state for p in pledges_in(db.session.get(Campaign, campaign_id))} == {"collected"}


def test_a_double_click_on_the_pledge_form_lands_on_the_one_pledge(app, live_campaign, make_user, login,
                                                                    stripe_standin):
    campaign = live_campaign()
    backer = make_user()
    clients = [login(backer) for _ in range(2)]
    start = threading.Barrier(len(clients))
    responses = []
    url = f"/c/{campaign.slug}/pledge"

    def click(client):
        start.wait(timeout=30)
        responses.append(client.post(url, data={"reward": "none", "amount": "25"}))

    threads = [threading.Thread(target=click, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    [pledge] = [p for p in pledges_in(campaign) if p.state in OPEN_STATES]
    assert sorted(r.status_code for r in responses) == [302, 302]
    # One click goes on to the card form of the new pledge, the other to that same pledge.
    assert sorted(r.headers["Location"].rsplit("/", 1)[-1] for r in responses) == ["card", "edit"]
    assert all(f"/pledges/{pledge.id}/" in r.headers["Location"] for r in responses)


def test_pledging_again_while_a_pledge_is_open_goes_to_it(app, live_campaign, make_user, login, make_pledge):
    campaign = live_campaign()
    backer = make_user()
    pledge = make_pledge(campaign, backer=backer, state="active")
    client = login(backer)

    response = client.post(f"/c/{campaign.slug}/pledge", data={"reward": "none", "amount": "25"})

    assert response.status_code == 302 and response.headers["Location"].endswith(f"/pledges/{pledge.id}/edit")
    assert _open_pledges_by_backer(campaign) == {backer.id: 1}
