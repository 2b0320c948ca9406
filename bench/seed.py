"""A fast bulk seeder for the benchmarks: many campaigns and pledges, straight into the tables.

    .venv/bin/python bench/seed.py --database-url postgresql://postgres@127.0.0.1/crowdfund_bench \
        --campaigns 10000 --pledges 200000

Not the demo loader (crowdfund/demo.py builds a few believable campaigns through the services);
this writes rows with multi-row INSERTs in batches, so 10,000 campaigns and 200,000 pledges take
seconds, not hours. The database is migrated first (`flask db upgrade`), so search triggers and
indexes are the real ones. Calling it again with larger numbers adds the difference (1,000 → 10,000
campaigns keeps the first 1,000), which is how bench/pages.py measures cost against data size.

What it makes, deterministically (seeded random): one founder per 5 campaigns, one backer per 10
pledges; campaigns across every category, 80 % live (deadlines 1–60 days ahead), 15 % successful,
5 % failed; 3 reward tiers, 3 budget lines and 2 milestones each; pledges spread unevenly (a few
campaigns get many; a backer backs a campaign once) in counting states, most in the last 30 days.
Money in minor units. Every seeded user's password is PASSWORD (bench/pages.py signs in as one).

The rows carry explicit ids, which PostgreSQL's id sequences do not see: after seeding, every
table's sequence is set to its largest id (reset_sequences), or the next row inserted without an id
(a sign-up, a log-in session, a pledge) would fail with a duplicate key.
"""
import argparse
import itertools
import random
import sys
from datetime import datetime, timedelta
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))

BATCH = 2000
WORDS = ("solar lantern bakery vinyl comic garden robot ceramic bicycle coffee ledger atlas harbour "
         "quilt canoe studio theatre museum orchard brewery library kiln loom cider apiary forge "
         "windmill observatory kayak tannery printing press bookbinding pottery market radio").split()
STORY = ("We are a small team building something people asked for. The money goes where the budget "
         "says; every milestone is reported to backers with receipts. ") * 6
PASSWORD = "bench-password-2026"
_password_hash = None


def password_hash() -> str:
    """PASSWORD hashed as the app hashes a password (scrypt), once per process: one hash shared by
    every seeded user (hashing 22,000 passwords would take minutes)."""
    global _password_hash
    if _password_hash is None:
        from werkzeug.security import generate_password_hash

        _password_hash = generate_password_hash(PASSWORD, method="scrypt")
    return _password_hash


def _rows(table, rows, connection):
    for start in range(0, len(rows), BATCH):
        connection.execute(table.insert(), rows[start:start + BATCH])


def _count(connection, table) -> int:
    from sqlalchemy import func, select

    return connection.execute(select(func.count()).select_from(table)).scalar_one()


def seed(app, campaigns: int, pledges: int, now: datetime | None = None, rng_seed: int = 7) -> dict:
    """Bring the database up to `campaigns` campaigns and `pledges` pledges; returns what exists."""
    from sqlalchemy import func, select

    from crowdfund.accounts.models import User
    from crowdfund.campaigns.models import BudgetLine, Campaign, Category, Milestone, RewardTier
    from crowdfund.extensions import db
    from crowdfund.pledges.models import Pledge

    now = now or datetime.utcnow().replace(microsecond=0)
    hashed = password_hash()
    rng = random.Random(rng_seed)
    users, campaign_t, tier_t, pledge_t = User.__table__, Campaign.__table__, RewardTier.__table__, Pledge.__table__
    with app.app_context(), db.engine.begin() as connection:
        category_ids = list(connection.execute(select(Category.id).order_by(Category.id)).scalars())
        have_campaigns = _count(connection, campaign_t)
        have_pledges = _count(connection, pledge_t)
        next_user = (connection.execute(select(func.max(User.id))).scalar() or 0) + 1

        # Founders and campaigns (with tiers, budget lines and milestones).
        new_campaigns = max(campaigns - have_campaigns, 0)
        founders = [next_user + i for i in range((new_campaigns + 4) // 5)]
        _rows(users, [{"id": uid, "email": f"founder{uid}@bench.example", "display_name": f"Founder {uid}",
                       "password_hash": hashed, "role": "founder", "email_verified_at": now,
                       "login_id": f"bench-{uid}", "created_at": now - timedelta(days=400)}
                      for uid in founders], connection)
        next_user += len(founders)
        campaign_rows, tier_rows, line_rows, milestone_rows = [], [], [], []
        first = (connection.execute(select(func.max(Campaign.id))).scalar() or 0) + 1
        for number in range(first, first + new_campaigns):
            roll = rng.random()
            state = "live" if roll < 0.80 else "successful" if roll < 0.95 else "failed"
            launched = now - timedelta(days=rng.randint(1, 29) if state == "live" else rng.randint(40, 300),
                                       minutes=rng.randint(0, 1440))
            deadline = (now + timedelta(days=rng.randint(1, 60), minutes=rng.randint(0, 1440)) if state == "live"
                        else launched + timedelta(days=30))
            title = f"The {rng.choice(WORDS)} {rng.choice(WORDS)} project {number}"
            campaign_rows.append({
                "id": number, "founder_id": founders[(number - first) // 5], "category_id": rng.choice(category_ids),
                "title": title, "slug": f"bench-{number}", "blurb": f"A {rng.choice(WORDS)} for our town, "
                f"made by hand ({number}).", "story": STORY, "risks": "Suppliers may be late; we have a plan.",
                "goal": rng.choice((500_000, 1_000_000, 2_500_000, 5_000_000)), "currency": "USD",
                "funding_model": "all_or_nothing", "duration_days": 30, "state": state, "cover_alt": "",
                "featured": number % 97 == 0, "created_at": launched - timedelta(days=3), "updated_at": launched,
                "submitted_at": launched - timedelta(days=2), "launched_at": launched, "deadline": deadline,
                "ended_at": deadline if state != "live" else None})
            for position, (name, minimum) in enumerate((("Thank you", 1_000), ("The thing", 5_000),
                                                        ("The thing, signed", 15_000))):
                tier_rows.append({"campaign_id": number, "title": name, "description": "Our thanks.",
                                  "minimum_amount": minimum, "quantity": None, "claimed": 0,
                                  "ships": False, "shipping_amount": 0})
            for position, (purpose, share) in enumerate((("Materials", 50), ("Tools", 30), ("Fees", 20))):
                line_rows.append({"campaign_id": number, "purpose": purpose, "position": position,
                                  "amount": campaign_rows[-1]["goal"] * share // 100})
            for position, share in enumerate((5000, 5000)):
                milestone_rows.append({"campaign_id": number, "title": f"Milestone {position + 1}",
                                       "description": "Shown to backers with receipts.",
                                       "due_date": (deadline + timedelta(days=60 * (position + 1))).date(),
                                       "release_bp": share, "status": "planned"})
        _rows(campaign_t, campaign_rows, connection)
        _rows(tier_t, tier_rows, connection)
        _rows(BudgetLine.__table__, line_rows, connection)
        _rows(Milestone.__table__, milestone_rows, connection)

        # Backers and pledges: campaign popularity is uneven (a Pareto draw), like real platforms.
        new_pledges = max(pledges - have_pledges, 0)
        if new_pledges:
            targets = list(connection.execute(select(Campaign.id, Campaign.state, Campaign.launched_at,
                                                     Campaign.deadline).where(Campaign.slug.like("bench-%"))))
            per_backer = min(10, len(targets))  # a backer backs a campaign once
            backers = [next_user + i for i in range(-(-new_pledges // per_backer))]
            _rows(users, [{"id": uid, "email": f"backer{uid}@bench.example", "display_name": f"Backer {uid}",
                           "password_hash": hashed, "role": "backer", "email_verified_at": now,
                           "login_id": f"bench-{uid}", "created_at": now - timedelta(days=200)}
                          for uid in backers], connection)
            cumulative = list(itertools.accumulate(rng.paretovariate(1.2) for _ in targets))
            tiers = {}
            for tier_id, campaign_id, minimum in connection.execute(
                    select(RewardTier.id, RewardTier.campaign_id, RewardTier.minimum_amount)):
                tiers.setdefault(campaign_id, []).append((tier_id, minimum))
            rows = []
            backed = set()  # (backer, campaign): one pledge each, as the one-open-pledge index requires
            for index in range(new_pledges):
                backer = backers[index // per_backer]
                campaign_id, state, launched, deadline = rng.choices(targets, cum_weights=cumulative)[0]
                while (backer, campaign_id) in backed:
                    campaign_id, state, launched, deadline = rng.choices(targets, cum_weights=cumulative)[0]
                backed.add((backer, campaign_id))
                tier_id, minimum = rng.choice(tiers[campaign_id])
                end = min(now, deadline)
                created = launched + (end - launched) * rng.random()
                pledge_state = "active" if state == "live" else "collected" if state == "successful" else "void"
                rows.append({"campaign_id": campaign_id, "backer_id": backer, "reward_tier_id": tier_id,
                             "amount": minimum + rng.choice((0, 0, 0, 500, 2_000)), "shipping_amount": 0,
                             "state": pledge_state, "created_at": created, "updated_at": created,
                             "charge_attempts": 1 if pledge_state == "collected" else 0,
                             "collected_at": deadline if pledge_state == "collected" else None,
                             "card_summary": "Visa •••• 4242", "disputed": False})
            _rows(pledge_t, rows, connection)
        reset_sequences(connection)
        connection.exec_driver_sql("ANALYZE")  # fresh planner statistics, as autovacuum would give
        return {"campaigns": _count(connection, campaign_t), "pledges": _count(connection, pledge_t)}


def reset_sequences(connection) -> list[str]:
    """Set each PostgreSQL table's id sequence to the table's largest id, so that the next row
    inserted without an id gets a new one; returns the tables set. Tables without an integer `id`
    column (or without rows, or whose id has no sequence) are left alone; SQLite needs nothing (its
    next rowid is always the largest plus one)."""
    from sqlalchemy import text

    if connection.dialect.name != "postgresql":
        return []
    tables = connection.execute(text(
        "SELECT c.table_name FROM information_schema.columns c JOIN information_schema.tables t "
        "ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
        "WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' AND c.column_name = 'id' "
        "AND c.data_type IN ('smallint', 'integer', 'bigint') ORDER BY c.table_name")).scalars().all()
    done = []
    for table in tables:
        quoted = '"' + table.replace('"', '""') + '"'
        value = connection.execute(text(
            f"SELECT setval(pg_get_serial_sequence(:table, 'id'), max(id)) FROM {quoted} "
            "HAVING max(id) IS NOT NULL"), {"table": quoted}).scalar()
        if value is not None:
            done.append(table)
    return done


def check_insert_without_id(app) -> None:
    """Insert a user and a pledge without ids (as a sign-up and a pledge do), then roll them back;
    raises if the database would give an id that is taken (sequences not reset after seeding)."""
    from crowdfund.accounts.models import User
    from crowdfund.campaigns.models import Campaign
    from crowdfund.extensions import db
    from crowdfund.pledges.models import Pledge

    with app.app_context():
        try:
            campaign_id = db.session.execute(db.select(Campaign.id).limit(1)).scalar()
            user = User(email="insert-check@bench.example", display_name="Insert check",
                        password_hash=password_hash(), role="backer")
            db.session.add(user)
            db.session.flush()
            if campaign_id is not None:
                db.session.add(Pledge(campaign_id=campaign_id, backer_id=user.id, amount=1_000, state="active"))
                db.session.flush()
        finally:
            db.session.rollback()
            db.session.remove()


def migrated_app(database_url: str, instance_dir: str):
    """The app on database_url (production-like config not needed: only the tables), migrated."""
    import os

    os.environ.setdefault("CROWDFUND_INSTANCE_DIR", instance_dir)
    from flask_migrate import upgrade

    from crowdfund import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "INSTANCE_DIR": instance_dir,
                      "UPLOAD_DIR": str(Path(instance_dir) / "uploads"), "IN_PROCESS_TICKER": False,
                      "CELERY_BROKER_URL": None})
    with app.app_context():
        upgrade()
    return app


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--campaigns", type=int, default=10_000)
    parser.add_argument("--pledges", type=int, default=200_000)
    parser.add_argument("--instance-dir", default=str(PROJECT_DIR / "instance" / "bench"))
    args = parser.parse_args(argv)
    import time

    started = time.perf_counter()
    app = migrated_app(args.database_url, args.instance_dir)
    counts = seed(app, args.campaigns, args.pledges)
    print(f"{counts['campaigns']:,} campaigns and {counts['pledges']:,} pledges "
          f"({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
