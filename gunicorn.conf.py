"""gunicorn settings for `make serve`, the systemd unit and the Procfile (docs/operations.md).

Every setting can be changed from the environment without editing this file:
GUNICORN_BIND, GUNICORN_WORKERS, GUNICORN_WORKER_CLASS, GUNICORN_THREADS, GUNICORN_TIMEOUT,
GUNICORN_MAX_REQUESTS, GUNICORN_REUSE_PORT, GUNICORN_ACCESSLOG.
The default worker class is gthread with 4 threads: pages that wait on Stripe (pledging, the fix
page, payouts) hold a thread, not a whole process, while they wait (bench/workers.py); on pages that
only use the CPU 2, 4 or 8 threads serve about the same (docs/operations.md). The database pool
(DB_POOL_SIZE 5 + DB_MAX_OVERFLOW 5) covers them.
"""
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", 2))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
# Each worker listens on a socket of its own (SO_REUSEPORT) and the kernel spreads new connections
# over them. On one shared socket whichever worker woke first accepted, so at times one worker held
# every kept-alive connection of a burst while the other idled: half the req/s (docs/benchmarks.md).
reuse_port = os.environ.get("GUNICORN_REUSE_PORT", "1") != "0"
threads = int(os.environ.get("GUNICORN_THREADS", 4))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
graceful_timeout = 20
keepalive = 5
# Each worker builds its own app (and its own database pool) after the fork.
preload_app = False
# Access lines go to stdout; the app's own JSON lines (with the request id) to stderr.
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-")
errorlog = "-"
# Recycling workers (a fresh process every N requests, against a slow leak) is off by default: RSS
# stayed flat at 134-135 MB per worker over 18,000 rendered pages, while recycling every 5,000
# requests halved the req/s of every page under load (docs/benchmarks.md). Set GUNICORN_MAX_REQUESTS
# to turn it on; a recycled worker warms up before its first request (post_worker_init).
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", 0))
max_requests_jitter = max_requests // 10


def post_worker_init(worker):
    """Compile templates, open connections and load locales before the first request, not during it
    (crowdfund/warmup.py)."""
    if "sqlalchemy" not in getattr(worker.wsgi, "extensions", {}):
        return  # not crowdfund: bench/hello.py is served with these settings too
    from crowdfund.warmup import warm

    seconds = warm(worker.wsgi)
    worker.log.info("Worker %s warmed up in %.2f s", worker.pid, seconds)


# Behind nginx or a load balancer, X-Forwarded-* are trusted only through PROXY_COUNT (config.py).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# gunicorn 24+ opens a control socket, by default one path for every gunicorn of the user; several
# instances (the benchmarks, the smoke test, a second site) would clash. Each instance gets its own,
# in its instance directory, when CROWDFUND_INSTANCE_DIR is set.
if os.environ.get("CROWDFUND_INSTANCE_DIR"):
    control_socket = os.path.join(os.environ["CROWDFUND_INSTANCE_DIR"], "gunicorn.ctl")
