"""facts_for() (a batch of founders, grouped queries) gives every founder exactly the facts
founder_facts() gives them alone, and `rebuild_all` costs a fixed number of queries per batch."""
import random
from datetime import timedelta

from crowdfund.clock import utcnow
from crowdfund.credit.engine import FounderFacts
from crowdfund.credit.facts import facts_for, founder_facts
from crowdfund.credit.models import CreditProfile
from crowdfund.credit.services import founder_ids, rebuild_all
from crowdfund.extensions import db
from .test_profile_property import PREFIX, WEIGHTED, World, do


def _random_founders(make_user, make_campaign, seed, count=4):
    rng = random.Random(seed)
    worlds = [World(make_user, make_campaign) for _ in range(count)]
    for world in worlds:
        steps = PREFIX[:rng.randint(0, len(PREFIX))] + [
            (rng.choice(WEIGHTED), rng.randrange(2), rng.randrange(3)) for _ in range(rng.randint(0, 14))]
        for op, i, b in steps:
            do(world, op, i, b)
    return [world.founder.id for world in worlds]


def test_a_batch_gives_each_founder_the_facts_they_get_alone(app, make_user, make_campaign):
    ids = []
    for seed in range(3):
        ids += _random_founders(make_user, make_campaign, seed)
    ids.append(make_user().id)  # nothing launched
    for now in (utcnow(), utcnow() + timedelta(days=200)):  # later: milestones overdue, silences open
        batch = facts_for(ids, now)
        assert set(batch) == set(ids)
        for user_id in ids:
            assert batch[user_id] == founder_facts(user_id, now), user_id
    assert any(f.campaigns_funded for f in batch.values())
    assert any(f.milestones_overdue and f.silence_days > 30 for f in batch.values())  # the test saw trouble


def test_facts_of_an_unknown_or_empty_batch(app):
    assert facts_for([], utcnow()) == {}
    assert facts_for([10**9], utcnow()) == {10**9: FounderFacts()}


def test_rebuild_reads_a_batch_of_founders_with_a_fixed_number_of_queries(app, make_user, make_campaign,
                                                                          count_queries):
    _random_founders(make_user, make_campaign, 7, count=8)
    db.session.commit()
    with count_queries() as statements:
        profiles, _changed = rebuild_all(utcnow() + timedelta(days=100))
    db.session.commit()
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert profiles == len(founder_ids()) >= 8
    assert len(selects) <= 20  # one founder at a time took about 14 each
    assert db.session.scalar(db.select(db.func.count()).select_from(CreditProfile)) == profiles
