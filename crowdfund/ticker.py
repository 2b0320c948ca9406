"""The periodic job in the single-machine run: without Celery beat, a daemon thread in each
web process closes due campaigns every TICK_INTERVAL_SECONDS. The job is idempotent and
safe to run concurrently, so several processes doing it is harmless."""
import threading

from flask import Flask

_started = threading.Event()


def run_periodic_jobs(now=None) -> dict:
    """Everything that must happen on time; the caller provides an app context."""
    from crowdfund.campaigns.lifecycle import close_due_campaigns
    from crowdfund.clock import utcnow
    from crowdfund.extensions import db

    try:
        result = close_due_campaigns(now or utcnow())
        db.session.commit()
        return result
    except Exception:
        db.session.rollback()
        raise
    finally:
        db.session.remove()


def _loop(app: Flask, interval: int) -> None:
    while True:
        with app.app_context():
            try:
                result = run_periodic_jobs()
                if any(result.values()):
                    app.logger.info("Closed campaigns: %s", result)
            except Exception:  # keep ticking; the next run retries what failed
                app.logger.exception("Periodic job failed")
        threading.Event().wait(interval)


def start_in_process_ticker(app: Flask) -> None:
    """Start the ticker with the first request this process serves (never in CLI commands or tests)."""
    if not app.config.get("IN_PROCESS_TICKER"):
        return

    @app.before_request
    def _start_ticker_once():
        if not _started.is_set():
            _started.set()
            threading.Thread(target=_loop, args=(app, app.config["TICK_INTERVAL_SECONDS"]),
                             name="crowdfund-ticker", daemon=True).start()
