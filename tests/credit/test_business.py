"""Business details (issue 16): a founder declares them, a moderator checks them against a document
(audit-logged), any later change makes them "declared" again."""
import pytest
import json

from crowdfund.credit.models import BusinessDetails
from crowdfund.extensions import db
from crowdfund.moderation.models import AuditEntry
from crowdfund.outbox import OutboxEvent

pytestmark = pytest.mark.sqlite_only

DETAILS = {"name": "Leeds Bakery Ltd", "registration_number": "09876543", "address": "1 Oven Lane, Leeds"}


def _events(kind):
    return [json.loads(e.payload) for e in db.session.execute(
        db.select(OutboxEvent).where(OutboxEvent.kind == kind).order_by(OutboxEvent.id)).scalars()]


def _details(user_id):
    db.session.expire_all()
    return db.session.get(BusinessDetails, user_id)


def _business_text(html):
    start = html.index('id="business-details"')
    return html[start:html.index("</dd>", start)]


def test_a_founder_declares_business_details_shown_as_declared(login, make_user, client):
    founder = make_user()
    own = login(founder)
    assert own.get("/me/business").status_code == 200

    response = own.post("/me/business", data=DETAILS)

    assert response.status_code == 303
    details = _details(founder.id)
    assert (details.name, details.registration_number, details.address) == tuple(DETAILS.values())
    assert details.checked_at is None
    assert _events("business.declared") == [{"user_id": founder.id}]
    shown = _business_text(client.get(f"/u/{founder.id}").get_data(as_text=True))
    assert "Leeds Bakery Ltd" in shown and "declared" in shown and "checked on" not in shown


def test_a_moderator_checks_them_with_an_audit_entry_and_a_later_change_makes_them_declared_again(
        login, make_user, client):
    founder, moderator = make_user(), make_user(role="moderator")
    own = login(founder)
    own.post("/me/business", data=DETAILS)
    as_moderator = login(moderator)
    assert "Mark checked" in as_moderator.get(f"/u/{founder.id}").get_data(as_text=True)

    response = as_moderator.post(f"/moderation/users/{founder.id}/business/check",
                                 data={"note": "Companies House certificate 09876543"})

    assert response.status_code == 303
    details = _details(founder.id)
    assert details.checked_at is not None and details.checked_by_id == moderator.id
    [entry] = db.session.execute(db.select(AuditEntry).where(AuditEntry.action == "business_checked")).scalars()
    assert (entry.actor_id, entry.reason, entry.details["user_id"]) == (
        moderator.id, "Companies House certificate 09876543", founder.id)
    assert _events("business.checked") == [{"user_id": founder.id}]
    assert "checked on" in _business_text(client.get(f"/u/{founder.id}").get_data(as_text=True))

    # Saving the same details keeps the check; a change clears it.
    own.post("/me/business", data=DETAILS)
    assert _details(founder.id).checked_at is not None
    own.post("/me/business", data={**DETAILS, "address": "2 Oven Lane, Leeds"})
    details = _details(founder.id)
    assert details.checked_at is None and details.checked_by_id is None and details.address == "2 Oven Lane, Leeds"
    shown = _business_text(client.get(f"/u/{founder.id}").get_data(as_text=True))
    assert "declared" in shown and "checked on" not in shown
    assert len(_events("business.declared")) == 2


def test_only_moderators_check_business_details(login, make_user):
    founder, other = make_user(), make_user()
    login(founder).post("/me/business", data=DETAILS)

    for user in (founder, other):
        response = login(user).post(f"/moderation/users/{founder.id}/business/check", data={"note": "a passport"})
        assert response.status_code == 403

    assert _details(founder.id).checked_at is None
    assert db.session.execute(db.select(AuditEntry)).scalars().all() == []


def test_a_check_needs_a_note_naming_the_document(login, make_user):
    founder, moderator = make_user(), make_user(role="moderator")
    login(founder).post("/me/business", data=DETAILS)

    response = login(moderator).post(f"/moderation/users/{founder.id}/business/check", data={"note": "  "})

    assert response.status_code == 422
    assert "Name the document" in response.get_data(as_text=True)
    assert _details(founder.id).checked_at is None


def test_checking_a_user_without_business_details_changes_nothing(login, make_user):
    founder, moderator = make_user(), make_user(role="moderator")

    response = login(moderator).post(f"/moderation/users/{founder.id}/business/check", data={"note": "a passport"})

    assert response.status_code == 400
    assert _details(founder.id) is None
    assert db.session.execute(db.select(AuditEntry)).scalars().all() == []


def test_a_declaration_without_name_or_address_is_refused(login, make_user):
    founder = make_user()

    response = login(founder).post("/me/business", data={"name": "", "registration_number": "1", "address": ""})

    assert response.status_code == 422
    assert "Enter the business name." in response.get_data(as_text=True)
    assert _details(founder.id) is None


def test_business_details_need_signing_in(client):
    response = client.get("/me/business")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
