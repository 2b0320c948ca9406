"""Benchmark: the public pages against a bare Flask "hello" app, served the same way, in one run.

    .venv/bin/python bench/pages.py [--sizes 1000:20000,10000:200000] [--duration 10] [--no-write]
    make bench        # this, then the pledge throughput (bench/pledging.py)

For each data size it seeds a PostgreSQL database of its own (bench/seed.py; the larger size adds
to the smaller), serves the app with gunicorn exactly as docs/operations.md says (gunicorn.conf.py:
2 gthread workers × 4 threads, CROWDFUND_ENV=production, Redis for rate limits and the broker), and
serves bench/hello.py with the same settings. wrk (Debian's `wrk`), a second process on loopback,
loads each page for --duration seconds at 16 connections: the campaign page (the live campaign with
the most pledges), the discover page, a category page and a search. It prints requests per second,
p50 and p99 latency per page, each page's ratio to the baseline's requests per second, and the
change from the smaller to the larger size. Then the campaign page once more while a write lands
every half second (each sets a new page generation, as a pledge does, so the page is made again
and again under load); then the memory (RSS) of each gunicorn worker after the
load. Everything is written to docs/benchmarks.md with a description of the machine.

Targets (issue 8): campaign page ≥ 1/3 of the baseline's req/s; discover and category ≥ 1/4;
search ≥ 1/6; p99 < 50 ms at 16 connections; req/s at the larger size within 1.5× of the smaller.
"""
import argparse
import os
import platform
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))

from bench.results import RESULTS, write_section  # noqa: E402  (after the sys.path insert)
from bench.seed import migrated_app, seed  # noqa: E402
from bench.serving import WRK_STATUS_SCRIPT, Gunicorn, run_wrk, wrk_version  # noqa: E402
from config import Config  # noqa: E402  (the served app's default key prefix)
from crowdfund.page_cache import GENERATION_KEY  # noqa: E402

TARGETS = {"campaign": 1 / 3, "discover": 1 / 4, "category": 1 / 4, "search": 1 / 6}
P99_TARGET_MS = 50.0
GROWTH_TARGET = 1.5
CONNECTIONS = 16
WRITE_EVERY_SECONDS = 0.5
VENV_BIN = Path(sys.executable).parent


def fresh_postgres_database(server_url: str, name: str) -> str:
    """Drop and create database `name` on the server of server_url; returns its URL."""
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + "/" + name


def wrk(url: str, duration: int, script: Path) -> dict:
    figures = run_wrk(url, CONNECTIONS, duration, script)
    figures["non_2xx"] = sum(n for status, n in figures["statuses"].items() if status != 200)
    return figures


def wrk_while_writing(url: str, duration: int, script: Path, redis_url: str) -> dict:
    """The campaign page under load while the site keeps changing: every WRITE_EVERY_SECONDS a new
    page generation is set, as every committed write (a pledge, a comment, a job) sets one, so each
    stored page goes stale and must be made again while 16 connections keep asking for it."""
    client = redis.Redis.from_url(redis_url)
    stop = threading.Event()

    def write():
        while not stop.wait(WRITE_EVERY_SECONDS):
            client.set(Config.PAGE_CACHE_PREFIX + GENERATION_KEY, str(time.time_ns()))

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        return wrk(url, duration, script)
    finally:
        stop.set()
        writer.join()


def page_urls(app) -> dict:
    """The pages to load: the most-backed live campaign, discover, a category, a search."""
    from sqlalchemy import func

    from crowdfund.campaigns.models import Campaign, Category
    from crowdfund.extensions import db
    from crowdfund.pledges.models import Pledge

    with app.app_context():
        slug = db.session.execute(
            db.select(Campaign.slug).join(Pledge, Pledge.campaign_id == Campaign.id)
            .where(Campaign.state == "live").group_by(Campaign.id, Campaign.slug)
            .order_by(func.count(Pledge.id).desc()).limit(1)).scalar_one()
        category = db.session.execute(db.select(Category.slug).order_by(Category.position, Category.id)).scalars().first()
    return {"campaign": f"/c/{slug}", "discover": "/discover", "category": f"/discover/{category}",
            "search": "/search?q=solar+lantern"}


def machine() -> str:
    cpu = "unknown CPU"
    try:
        cpu = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text()).group(1)
    except (OSError, AttributeError):
        pass
    memory = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1)
    return (f"{os.cpu_count()} cores ({cpu}), {int(memory) // 1024 // 1024} GiB, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}, wrk {wrk_version()}")


def run(sizes, duration: int, server_url: str, redis_url: str, page_cache_seconds: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="crowdfund-bench-"))
    database_url = fresh_postgres_database(server_url, "crowdfund_bench")
    app = migrated_app(database_url, str(work))
    env = {key: value for key, value in os.environ.items() if not key.startswith(("STRIPE_", "CROWDFUND_"))}
    env.update(CROWDFUND_ENV="production", CROWDFUND_INSTANCE_DIR=str(work), DATABASE_URL=database_url,
               SECRET_KEY="bench-" + "x" * 40, CELERY_BROKER_URL=redis_url, RATELIMIT_STORAGE_URI=redis_url,
               PUBLIC_URL="http://127.0.0.1", TRUSTED_HOSTS="127.0.0.1", MAIL_BACKEND="log", STRIPE_STANDIN="1", LOG_LEVEL="WARNING",
               PAGE_CACHE_SECONDS=str(page_cache_seconds))
    script = work / "statuses.lua"
    script.write_text(WRK_STATUS_SCRIPT)
    results = {}
    try:
        for campaigns, pledges in sizes:
            started = time.perf_counter()
            counts = seed(app, campaigns, pledges)
            # The seeder writes outside any session, so it sets no new page generation: start the
            # size with an empty Redis (stored pages, rate limits) instead.
            redis.Redis.from_url(redis_url).flushdb()
            print(f"Seeded {counts['campaigns']:,} campaigns, {counts['pledges']:,} pledges "
                  f"({time.perf_counter() - started:.1f} s)", flush=True)
            urls = page_urls(app)
            hello = Gunicorn(env, work / f"hello-{campaigns}.log", target="bench.hello:app", health_path="/")
            site = Gunicorn(env, work / f"app-{campaigns}.log")
            figures = {}
            try:
                hello.start()
                site.start()
                for url in (hello.url + "/", *(site.url + path for path in urls.values())):
                    wrk(url, 2, script)  # warm up: imports, pools, caches
                figures["hello"] = wrk(hello.url + "/", duration, script)
                for name, path in urls.items():
                    figures[name] = wrk(site.url + path, duration, script)
                    print(f"  {name:<9} {figures[name]['rps']:8.0f} req/s", flush=True)
                figures["writes"] = wrk_while_writing(site.url + urls["campaign"], duration, script, redis_url)
                print(f"  campaign, a write every {WRITE_EVERY_SECONDS} s {figures['writes']['rps']:8.0f} req/s, "
                      f"p99 {figures['writes']['p99']:.1f} ms", flush=True)
                figures["memory"] = site.worker_rss_mb()
                figures["hello_memory"] = hello.worker_rss_mb()
            finally:
                site.stop()
                hello.stop()
            results[campaigns] = {"counts": counts, "urls": urls, "figures": figures}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


def report(results: dict) -> list[str]:
    sizes = sorted(results)
    lines = ["| data | page | req/s | p50 ms | p99 ms | ratio to hello | target | non-2xx |",
             "|---|---|---:|---:|---:|---:|---|---:|"]
    misses = []
    for size in sizes:
        figures, counts = results[size]["figures"], results[size]["counts"]
        hello = figures["hello"]
        label = f"{counts['campaigns']:,} campaigns / {counts['pledges']:,} pledges"
        lines.append(f"| {label} | hello (baseline) | {hello['rps']:.0f} | {hello['p50']:.1f} | {hello['p99']:.1f} "
                     f"| 1 | | {hello['non_2xx']} |")
        for name, target in TARGETS.items():
            page = figures[name]
            ratio = page["rps"] / hello["rps"]
            met = ratio >= target and page["p99"] < P99_TARGET_MS and not page["non_2xx"]
            if not met:
                misses.append(f"{name} at {counts['campaigns']:,} campaigns")
            lines.append(f"| {label} | {name} `{results[size]['urls'][name]}` | {page['rps']:.0f} | {page['p50']:.1f} "
                         f"| {page['p99']:.1f} | 1/{1 / ratio:.1f} | ≥ 1/{1 / target:.0f}, p99 < 50 ms: "
                         f"{'met' if met else 'MISSED'} | {page['non_2xx']} |")
        writes = figures["writes"]
        met = writes["p99"] < P99_TARGET_MS and not writes["non_2xx"]
        if not met:
            misses.append(f"campaign while writing at {counts['campaigns']:,} campaigns")
        lines.append(f"| {label} | campaign, a write every {WRITE_EVERY_SECONDS} s | {writes['rps']:.0f} "
                     f"| {writes['p50']:.1f} | {writes['p99']:.1f} | 1/{hello['rps'] / writes['rps']:.1f} "
                     f"| p99 < 50 ms: {'met' if met else 'MISSED'} | {writes['non_2xx']} |")
    if len(sizes) >= 2:
        small, large = results[sizes[0]]["figures"], results[sizes[-1]]["figures"]
        lines += ["", f"Cost against data size ({sizes[0]:,} → {sizes[-1]:,} campaigns; target: the larger "
                  f"within {GROWTH_TARGET}× of the smaller):", "",
                  "| page | req/s small | req/s large | slowdown | target |", "|---|---:|---:|---:|---|"]
        for name in TARGETS:
            slowdown = small[name]["rps"] / large[name]["rps"]
            met = slowdown <= GROWTH_TARGET
            if not met:
                misses.append(f"{name} slows {slowdown:.2f}× with the data")
            lines.append(f"| {name} | {small[name]['rps']:.0f} | {large[name]['rps']:.0f} | {slowdown:.2f}× "
                         f"| {'met' if met else 'MISSED'} |")
    largest = results[sizes[-1]]["figures"]
    lines += ["", "Memory (RSS) per gunicorn worker after the load: app "
              + ", ".join(f"{mb:.0f} MB" for mb in largest["memory"]) + "; hello "
              + ", ".join(f"{mb:.0f} MB" for mb in largest["hello_memory"]) + "."]
    lines += ["", "All targets met." if not misses else "Missed: " + "; ".join(misses) + "."]
    return lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000:20000,10000:200000",
                        help="campaigns:pledges pairs, smallest first (default 1000:20000,10000:200000)")
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per page (default 10)")
    parser.add_argument("--postgres", default=os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
                        help="a PostgreSQL server (any database on it); crowdfund_bench is created there")
    parser.add_argument("--redis", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12"))
    parser.add_argument("--page-cache-seconds", type=int, default=30,
                        help="PAGE_CACHE_SECONDS for the app (0: every page rendered, the 'before' figures)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    sizes = [tuple(int(n) for n in pair.split(":")) for pair in args.sizes.split(",")]
    results = run(sizes, args.duration, args.postgres, args.redis, args.page_cache_seconds)
    lines = report(results)
    print("\n".join(lines))
    if not args.no_write:
        title = "## Pages against a bare Flask app (bench/pages.py)" + (
            "" if args.page_cache_seconds else ", page cache off (before)")
        header = [title, "",
                  f"Machine: {machine()}.", "",
                  f"gunicorn.conf.py as in docs/operations.md (2 gthread workers × 4 threads, a socket per worker, "
                  f"no recycling, warm-up), production config "
                  f"(page cache {args.page_cache_seconds} s), "
                  f"PostgreSQL, Redis; wrk -t2 -c{CONNECTIONS}, {args.duration} s per page, from the same machine "
                  f"on loopback (it shares the 2 cores). Run on {time.strftime('%Y-%m-%d')}.", ""]
        write_section(header[0], header + lines)
        print(f"Written to {RESULTS.relative_to(PROJECT_DIR)}")


if __name__ == "__main__":
    main()
