"""(No tests here.) Shared set-up for the release tests: a successful campaign with collected pledges in the stand-in,
its founder's payout account onboarded there, and a milestone reported completed."""
import sys
import urllib.error
import urllib.request
from pathlib import Path

from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.payments import gateway
from crowdfund.payouts.models import PayoutAccount
from crowdfund.updates.models import Update

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "payments"))
from collected_pledges import collected_pledge  # noqa: E402,F401  (tests/payments)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def onboard_founder(founder) -> PayoutAccount:
    """An Express account made through the gateway, onboarded by posting the stand-in's form."""
    account_id = gateway.create_connect_account(founder.email, founder.id)
    url = gateway.account_link_url(account_id, "http://app.example/refresh", "http://app.example/return")
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        opener.open(urllib.request.Request(url, data=b"", method="POST"), timeout=10)
    except urllib.error.HTTPError as error:
        assert error.code == 303
    status = gateway.account_status(account_id)
    account = PayoutAccount(user_id=founder.id, stripe_account_id=account_id, details_submitted=status.details_submitted,
                            transfers_active=status.transfers_active, payouts_enabled=status.payouts_enabled,
                            checked_at=utcnow())
    db.session.add(account)
    db.session.commit()
    assert account.can_receive_transfers
    return account


def report_completed(campaign, milestone, title="Oven installed!") -> Update:
    update = Update(campaign_id=campaign.id, author_id=campaign.founder_id, title=title,
                    body="The oven is **in**: photos attached.", milestone_id=milestone.id,
                    milestone_status="completed", milestone_note="Inspection passed on Monday.")
    milestone.status, milestone.completed_on = "completed", utcnow().date()
    db.session.add(update)
    db.session.commit()
    return update


def transfers_of(campaign_id: int) -> list:
    return gateway.client().v1.transfers.list(params={"transfer_group": f"campaign-{campaign_id}", "limit": 100}).data
