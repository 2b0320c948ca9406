"""Which campaign a domain event is about: its payload names the campaign, or a pledge, update or
release of it. Shared by the outbox observers of crowdfund/credit and crowdfund/risk."""
from collections.abc import Iterable

from crowdfund.extensions import db
from crowdfund.payouts.models import Release
from crowdfund.pledges.models import Pledge
from crowdfund.updates.models import Update

# The payload keys that lead to a campaign, and the column that does.
VIA = {"pledge_id": (Pledge.id, Pledge.campaign_id), "update_id": (Update.id, Update.campaign_id),
       "release_id": (Release.id, Release.campaign_id)}
KEYS = ("campaign_id", *VIA)


def campaign_ids_of(payloads: Iterable[dict]) -> list[int | None]:
    """The campaign id each payload is about, None when it names none; one query per kind of id,
    whatever the number of payloads. A campaign_id is returned as given (not checked to exist)."""
    payloads = list(payloads)
    maps = {}
    for key, (id_column, campaign_column) in VIA.items():
        ids = {int(p[key]) for p in payloads if p.get("campaign_id") is None and p.get(key) is not None}
        maps[key] = dict(db.session.execute(
            db.select(id_column, campaign_column).where(id_column.in_(ids))).all()) if ids else {}
    found = []
    for payload in payloads:
        campaign_id = payload.get("campaign_id")
        for key in VIA:
            if campaign_id is None and payload.get(key) is not None:
                campaign_id = maps[key].get(int(payload[key]))
        found.append(int(campaign_id) if campaign_id is not None else None)
    return found
