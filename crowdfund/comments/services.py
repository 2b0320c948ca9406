"""Who may comment where, posting, reporting, and moderators hiding comments.

A comment lives on a campaign (`update_id` None) or on one of its updates. Only the campaign's
founder and its backers (a pledge in COUNTING_STATES) may post, and on a backers-only update only
people who may read it. Everyone who may see a place sees its comments, except hidden ones, which
only moderators see (marked, with the reason). Replies are one level deep."""
from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import NotFound

from crowdfund.accounts.models import User
from crowdfund.campaigns.models import Campaign
from crowdfund.clock import utcnow
from crowdfund.comments.models import MAX_COMMENT_LENGTH, Comment, CommentReport
from crowdfund.errors import IllegalTransition, NotAllowed, ValidationFailed
from crowdfund.extensions import db
from crowdfund.moderation.services import record_action, require_moderator
from crowdfund.updates.models import Update
from crowdfund.updates.services import is_backer, reads_backer_updates

# Campaigns whose comments are open for posting: launched and not stopped. Cancelled and suspended
# campaigns keep their comments readable (they are public pages) but closed.
OPEN_STATES = ("live", "successful", "failed")
MAX_REPORT_REASON = 500


def _signed_in(user) -> bool:
    return user is not None and user.is_authenticated


def _is_moderator(user) -> bool:
    return _signed_in(user) and user.is_moderator


def may_read(user, campaign: Campaign, update: Update | None = None) -> bool:
    """Whether this user sees the comments of this place at all."""
    if not campaign.is_public:
        return False
    if update is not None and not update.is_public:
        return reads_backer_updates(user, campaign)
    return True


def posting_refusal(user, campaign: Campaign, update: Update | None = None, backer: bool | None = None) -> str | None:
    """None when the user may comment here; otherwise why not, in words for the page. backer: whether
    the user backs the campaign, when the caller knows already (one query fewer)."""
    if not campaign.is_public or campaign.state not in OPEN_STATES:
        return _("Comments are closed.")
    if not _signed_in(user):
        return _("Only backers of this campaign and its founder can comment.")
    if user.id == campaign.founder_id:
        return None
    if not (is_backer(user, campaign) if backer is None else backer):
        return _("Only backers of this campaign and its founder can comment.")
    if update is not None and not update.is_public and not reads_backer_updates(user, campaign):
        return _("Only people who can read this update can comment on it.")
    return None


def _clean_body(body: str) -> str:
    body = (body or "").replace("\r\n", "\n").strip()
    if not body:
        raise ValidationFailed(_("Write something first."))
    if len(body) > MAX_COMMENT_LENGTH:
        raise ValidationFailed(_("A comment can be at most %(n)d characters.", n=MAX_COMMENT_LENGTH))
    return body


def post_comment(campaign: Campaign, author, body: str, update: Update | None = None,
                 parent_id: int | None = None) -> Comment:
    """A new comment by author, or a reply to parent_id (a reply to a reply joins the same thread)."""
    if update is not None and update.campaign_id != campaign.id:
        raise NotFound()
    refusal = posting_refusal(author, campaign, update)
    if refusal:
        raise NotAllowed(refusal)
    body = _clean_body(body)
    parent = None
    if parent_id is not None:
        parent = db.session.get(Comment, parent_id)
        if (parent is None or parent.campaign_id != campaign.id
                or parent.update_id != (update.id if update is not None else None)):
            raise ValidationFailed(_("The comment you replied to is not here any more."))
        if parent.parent_id is not None:
            parent = db.session.get(Comment, parent.parent_id)
        if parent.is_hidden:
            raise ValidationFailed(_("The comment you replied to was hidden by a moderator."))
    comment = Comment(campaign_id=campaign.id, update_id=update.id if update is not None else None,
                      parent_id=parent.id if parent is not None else None, author_id=author.id, body=body)
    db.session.add(comment)
    db.session.flush()
    return comment


@dataclass
class Thread:
    comment: Comment
    replies: list[Comment] = field(default_factory=list)


def threads_of(campaign: Campaign, update: Update | None, viewer) -> list[Thread]:
    """The comments of one place, oldest first, each with its replies (oldest first), in one query.

    Hidden comments are left out for everyone but moderators; a hidden comment that has replies
    others may see stays as its thread's head (the template shows it as hidden, without its text)."""
    query = (db.select(Comment).where(Comment.campaign_id == campaign.id)
             .order_by(Comment.created_at, Comment.id))
    query = query.where(Comment.update_id.is_(None) if update is None else Comment.update_id == update.id)
    moderator = _is_moderator(viewer)
    threads: dict[int, Thread] = {}
    orphans: dict[int, list[Comment]] = {}
    for comment in db.session.execute(query).unique().scalars():
        if comment.is_hidden and not moderator:
            if comment.parent_id is None:
                threads[comment.id] = Thread(comment)  # dropped below unless it has visible replies
            continue
        if comment.parent_id is None:
            threads[comment.id] = Thread(comment)
        elif comment.parent_id in threads:
            threads[comment.parent_id].replies.append(comment)
        else:  # a reply older than its parent (clock skew): keep it for when the parent comes
            orphans.setdefault(comment.parent_id, []).append(comment)
    for parent_id, replies in orphans.items():
        if parent_id in threads:
            threads[parent_id].replies[:0] = replies
    return [t for t in threads.values() if not t.comment.is_hidden or moderator or t.replies]


def reported_by(user, comment_ids) -> set[int]:
    """Which of these comments the user has reported already, in one query."""
    ids = list(comment_ids)
    if not _signed_in(user) or not ids:
        return set()
    return set(db.session.execute(db.select(CommentReport.comment_id).where(
        CommentReport.reporter_id == user.id, CommentReport.comment_id.in_(ids))).scalars())


def comment_for_viewer(comment_id: int, user) -> tuple[Comment, Campaign]:
    """The comment and its campaign if this user may see the comment; NotFound otherwise."""
    row = db.session.execute(db.select(Comment, Campaign).join(Campaign, Campaign.id == Comment.campaign_id)
                             .where(Comment.id == comment_id)).first()
    if row is None:
        raise NotFound()
    comment, campaign = row
    update = db.session.get(Update, comment.update_id) if comment.update_id is not None else None
    if _is_moderator(user):
        return comment, campaign
    if comment.is_hidden or not may_read(user, campaign, update):
        raise NotFound()
    return comment, campaign


def report_comment(comment: Comment, reporter, reason: str = "") -> bool:
    """Report a comment to the moderators. False when this person had reported it already."""
    if not _signed_in(reporter):
        raise NotAllowed(_("Log in to report a comment."))
    if comment.author_id == reporter.id:
        raise NotAllowed(_("You cannot report your own comment."))
    reason = (reason or "").strip()
    if len(reason) > MAX_REPORT_REASON:
        raise ValidationFailed(_("The reason can be at most %(n)d characters.", n=MAX_REPORT_REASON))
    exists = db.session.execute(db.select(CommentReport.id).where(
        CommentReport.comment_id == comment.id, CommentReport.reporter_id == reporter.id)).first()
    if exists:
        return False
    try:
        with db.session.begin_nested():  # two reports at once: the unique constraint decides
            db.session.add(CommentReport(comment_id=comment.id, reporter_id=reporter.id, reason=reason))
    except IntegrityError:
        return False
    return True


def _campaign_of(comment: Comment) -> Campaign:
    return db.session.get(Campaign, comment.campaign_id)


def hide_comment(comment: Comment, moderator, reason: str) -> None:
    """Hide a comment from everyone but moderators; its open reports are resolved. Audit-logged."""
    require_moderator(moderator)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("Give a reason."))
    if comment.is_hidden:
        raise IllegalTransition(_("This comment is already hidden."))
    now = utcnow()
    comment.hidden_at, comment.hidden_by_id, comment.hidden_reason = now, moderator.id, reason
    _resolve_reports(comment, now)
    record_action(moderator, "hide_comment", _campaign_of(comment), reason,
                  {"comment_id": comment.id, "author_id": comment.author_id})


def unhide_comment(comment: Comment, moderator, reason: str = "") -> None:
    require_moderator(moderator)
    if not comment.is_hidden:
        raise IllegalTransition(_("This comment is not hidden."))
    comment.hidden_at = comment.hidden_by_id = comment.hidden_reason = None
    db.session.flush()
    record_action(moderator, "unhide_comment", _campaign_of(comment), (reason or "").strip(),
                  {"comment_id": comment.id, "author_id": comment.author_id})


def dismiss_reports(comment: Comment, moderator, reason: str = "") -> None:
    """Keep the comment: its open reports are resolved without hiding it. Audit-logged."""
    require_moderator(moderator)
    if not _resolve_reports(comment, utcnow()):
        raise IllegalTransition(_("This comment has no open reports."))
    record_action(moderator, "dismiss_comment_reports", _campaign_of(comment), (reason or "").strip(),
                  {"comment_id": comment.id})


def _resolve_reports(comment: Comment, now) -> int:
    result = db.session.execute(db.update(CommentReport).where(
        CommentReport.comment_id == comment.id, CommentReport.resolved_at.is_(None)).values(resolved_at=now))
    db.session.flush()
    return result.rowcount


@dataclass
class ReportedComment:
    comment: Comment
    campaign: Campaign
    update_title: str | None
    reports: list[tuple[CommentReport, str]]  # (report, reporter's display name)


def open_reports(limit: int = 100) -> list[ReportedComment]:
    """Comments with open reports, the most reported first (then the oldest report), in two queries."""
    first_report = func.min(CommentReport.created_at)
    counted = (db.select(CommentReport.comment_id, func.count(CommentReport.id).label("n"),
                         first_report.label("first"))
               .where(CommentReport.resolved_at.is_(None)).group_by(CommentReport.comment_id).subquery())
    rows = db.session.execute(
        db.select(Comment, Campaign, Update.title)
        .join(counted, counted.c.comment_id == Comment.id)
        .join(Campaign, Campaign.id == Comment.campaign_id)
        .outerjoin(Update, Update.id == Comment.update_id)
        .order_by(counted.c.n.desc(), counted.c.first, Comment.id).limit(limit)).unique().all()
    reports: dict[int, list] = {}
    if rows:
        for report, name in db.session.execute(
                db.select(CommentReport, User.display_name).join(User, User.id == CommentReport.reporter_id)
                .where(CommentReport.resolved_at.is_(None),
                       CommentReport.comment_id.in_([r[0].id for r in rows]))
                .order_by(CommentReport.created_at, CommentReport.id)):
            reports.setdefault(report.comment_id, []).append((report, name))
    return [ReportedComment(c, campaign, title, reports.get(c.id, [])) for c, campaign, title in rows]


def hidden_comments(limit: int = 50) -> list[tuple[Comment, Campaign, str | None]]:
    """The most recently hidden comments (to unhide one hidden by mistake)."""
    return list(db.session.execute(
        db.select(Comment, Campaign, Update.title).join(Campaign, Campaign.id == Comment.campaign_id)
        .outerjoin(Update, Update.id == Comment.update_id)
        .where(Comment.hidden_at.is_not(None))
        .order_by(Comment.hidden_at.desc(), Comment.id.desc()).limit(limit)).unique().all())
