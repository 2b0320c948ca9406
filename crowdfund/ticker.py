"""The periodic job in the single-machine run: without Celery beat, a daemon thread in each
web process closes due campaigns every TICK_INTERVAL_SECONDS. The job is idempotent and
safe to run concurrently, so several processes doing it is harmless."""
import threading
from datetime import timedelta

from flask import Flask, current_app


def run_periodic_jobs(now=None) -> dict:
    """Everything that must happen on time: close due campaigns, then charge, retry, remind and
    drop pledges; forget login sessions past their time; refresh the trending scores. Returns the closing counts; the caller provides an app context."""
    from crowdfund.accounts.services import end_old_login_sessions
    from crowdfund.campaigns.derived import refresh_trending
    from crowdfund.campaigns.lifecycle import close_due_campaigns
    from crowdfund.clock import utcnow
    from crowdfund.extensions import db
    from crowdfund.notifications.services import queue_ending_soon
    from crowdfund.outbox import dispatch_due, forget_delivered
    from crowdfund.settlement.charging import run_payment_jobs
    from crowdfund.settlement.refunds import resolve_open_refunds
    from crowdfund.settlement.releases import run_release_jobs
    from crowdfund.pledges.services import expire_abandoned_pledges
    from crowdfund.credit.jobs import run_daily as refresh_credit
    from crowdfund.risk.jobs import run_daily as refresh_risk

    now = now or utcnow()
    try:
        result = close_due_campaigns(now)
        expire_abandoned_pledges(now)
        end_old_login_sessions(now)
        refresh_trending(now)  # the discover "trending" order reads the score instead of summing pledges
        db.session.commit()
        # Charging commits claim by claim (see payments/charging.py), so it runs after the closing
        # commit rather than inside close_due_campaigns; it also picks up what a crashed run left.
        run_payment_jobs(now)
        resolve_open_refunds(now)  # refunds whose Stripe answer was lost: found and booked, or reopened
        run_release_jobs(now)  # first tranches once charging settled; approved releases sent (payouts)
        queue_ending_soon(now)  # followers' "48 hours left" email, once each (notifications)
        refresh_credit(now)  # profiles change with time too (a milestone becomes overdue)
        refresh_risk(now)  # silence and overdue milestones raise a campaign's risk; the moderators' digest
        db.session.commit()
        # Events whose dispatch after commit was lost (a broker away, a process killed) or failed.
        dispatch_due()  # on the real clock: a backoff is real time, whatever `now` the job is run as
        forget_delivered(now - timedelta(days=int(current_app.config["OUTBOX_KEEP_DAYS"])))
        db.session.commit()
        return result
    except Exception:
        db.session.rollback()
        raise
    finally:
        db.session.remove()


class Ticker:
    """Runs run_periodic_jobs every interval seconds in a daemon thread until stopped."""

    def __init__(self, app: Flask, interval: float):
        self.app = app
        self.interval = interval
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start_once(self) -> None:
        with self._lock:
            if self.thread is None:
                self.thread = threading.Thread(target=self._loop, name="crowdfund-ticker", daemon=True)
                self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        if self.thread is not None:
            self.thread.join(timeout=10)

    def _loop(self) -> None:
        while not self.stopped.is_set():
            with self.app.app_context():
                try:
                    result = run_periodic_jobs()
                    if any(result.values()):
                        self.app.logger.info("Closed campaigns: %s", result)
                except Exception:  # keep ticking; the next run retries what failed
                    self.app.logger.exception("Periodic job failed")
            self.stopped.wait(self.interval)


def start_in_process_ticker(app: Flask) -> None:
    """Start the ticker with the first request this app serves (so never in CLI commands)."""
    if not app.config.get("IN_PROCESS_TICKER"):
        return
    ticker = Ticker(app, float(app.config["TICK_INTERVAL_SECONDS"]))
    app.extensions["crowdfund_ticker"] = ticker
    app.before_request(ticker.start_once)
