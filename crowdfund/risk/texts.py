"""What each risk reason code means, for people: REASONS[code] = (label, explanation for
moderators, what the founder should do). Lazy translations, rendered by the risk queue, the
campaign's risk page and the founder's hold notice."""
from flask_babel import lazy_gettext as _l

REASONS = {
    "new_account_large_goal": (
        _l("New account, large goal"),
        _l("The founder's account is younger than the configured number of days and the goal is "
           "several times the median goal of public campaigns in the same category."),
        _l("Explain in your story why the goal is this size, and verify your payout account and "
           "business details so backers can see who you are."),
    ),
    "no_verified_payout": (
        _l("No verified payout account"),
        _l("The founder has no payout account that can receive transfers yet."),
        _l("Connect and verify your payout account from your dashboard."),
    ),
    "duplicate_story": (
        _l("Story duplicates another campaign"),
        _l("The story's text is nearly the same as another campaign's (estimated share of "
           "shared five-word phrases at or above the threshold)."),
        _l("Write your story in your own words; if both campaigns are yours, say so in the story."),
    ),
    "matching_images": (
        _l("Images match another campaign"),
        _l("An image of this campaign is perceptually the same as an image of another campaign."),
        _l("Use your own photos; if you own the other campaign, tell the moderators."),
    ),
    "budget_mismatch": (
        _l("Budget does not fit the goal"),
        _l("The budget lines add up to much more or much less than the funding goal."),
        _l("Adjust your budget lines so that they add up to the goal."),
    ),
    "budget_dominant_line": (
        _l("One budget line takes almost everything"),
        _l("A single budget line takes most of the goal, so backers cannot see where the money goes."),
        _l("Split the large budget line into the real costs it covers."),
    ),
    "budget_unusual_for_category": (
        _l("Budget unusual for the category"),
        _l("The largest budget line takes a much bigger share of the budget than in most public "
           "campaigns of the same category (above the category's 90th percentile and above half)."),
        _l("Break the largest budget line down into its real costs, or explain in your story why "
           "one cost dominates."),
    ),
    "pledges_one_ip": (
        _l("Many pledges from one network address"),
        _l("Several pledges to this campaign came from the same network address (stored only as a keyed hash)."),
        _l("Nothing, unless you asked people to pledge from one device; if so, tell the moderators."),
    ),
    "failed_setups_one_ip": (
        _l("Failed card setups from one network address"),
        _l("Many pledges from one network address started a card setup and never completed it, "
           "a pattern of card testing."),
        _l("Nothing is required of you; moderators check the pledges."),
    ),
    "card_shared": (
        _l("One card used by several backers"),
        _l("The same card was used for pledges by several different backer accounts."),
        _l("Nothing is required of you unless you know these backers; then tell the moderators."),
    ),
    "founder_self_backing": (
        _l("Founder backs own campaign"),
        _l("The founder has pledged to their own campaign, which inflates its funding."),
        _l("Cancel your own pledge; fund your project directly rather than through a pledge."),
    ),
    "pledge_burst": (
        _l("Burst of pledges"),
        _l("Pledges in the last 24 hours far exceed the campaign's own daily rate before them."),
        _l("If you ran a promotion, tell the moderators where the backers came from."),
    ),
    "silence": (
        _l("No updates for a long time"),
        _l("The founder has posted no update for the configured number of days while milestones are still open."),
        _l("Post an update telling backers where the project stands."),
    ),
    "milestones_overdue": (
        _l("Milestones overdue"),
        _l("Milestones are past their expected date and not completed; the points grow with the days overdue."),
        _l("Report progress on the overdue milestones, or post an update with a new date and the reason."),
    ),
    "over_budget": (
        _l("Spending over a budget line"),
        _l("Reported spending exceeds the amount of one or more budget lines."),
        _l("Explain the overspend in an update and in your next spend report."),
    ),
    "release_without_spend_report": (
        _l("Release requested without a spend report"),
        _l("A release of funds was requested with no spend report since the previous release."),
        _l("File a spend report for the money already released before asking for more."),
    ),
    "update_request_spike": (
        _l("Backers asking for updates"),
        _l("Many backers asked for an update within the last 7 days."),
        _l("Post an update answering your backers."),
    ),
    "report_spike": (
        _l("Many reports"),
        _l("Many people reported this campaign within the last 7 days."),
        _l("Read the moderators' message and answer the concerns in an update."),
    ),
    "refund_spike": (
        _l("Refunds, disputes or missing rewards"),
        _l("Many refunds, card disputes or \"reward not received\" marks within the last 7 days."),
        _l("Contact the backers concerned and post an update on deliveries."),
    ),
}


def reason(code: str) -> tuple:
    """(label, explanation, what to do) for a code; an unknown code shows as itself."""
    return REASONS.get(code, (code, "", ""))
