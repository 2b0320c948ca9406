"""Milestone and spend reports in updates: the form's rules (422 next to the field, nothing saved,
values kept), what a report does to the milestone, who sees the reason, evidence and notes, and
the campaign page's budget table and milestone timeline."""
import re
from datetime import date, timedelta

import pytest

from crowdfund.campaigns.models import BudgetLine, Milestone
from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.updates import services
from crowdfund.updates.models import SpendReport, Update

REASON = "The oven factory flooded; a replacement unit ships in May"
NOTE = "Deposit paid to the confidential supplier"


def today() -> date:
    return utcnow().date()


def milestones_of(campaign) -> list[Milestone]:
    db.session.expire_all()
    return list(db.session.execute(db.select(Milestone).where(Milestone.campaign_id == campaign.id)
                                   .order_by(Milestone.due_date, Milestone.id)).scalars())


def lines_of(campaign) -> list[BudgetLine]:
    return list(db.session.execute(db.select(BudgetLine).where(BudgetLine.campaign_id == campaign.id)
                                   .order_by(BudgetLine.position, BudgetLine.id)).scalars())


def count(model) -> int:
    return db.session.execute(db.select(db.func.count()).select_from(model)).scalar_one()


def post(client, campaign, title="Oven news", body="How it went this month.", visibility="public",
         milestone=None, status=None, new_date=None, reason="", evidence="", spend=None):
    data = {"title": title, "body": body, "visibility": visibility,
            "milestone_id": str(milestone.id) if milestone is not None else "",
            "milestone_new_date": new_date.isoformat() if isinstance(new_date, date) else (new_date or ""),
            "milestone_reason": reason, "milestone_evidence": evidence}
    if status:
        data["milestone_status"] = status
    for i, (amount, note) in enumerate(spend or []):
        data[f"spend-{i}-amount"] = amount
        data[f"spend-{i}-note"] = note
    return client.post(f"/c/{campaign.slug}/updates/new", data=data)


@pytest.fixture
def funded(founder, make_campaign):
    return make_campaign(founder=founder, state="successful", goal=100_000)


def section(page: str, heading_id: str) -> str:
    start = page.index(f'id="{heading_id}"')
    return page[start:page.index("</section>", start)]


def test_done_when_milestone_one_completed_with_spend_on_two_lines_shows_on_the_campaign_page(
        client, founder_client, funded):
    first, second = milestones_of(funded)
    page = client.get(f"/c/{funded.slug}").get_data(as_text=True)
    assert "Planned" in section(page, "milestones-h") and "Completed" not in section(page, "milestones-h")

    response = post(founder_client, funded, title="The oven is in", milestone=first, status="completed",
                    evidence="Installed and **inspected** on Monday.",
                    spend=[("700.00", "Oven, paid in full"), ("150.50", "Electrician")])

    assert response.status_code == 302
    first, second = milestones_of(funded)
    assert (first.status, first.completed_on) == ("completed", today())
    assert second.status == "planned"
    assert sorted(r.amount for r in db.session.execute(db.select(SpendReport)).scalars()) == [15050, 70000]

    page = client.get(f"/c/{funded.slug}").get_data(as_text=True)
    timeline = section(page, "milestones-h")
    item = timeline[timeline.index(f'id="milestone-{first.id}"'):timeline.index(f'id="milestone-{second.id}"')]
    assert "Completed" in item and "Last reported" in item
    update = db.session.execute(db.select(Update)).scalar_one()
    assert f"/c/{funded.slug}/updates/{update.id}" in item
    budget = section(page, "budget-h")
    assert "Spent so far" in budget
    assert "$700.00" in budget and "$150.50" in budget and "$850.50" in budget  # per line and total
    # The update itself shows the report: badge, evidence as Markdown, the spend table with notes.
    update_page = client.get(f"/c/{funded.slug}/updates/{update.id}").get_data(as_text=True)
    assert "<strong>inspected</strong>" in update_page
    assert "Oven, paid in full" in update_page and "Electrician" in update_page
    assert 'class="badge status-completed"' in update_page


def test_a_delayed_milestone_gets_its_new_date_and_reason(client, founder_client, funded):
    first, _ = milestones_of(funded)
    new_date = first.due_date + timedelta(days=45)

    response = post(founder_client, funded, milestone=first, status="delayed", new_date=new_date, reason=REASON)

    assert response.status_code == 302
    first, _ = milestones_of(funded)
    assert (first.status, first.revised_due_date, first.completed_on) == ("delayed", new_date, None)
    update = db.session.execute(db.select(Update)).scalar_one()
    assert (update.milestone_status, update.milestone_new_date, update.milestone_note) == ("delayed", new_date, REASON)
    page = client.get(f"/c/{funded.slug}").get_data(as_text=True)
    timeline = section(page, "milestones-h")
    assert "Delayed" in timeline and "Now expected" in timeline
    assert REASON in client.get(f"/c/{funded.slug}/updates").get_data(as_text=True)


@pytest.mark.parametrize("fields, field_id, message", [
    ({"status": "delayed", "reason": REASON}, "milestone_new_date", "Give the new date"),
    ({"status": "delayed", "reason": REASON, "new_date": "yesterday"}, "milestone_new_date", ""),
    ({"status": "delayed", "reason": REASON, "new_date": "PAST"}, "milestone_new_date", "must be in the future"),
    ({"status": "delayed", "reason": REASON, "new_date": "TODAY"}, "milestone_new_date", "must be in the future"),
    ({"status": "delayed", "new_date": "FUTURE"}, "milestone_reason", "why the milestone is delayed"),
    ({"status": "completed", "evidence": "   "}, "milestone_evidence", "evidence"),
    ({}, "milestone_status", "Choose the milestone"),
    ({"status": "finished-ish"}, "milestone_status", "Choose the milestone"),
])
def test_an_incomplete_milestone_report_is_refused_next_to_the_field_and_the_text_kept(
        founder_client, funded, fields, field_id, message):
    first, _ = milestones_of(funded)
    dates = {"PAST": today() - timedelta(days=1), "TODAY": today(), "FUTURE": today() + timedelta(days=9)}
    if fields.get("new_date") in dates:
        fields = {**fields, "new_date": dates[fields["new_date"]]}

    response = post(founder_client, funded, title="Kept title", body="Kept body text", milestone=first, **fields)

    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert f'id="{field_id}-error"' in page
    error = re.search(rf'<p class="error" id="{field_id}-error">([^<]*)</p>', page).group(1)
    assert message in error
    assert "Kept title" in page and "Kept body text" in page
    if fields.get("reason"):
        assert fields["reason"] in page
    assert count(Update) == 0
    assert milestones_of(funded)[0].status == "planned"


def test_a_completed_milestone_cannot_go_back(founder_client, funded):
    first, _ = milestones_of(funded)
    assert post(founder_client, funded, milestone=first, status="completed", evidence="Photos below").status_code == 302

    for status, extra in (("on_track", {}), ("delayed", {"new_date": today() + timedelta(days=30), "reason": REASON})):
        response = post(founder_client, funded, title="Oops", milestone=first, status=status, **extra)
        assert response.status_code == 422
        assert "cannot go back" in response.get_data(as_text=True)

    first, _ = milestones_of(funded)
    assert (first.status, first.completed_on, first.revised_due_date) == ("completed", today(), None)
    assert count(Update) == 1
    # Reporting it completed again (more evidence) is fine and keeps the first completion date.
    assert post(founder_client, funded, milestone=first, status="completed", evidence="More photos").status_code == 302
    assert milestones_of(funded)[0].completed_on == today()


def test_on_track_keeps_a_revised_date(founder_client, funded):
    first, _ = milestones_of(funded)
    new_date = today() + timedelta(days=200)
    post(founder_client, funded, milestone=first, status="delayed", new_date=new_date, reason=REASON)

    assert post(founder_client, funded, milestone=first, status="on_track").status_code == 302

    first, _ = milestones_of(funded)
    assert (first.status, first.revised_due_date, first.expected_date) == ("on_track", new_date, new_date)


def test_a_milestone_of_another_campaign_cannot_be_reported(founder, founder_client, funded, make_campaign):
    other = make_campaign(founder=founder, state="successful")
    foreign = milestones_of(other)[0]

    response = post(founder_client, funded, milestone=foreign, status="completed", evidence="Done")

    assert response.status_code == 422
    assert 'id="milestone_id-error"' in response.get_data(as_text=True)
    assert count(Update) == 0 and milestones_of(other)[0].status == "planned"


@pytest.mark.parametrize("currency, typed, minor", [
    ("USD", "1,250.50", 125050), ("USD", "12", 1200), ("JPY", "3000", 3000), ("EUR", " 0.01 ", 1)])
def test_spend_is_typed_in_the_campaign_currency(founder, founder_client, make_campaign, currency, typed, minor):
    campaign = make_campaign(founder=founder, state="live", currency=currency)

    assert post(founder_client, campaign, spend=[(typed, "")]).status_code == 302

    report = db.session.execute(db.select(SpendReport)).scalar_one()
    assert (report.amount, report.budget_line_id) == (minor, lines_of(campaign)[0].id)


@pytest.mark.parametrize("currency, typed, message", [
    ("USD", "-5", "cannot be negative"), ("USD", "1.234", "at most 2 decimal places"),
    ("JPY", "1.5", "no decimal places"), ("USD", "twelve", "Enter a number"), ("USD", "12,50", "Enter a number")])
def test_a_bad_spend_amount_is_refused_next_to_its_line(founder, founder_client, make_campaign, currency, typed,
                                                       message):
    campaign = make_campaign(founder=founder, state="live", currency=currency)

    response = post(founder_client, campaign, body="Kept body", spend=[("10", "fine line"), (typed, "kept note")])

    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert re.search(r'<p class="error" id="spend-1-amount-error">[^<]*' + re.escape(message), page)
    assert 'id="spend-0-amount-error"' not in page
    assert "kept note" in page and "fine line" in page and "Kept body" in page
    assert count(Update) == 0 and count(SpendReport) == 0


def test_empty_and_zero_amounts_report_nothing_and_a_note_needs_an_amount(founder_client, funded):
    response = post(founder_client, funded, spend=[("", "only a note"), ("0", "")])
    assert response.status_code == 422
    assert re.search(r'id="spend-0-note-error">Enter the amount this note is about', response.get_data(as_text=True))

    assert post(founder_client, funded, spend=[("", ""), ("0", "")]).status_code == 302
    assert count(Update) == 1 and count(SpendReport) == 0


def test_overspent_lines_are_flagged_in_the_budget_table(client, founder_client, funded):
    oven, installation = lines_of(funded)  # planned $750.00 and $250.00
    post(founder_client, funded, spend=[("500", ""), ("200", "")])
    post(founder_client, funded, spend=[("", ""), ("100", "Extra cabling")])

    budget = section(client.get(f"/c/{funded.slug}").get_data(as_text=True), "budget-h")

    rows = re.findall(r"<tr[^>]*>.*?</tr>", budget, re.S)
    oven_row = next(r for r in rows if "<td>Oven</td>" in r)
    installation_row = next(r for r in rows if "<td>Installation</td>" in r)
    assert "$500.00" in oven_row and "Over budget" not in oven_row and "overspent" not in oven_row
    assert "$300.00" in installation_row and 'class="overspent"' in installation_row
    assert "Over budget by $50.00" in installation_row
    assert "$800.00" in budget  # total spent, under the $1,000.00 total


def test_a_backers_only_report_hides_its_text_but_its_amounts_and_status_are_public(
        client, login, founder_client, funded, make_user, make_pledge):
    backer, stranger = make_user(), make_user()
    make_pledge(funded, backer=backer, state="collected")
    first, _ = milestones_of(funded)
    new_date = today() + timedelta(days=120)
    assert post(founder_client, funded, title="Private progress", visibility="backers", milestone=first,
                status="delayed", new_date=new_date, reason=REASON,
                spend=[("300", NOTE), ("", "")]).status_code == 302
    update = db.session.execute(db.select(Update)).scalar_one()

    for reader in (login(backer), founder_client):
        for url in (f"/c/{funded.slug}", f"/c/{funded.slug}/updates", f"/c/{funded.slug}/updates/{update.id}"):
            page = reader.get(url).get_data(as_text=True)
            assert REASON in page and NOTE in page, url
    for outsider in (client, login(stranger)):
        for url in (f"/c/{funded.slug}", f"/c/{funded.slug}/updates", f"/c/{funded.slug}/updates.atom"):
            page = outsider.get(url).get_data(as_text=True)
            assert REASON not in page and NOTE not in page and "Private progress" not in page, url
        page = outsider.get(f"/c/{funded.slug}").get_data(as_text=True)
        # Transparency: the status, the new date and the amount count on the public page ...
        assert "Delayed" in section(page, "milestones-h") and "$300.00" in section(page, "budget-h")
        # ... but the report's link says only that it was a backers-only update.
        assert "in a backers-only update" in section(page, "milestones-h")
        assert f"/updates/{update.id}" not in page
    assert login(stranger).get(f"/c/{funded.slug}/updates/{update.id}").status_code == 404


def test_the_timeline_links_the_latest_report_of_each_milestone(client, founder, founder_client, funded):
    first, second = milestones_of(funded)
    post(founder_client, funded, title="Early", milestone=first, status="on_track")
    post(founder_client, funded, title="Later", milestone=first, status="completed", evidence="Done")
    db.session.execute(db.update(Update).where(Update.title == "Early")
                       .values(created_at=utcnow() - timedelta(days=3)))
    db.session.commit()
    later = db.session.execute(db.select(Update).where(Update.title == "Later")).scalar_one()

    timeline = section(client.get(f"/c/{funded.slug}").get_data(as_text=True), "milestones-h")

    assert re.findall(r"/updates/(\d+)", timeline) == [str(later.id)]
    assert reports_for_second_is_absent(timeline, second)


def reports_for_second_is_absent(timeline: str, milestone) -> bool:
    return "Last reported" not in timeline[timeline.index(f'id="milestone-{milestone.id}"'):]


def test_evidence_is_sanitised_markdown_with_gallery_images_only(client, founder_client, funded):
    first, _ = milestones_of(funded)
    post(founder_client, funded, milestone=first, status="completed",
         evidence='Done <script>alert(1)</script> ![x](https://evil.example/x.png) [ok](javascript:alert(1))')
    update = db.session.execute(db.select(Update)).scalar_one()

    page = client.get(f"/c/{funded.slug}/updates/{update.id}").get_data(as_text=True)

    evidence = page[page.index('class="evidence"'):].split("</article>")[0]
    assert "&lt;script&gt;" in evidence
    assert re.search(r"<script|<img|href=\"javascript", evidence) is None
    assert "<p>Done" in evidence  # rendered as Markdown


def test_a_failed_campaign_has_no_report_fields_and_the_service_refuses_reports(
        founder, founder_client, make_campaign):
    failed = make_campaign(founder=founder, state="failed")
    first, _ = milestones_of(failed)

    page = founder_client.get(f"/c/{failed.slug}/updates/new").get_data(as_text=True)
    assert "Milestone report" not in page and "spend-0-amount" not in page
    with pytest.raises(services.ReportRefused):
        services.post_update(failed, founder, "t", "b", "public",
                             milestone_report=services.MilestoneReport(first.id, "on_track"))
    with pytest.raises(services.ReportRefused):
        services.post_update(failed, founder, "t", "b", "public",
                             spend=[services.SpendLine(lines_of(failed)[0].id, 100)])
    db.session.rollback()
    assert count(Update) == 0


def test_the_service_refuses_spend_on_another_campaigns_line_or_not_positive(founder, funded, make_campaign):
    other = make_campaign(founder=founder, state="successful")

    for line_id, amount in ((lines_of(other)[0].id, 100), (lines_of(funded)[0].id, 0), (lines_of(funded)[0].id, -1)):
        with pytest.raises(services.ReportRefused):
            services.post_update(funded, founder, "t", "b", "public", spend=[services.SpendLine(line_id, amount)])
    db.session.rollback()
    assert count(Update) == 0 and count(SpendReport) == 0


def test_the_form_shows_a_milestone_choice_and_one_spend_row_per_budget_line(founder_client, funded):
    page = founder_client.get(f"/c/{funded.slug}/updates/new").get_data(as_text=True)

    assert "Oven installed" in page and "First deliveries" in page
    assert 'name="spend-0-amount"' in page and 'name="spend-1-amount"' in page and 'name="spend-2-amount"' not in page
    assert "js/update_form.js" in page


def test_a_report_without_a_milestone_is_refused_rather_than_dropped(founder_client, funded):
    response = post(founder_client, funded, status="completed", evidence="All done, see photos")

    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert re.search(r'id="milestone_id-error">Choose the milestone this report is about', page)
    assert "All done, see photos" in page
    assert count(Update) == 0
