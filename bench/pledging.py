"""Benchmark: pledge creation throughput with concurrent backers, on SQLite and on PostgreSQL.

    .venv/bin/python bench/pledging.py [--pledges 2000] [--backers 1,8,32] [--no-write]

Many backers pledge at once on one popular campaign with a limited tier (the viral case: every
pledge claims a reward unit with a conditional UPDATE on the same row). Each backer is a thread
with its own session, running what the pledge pages run: start_pledge (the campaign checks, the
unit claim, the pledge row, a Stripe customer and SetupIntent) and complete_pledge (the card read
back, the pledge made active), then commit. The Stripe calls are answered in-process at once:
this measures the app and the database, not Stripe's latency (bench/workers.py covers waiting on
Stripe, bench/settle.py the stand-in). It prints pledges per second per database and number of
concurrent backers, checks that the tier's claimed count equals the pledges made and never exceeds
its quantity, and writes the figures to docs/benchmarks.md.
"""
import argparse
import itertools
import sys
import tempfile
import threading
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))

from bench.pages import fresh_postgres_database, machine  # noqa: E402  (after the sys.path insert)
from bench.results import RESULTS, write_section  # noqa: E402
from bench.seed import migrated_app  # noqa: E402


def stub_gateway():
    """Stripe answered at once, in-process (ids unique per call)."""
    from crowdfund.payments import gateway

    counter = itertools.count(1)
    gateway.create_customer = lambda email, name, user_id: f"cus_bench{next(counter)}"
    gateway.create_setup_intent = lambda customer_id, pledge_id: (f"seti_bench{next(counter)}", "secret")
    gateway.confirmed_card = lambda setup_intent_id, customer_id: gateway.SetupResult(
        "succeeded", f"pm_bench{next(counter)}", "Visa •••• 4242")


def prepare(app, backers: int, quantity: int):
    from crowdfund.accounts.models import User
    from crowdfund.campaigns.models import Campaign, Category, RewardTier
    from crowdfund.clock import utcnow
    from crowdfund.extensions import db

    with app.app_context():
        now = utcnow()
        founder = User(email="founder@bench.example", display_name="Founder", password_hash="x", role="founder")
        db.session.add(founder)
        db.session.flush()
        category = db.session.execute(db.select(Category)).scalars().first()
        campaign = Campaign(founder_id=founder.id, title="Viral", slug="viral", category_id=category.id, state="live",
                            goal=1_000_000, launched_at=now, deadline=now.replace(year=now.year + 1))
        tier = RewardTier(title="Early bird", minimum_amount=2_500, quantity=quantity)
        campaign.reward_tiers = [tier]
        db.session.add(campaign)
        users = [User(email=f"b{i}@bench.example", display_name=f"Backer {i}", password_hash="x")
                 for i in range(backers)]
        db.session.add_all(users)
        db.session.commit()
        return campaign.id, tier.id, [user.id for user in users]


def pledge_storm(app, campaign_id: int, tier_id: int, user_ids: list[int], pledges: int, threads: int) -> dict:
    """`threads` backers at once until `pledges` pledges are made; returns the figures."""
    from crowdfund.accounts.models import User
    from crowdfund.campaigns.models import Campaign, RewardTier
    from crowdfund.clock import utcnow
    from crowdfund.extensions import db
    from crowdfund.pledges import services
    from crowdfund.pledges.models import Pledge

    remaining = itertools.count()
    lock = threading.Lock()
    made, errors = [0], []

    def backer(index: int):
        with app.app_context():
            while True:
                with lock:
                    number = next(remaining)
                if number >= pledges:
                    return
                try:
                    user = db.session.get(User, user_ids[number % len(user_ids)])
                    campaign = db.session.get(Campaign, campaign_id)
                    tier = db.session.get(RewardTier, tier_id)
                    pledge = services.start_pledge(campaign, user, tier, 2_500, None, utcnow())
                    services.complete_pledge(pledge, utcnow())
                    db.session.commit()
                    with lock:
                        made[0] += 1
                except Exception as error:  # noqa: BLE001  (counted and reported, the run goes on)
                    db.session.rollback()
                    errors.append(type(error).__name__)
                finally:
                    db.session.remove()

    workers = [threading.Thread(target=backer, args=(i,)) for i in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    seconds = time.perf_counter() - started
    with app.app_context():
        claimed = db.session.get(RewardTier, tier_id).claimed
        active = db.session.execute(db.select(db.func.count()).select_from(Pledge)
                                    .where(Pledge.reward_tier_id == tier_id, Pledge.state == "active")).scalar_one()
        db.session.execute(db.delete(Pledge))
        db.session.execute(db.update(RewardTier).where(RewardTier.id == tier_id).values(claimed=0))
        db.session.commit()
    return {"threads": threads, "made": made[0], "seconds": seconds, "rate": made[0] / seconds,
            "claimed": claimed, "active": active, "errors": sorted(set(errors)), "error_count": len(errors)}


def run(database_url: str, label: str, pledges: int, thread_counts: list[int]) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="crowdfund-bench-") as tmp:
        app = migrated_app(database_url, tmp)
        app.config.update(PAGE_CACHE_SECONDS=0, LOG_LEVEL="WARNING")
        campaign_id, tier_id, user_ids = prepare(app, backers=pledges, quantity=pledges)
        figures = []
        for threads in thread_counts:
            result = pledge_storm(app, campaign_id, tier_id, user_ids, pledges, threads)
            result["database"] = label
            print(f"{label:<10} {threads:>3} backers at once: {result['rate']:7.0f} pledges/s "
                  f"({result['made']} made, tier claimed {result['claimed']}, {result['error_count']} errors "
                  f"{result['errors'] or ''})", flush=True)
            figures.append(result)
        with app.app_context():
            from crowdfund.extensions import db

            db.session.remove()
            db.engine.dispose()
        return figures


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pledges", type=int, default=2000, help="pledges per run (default 2000)")
    parser.add_argument("--backers", default="1,8,32", help="concurrent backers per run (default 1,8,32)")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    stub_gateway()
    thread_counts = [int(n) for n in args.backers.split(",")]
    with tempfile.TemporaryDirectory(prefix="crowdfund-sqlite-") as tmp:
        results = run(f"sqlite:///{tmp}/bench.sqlite3", "SQLite", args.pledges, thread_counts)
    results += run(fresh_postgres_database(args.postgres, "crowdfund_bench_pledging"), "PostgreSQL", args.pledges,
                   thread_counts)
    lines = ["| database | backers at once | pledges/s | pledges made | tier claimed | errors |",
             "|---|---:|---:|---:|---:|---|"]
    for r in results:
        lines.append(f"| {r['database']} | {r['threads']} | {r['rate']:.0f} | {r['made']:,} | {r['claimed']:,} | "
                     f"{r['error_count']} {', '.join(r['errors'])} |")
    consistent = all(r["claimed"] == r["made"] == r["active"] for r in results)
    lines += ["", "Every run: tier claimed = pledges made = active pledges." if consistent
              else "INCONSISTENT: the tier's claimed count differs from the pledges made."]
    print("\n".join(lines))
    if not args.no_write:
        heading = "## Pledge creation with concurrent backers (bench/pledging.py)"
        write_section(heading, [heading, "", f"Machine: {machine()}. Run on {time.strftime('%Y-%m-%d')}.", "",
                                f"{args.pledges:,} pledges per run on one campaign's limited tier, each backer a "
                                "thread with its own session running start_pledge + complete_pledge + commit; "
                                "Stripe answered in-process (no network), so this is the app and the database.",
                                ""] + lines)
        print(f"Written to {RESULTS.relative_to(PROJECT_DIR)}")


if __name__ == "__main__":
    main()
