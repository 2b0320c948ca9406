"""The production-like run (`make serve`): migrations, then gunicorn, a Celery worker and Celery beat,
started and stopped together, against the PostgreSQL and Redis named in the environment.

    python -m crowdfund.serve [--bind 127.0.0.1:8000] [--workers 2] [--log-dir DIR]

CROWDFUND_ENV is production unless set otherwise, so a missing essential setting stops it before
anything starts, with the app's own message. With STRIPE_STANDIN=1 and no STRIPE_SECRET_KEY the
Stripe stand-in is started too and its webhooks are sent to this gunicorn. Each process logs to a
file of its own in the log directory (INSTANCE_DIR/serve by default). Ctrl-C or SIGTERM stops every
process; when one of them exits on its own, the others are stopped and this exits non-zero.

Every process runs in config.BASE_DIR: the checkout, or (installed from a wheel) the directory this is
started from, where .env and instance/ are. gunicorn's settings are the gunicorn.conf.py found there,
else the copy the wheel installs (<prefix>/share/crowdfund/gunicorn.conf.py).
"""
import argparse
import importlib.metadata
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import config
from crowdfund.devserver import StandinProcess, _die_with_parent, register_webhook

READY_TIMEOUT_SECONDS = 120
STOP_TIMEOUT_SECONDS = 30


class Child:
    """One long-running process in a process group of its own, logging to log_path.

    Its own group: Ctrl-C reaches this launcher only, which stops them all, and a
    stop can end what the child started (gunicorn's workers, Celery's pool) with one killpg.
    The parent-death signal covers the launcher being killed outright."""

    def __init__(self, name: str, argv: list[str], log_path: Path):
        self.name, self.argv, self.log_path = name, argv, log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen(self.argv, cwd=config.BASE_DIR, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True,
                                            preexec_fn=_die_with_parent)

    def terminate(self) -> None:
        """SIGTERM: each program's graceful stop (gunicorn finishes its requests, Celery its tasks)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()

    def wait(self) -> int | None:
        """Wait for the stop, then SIGKILL whatever of its group is still there."""
        if self.process is None:
            return None
        try:
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            print(f" * {self.name} did not stop within {STOP_TIMEOUT_SECONDS} s; killing it", flush=True)
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return self.process.wait()


def gunicorn_config() -> Path | None:
    """gunicorn.conf.py in config.BASE_DIR (the checkout's, or an operator's own copy next to .env),
    else the one installed with the wheel as data; None when there is neither."""
    own = config.BASE_DIR / "gunicorn.conf.py"
    if own.is_file():
        return own
    try:
        files = importlib.metadata.distribution("crowdfund").files or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for file in files:
        if file.name == "gunicorn.conf.py":
            path = Path(file.locate()).resolve()
            if path.is_file():
                return path
    return None


def _local_url(bind: str) -> str:
    """http://host:port for a gunicorn bind address; a wildcard host is reached on loopback."""
    host, _, port = bind.rpartition(":")
    if host in ("", "0.0.0.0", "[::]"):
        host = "127.0.0.1"
    return f"http://{host}:{port}"


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


def _stop_on_sigterm(signum, frame):
    raise KeyboardInterrupt


def _wait_for(watched: dict[str, tuple[subprocess.Popen, Path]], condition, timeout: float | None) -> str | None:
    """Poll until condition() holds (None) or a watched process exits (a line saying which);
    SystemExit after timeout seconds."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while deadline is None or time.monotonic() < deadline:
        for name, (process, log_path) in watched.items():
            if process.poll() is not None:
                return f"{name} exited ({process.returncode}); see {log_path}"
        if condition():
            return None
        time.sleep(0.5)
    raise SystemExit(f" * /healthz did not answer 200 within {timeout:.0f} s; see the logs named above")


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _start_standin(standin: StandinProcess, config, url: str) -> None:
    """Start the Stripe stand-in (test mode) and send its webhooks to this run's gunicorn."""
    standin.start()
    print(f" * Stripe stand-in (test mode, no real money) at {standin.base_url}, log {standin.log_path}",
          flush=True)
    if config.get("STRIPE_WEBHOOK_SECRET"):
        register_webhook(standin.base_url, url + "/stripe/webhook", config["STRIPE_WEBHOOK_SECRET"])
        print(f" * Stand-in webhooks go to {url}/stripe/webhook", flush=True)
    else:
        print(" * STRIPE_WEBHOOK_SECRET is not set: the stand-in's webhooks are not registered", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bind", default=os.environ.get("GUNICORN_BIND", "127.0.0.1:8000"),
                        help="gunicorn's address (default: GUNICORN_BIND or 127.0.0.1:8000)")
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: GUNICORN_WORKERS or 2)")
    parser.add_argument("--log-dir", type=Path, help="where each process logs (default: INSTANCE_DIR/serve)")
    args = parser.parse_args(argv)
    os.environ.setdefault("CROWDFUND_ENV", "production")
    gunicorn_conf = gunicorn_config()
    if gunicorn_conf is None:
        print(f"gunicorn.conf.py was found neither in {config.BASE_DIR} nor with the installed crowdfund: run this "
              "from the checkout, or put a gunicorn.conf.py (it is in the source distribution) in the directory "
              "you start it from (docs/operations.md, Installing from a wheel)", file=sys.stderr)
        return 2

    from flask_migrate import upgrade

    from crowdfund import create_app
    from crowdfund.extensions import db

    try:
        app = create_app()
    except RuntimeError as error:  # ProductionConfig's list of what is missing
        print(error, file=sys.stderr)
        return 2
    log_dir = args.log_dir or Path(app.config["INSTANCE_DIR"]) / "serve"
    log_dir.mkdir(parents=True, exist_ok=True)
    url = _local_url(args.bind)

    print(" * Migrating the database (flask db upgrade)", flush=True)
    with app.app_context():
        upgrade()
        db.engine.dispose()  # nothing of this process's pool is carried into the children

    workers = ["--workers", str(args.workers)] if args.workers else []
    celery = [sys.executable, "-m", "celery", "-A", "crowdfund.celery_app"]
    children = [
        Child("gunicorn", [sys.executable, "-m", "gunicorn", "-c", str(gunicorn_conf), "--bind", args.bind,
                           *workers, "wsgi:app"], log_dir / "gunicorn.log"),
        Child("celery worker", [*celery, "worker", "--loglevel", "INFO", "--concurrency", "2"],
              log_dir / "celery-worker.log"),
        Child("celery beat", [*celery, "beat", "--loglevel", "INFO"], log_dir / "celery-beat.log"),
    ]
    standin = None
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
    status = 0
    try:
        for child in children:
            child.start()
            print(f" * {child.name} (pid {child.process.pid}), log {child.log_path}", flush=True)
        watched = {child.name: (child.process, child.log_path) for child in children}
        if _env_flag("STRIPE_STANDIN") and not app.config.get("STRIPE_SECRET_KEY"):
            standin = StandinProcess(app.config["STRIPE_STANDIN_URL"].rstrip("/"), log_dir / "stripe-standin.log")
            _start_standin(standin, app.config, url)  # while the others boot
            watched["Stripe stand-in"] = (standin.process, standin.log_path)

        died = _wait_for(watched, lambda: _healthy(url), READY_TIMEOUT_SECONDS)
        if died is None:
            print(f" * Ready: {url} (gunicorn, Celery worker and beat). Ctrl-C stops everything.", flush=True)
            died = _wait_for(watched, lambda: False, None)
        print(f" * {died}; stopping the rest", file=sys.stderr, flush=True)
        status = 1
    except KeyboardInterrupt:
        print(" * Stopping", flush=True)
    except SystemExit as error:
        print(error, file=sys.stderr, flush=True)
        status = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for child in children:  # all at once: the stop takes as long as the slowest, not their sum
            child.terminate()
        for child in children:
            child.wait()
        if standin is not None:
            standin.stop()
    if status == 0:
        print(" * Stopped", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
