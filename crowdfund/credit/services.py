"""Founder credit profiles: computing, storing and rebuilding them (domain: Flushes, never commits).
The scorecard is crowdfund/credit/engine.py; the facts it reads are crowdfund/credit/facts.py."""
from datetime import datetime

from crowdfund.campaigns.models import Campaign
from crowdfund.clock import utcnow
from crowdfund.credit.engine import FounderFacts, Scorecard, scorecard
from crowdfund.credit.facts import OUTCOME_STATES, facts_for, founder_facts
from crowdfund.credit.models import CreditHistoryPoint, CreditProfile
from crowdfund.extensions import db

REBUILD_BATCH = 500


def stored_factors(card: Scorecard) -> list[dict]:
    """The factors as stored: numbers only; their texts are rendered when shown (engine.factor_value)."""
    return [{"code": f.code, "points": f.points, "max_points": f.max_points, "numbers": f.numbers}
            for f in card.factors]


def compute(user_id: int, now: datetime) -> tuple[FounderFacts, Scorecard]:
    """The founder's facts and scorecard as of now (reads only)."""
    facts = founder_facts(user_id, now)
    return facts, scorecard(facts)


def recompute_profile(user_id: int, now: datetime, touch: bool = True) -> CreditProfile:
    """Compute the founder's scorecard and store it. Flushes. A history point is added the first
    time and whenever the score changes. An unchanged profile is left as it is, except that
    touch=True records computed_at=now (the daily job's "done today")."""
    profile, _changed = _store(user_id, now, touch)
    db.session.flush()
    return profile


_LOOK_UP = object()


def _store(user_id: int, now: datetime, touch: bool, facts: FounderFacts | None = None,
           profile=_LOOK_UP) -> tuple[CreditProfile, bool]:
    """Store the founder's scorecard (from facts and the stored profile or None, when the caller
    read them already); the caller flushes."""
    facts = facts if facts is not None else founder_facts(user_id, now)
    card = scorecard(facts)
    values = {"score": card.score, "band": card.band, "factors": stored_factors(card), "facts": facts.as_dict()}
    profile = db.session.get(CreditProfile, user_id) if profile is _LOOK_UP else profile
    if profile is None:
        profile = CreditProfile(user_id=user_id, computed_at=now, **values)
        db.session.add(profile)
        db.session.add(CreditHistoryPoint(user_id=user_id, at=now, score=card.score))
        return profile, True
    if all(getattr(profile, key) == value for key, value in values.items()):
        if touch and profile.computed_at != now:
            profile.computed_at = now
        return profile, False
    if profile.score != card.score:
        db.session.add(CreditHistoryPoint(user_id=user_id, at=now, score=card.score))
    for key, value in values.items():
        setattr(profile, key, value)
    profile.computed_at = now
    return profile, True


def founder_ids() -> list[int]:
    """Everyone who launched a campaign (or has one with an outcome), or has a profile already."""
    launched = db.select(Campaign.founder_id).where(
        (Campaign.launched_at.is_not(None)) | Campaign.state.in_(tuple(OUTCOME_STATES)))
    profiled = db.select(CreditProfile.user_id)
    return sorted(db.session.execute(launched.union(profiled)).scalars())


def rebuild_all(now: datetime) -> tuple[int, int]:
    """Recompute every founder's profile, writing only the ones that changed (history points kept;
    a second run changes nothing). Facts are gathered REBUILD_BATCH founders at a time (grouped
    queries); flushes after each batch. Returns (profiles, changed)."""
    ids = founder_ids()
    changed = 0
    for start in range(0, len(ids), REBUILD_BATCH):
        batch = ids[start:start + REBUILD_BATCH]
        facts = facts_for(batch, now)
        profiles = {p.user_id: p for p in db.session.execute(
            db.select(CreditProfile).where(CreditProfile.user_id.in_(batch))).scalars()}
        for user_id in batch:
            changed += _store(user_id, now, False, facts[user_id], profiles.get(user_id))[1]
        db.session.flush()
    return len(ids), changed


def profile_of(user_id: int, now: datetime | None = None) -> CreditProfile:
    """The stored profile, or — for a founder without one yet — one computed now and not stored."""
    profile = db.session.get(CreditProfile, user_id)
    if profile is not None:
        return profile
    now = now or utcnow()
    facts, card = compute(user_id, now)
    return CreditProfile(user_id=user_id, score=card.score, band=card.band, factors=stored_factors(card),
                         facts=facts.as_dict(), computed_at=now)


def history_of(user_id: int) -> list[CreditHistoryPoint]:
    """The founder's score over time, oldest first."""
    return list(db.session.execute(
        db.select(CreditHistoryPoint).where(CreditHistoryPoint.user_id == user_id)
        .order_by(CreditHistoryPoint.at, CreditHistoryPoint.id)).scalars())
