"""Screenshots of the main pages at phone width (375 px) and desktop width (1440 px), for the README.

    .venv/bin/python scripts/screenshots.py            # writes docs/screenshots/<page>-<width>.png
    .venv/bin/python scripts/screenshots.py --out /tmp/shots --only home campaign

It builds a throwaway site (a temporary SQLite database and upload folder, migrated, with the demo
data of `flask crowdfund demo`), serves it on a free loopback port, logs in as the demo accounts
through the log-in form, and photographs the first screen of each page with the system Chromium
(what a visitor sees without scrolling; full pages would make files of several megabytes). Nothing in
instance/ is touched. Images are reduced to a 256-colour palette, which keeps them small and sharp.
"""
import argparse
import logging
import os
import sys
import tempfile
import threading
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))

CHROMIUM = Path(os.environ.get("CROWDFUND_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
VIEWPORTS = {375: {"width": 375, "height": 812}, 1440: {"width": 1440, "height": 900}}
FEATURED_TITLE = "Chengdu Tea House: a second room for tastings"
NEW_BACKER = "sam@example.com"  # has backed nothing yet, so the pledge page is the one a first pledge sees


def pages(slug: str) -> list[tuple[str, str, str | None]]:
    """(name, path, demo account to be logged in as, or None for a visitor), in README order."""
    return [
        ("home", "/", None),
        ("discover", "/discover", None),
        ("category", "/discover/crafts", None),
        ("search", "/search?q=bike", None),
        ("campaign", f"/c/{slug}", None),
        ("login", "/login", None),
        ("signup", "/signup", None),
        ("pledge", f"/c/{slug}/pledge", NEW_BACKER),
        ("my-pledges", "/me/pledges", "backer1@example.com"),
        ("dashboard", f"/c/{slug}/dashboard", "mei@example.com"),
        ("moderation", "/moderation/", "moderator@example.com"),
    ]


def build_site(workdir: Path):
    """The app on a new SQLite database in workdir, migrated and filled with the demo data."""
    from flask_migrate import upgrade

    from crowdfund import create_app
    from crowdfund.accounts.services import mark_email_verified, register_user
    from crowdfund.campaigns.models import Campaign
    from crowdfund.demo import DEMO_PASSWORD, load_demo_data
    from crowdfund.extensions import db

    app = create_app({
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{workdir / 'screenshots.sqlite3'}",
        "INSTANCE_DIR": workdir, "UPLOAD_DIR": workdir / "uploads",
        "IN_PROCESS_TICKER": False, "RATELIMIT_ENABLED": False, "LOG_LEVEL": "WARNING",
    })
    with app.app_context():
        upgrade(directory=str(PROJECT_DIR / "crowdfund" / "migrations"))
        load_demo_data()
        mark_email_verified(register_user(NEW_BACKER, "Sam Lee", DEMO_PASSWORD))
        db.session.commit()
        slug = db.session.execute(db.select(Campaign.slug).where(Campaign.title == FEATURED_TITLE)).scalar_one()
        db.session.remove()
    return app, slug


def shrink(path: Path) -> None:
    """Re-save as a 256-colour PNG: a third of the size, no visible difference for flat UI colours."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(path, optimize=True)


def take(out: Path, only: set[str]) -> list[Path]:
    from playwright.sync_api import sync_playwright
    from werkzeug.serving import make_server

    from crowdfund.demo import DEMO_PASSWORD

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request
    written = []
    with tempfile.TemporaryDirectory(prefix="crowdfund-screenshots-") as tmp:
        app, slug = build_site(Path(tmp))
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        base_url = f"http://127.0.0.1:{server.server_port}"
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                for width, viewport in VIEWPORTS.items():
                    for name, path, account in pages(slug):
                        if only and name not in only:
                            continue
                        context = browser.new_context(base_url=base_url, viewport=viewport)
                        page = context.new_page()
                        if account:
                            page.goto("/login")
                            page.locator("main form").get_by_label("Email").fill(account)
                            page.locator("main form").get_by_label("Password", exact=True).fill(DEMO_PASSWORD)
                            page.locator("main form").get_by_role("button", name="Log in").click()
                            page.wait_for_url(lambda url: "/login" not in url)
                        page.goto(path)
                        page.wait_for_load_state("networkidle")
                        target = out / f"{name}-{width}.png"
                        page.screenshot(path=str(target))
                        shrink(target)
                        written.append(target)
                        context.close()
                browser.close()
        finally:
            server.shutdown()
            server.server_close()
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=PROJECT_DIR / "docs" / "screenshots")
    parser.add_argument("--only", nargs="*", default=[], help="page names (home, campaign, ...)")
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        print(f"No Chromium at {CHROMIUM} (apt-get install -y chromium, or set CROWDFUND_TEST_CHROMIUM).",
              file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    for path in take(args.out, set(args.only)):
        print(f"{path.relative_to(PROJECT_DIR) if path.is_relative_to(PROJECT_DIR) else path} "
              f"{path.stat().st_size // 1024} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
