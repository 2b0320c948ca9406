"""The transactional outbox: domain events written in the same transaction as the change they report,
delivered after commit by a dispatcher, so a crash between commit and delivery loses nothing.

- emit(kind, **payload) adds an OutboxEvent row to the caller's transaction (it flushes, never
  commits) and asks, after commit, for a dispatch. A rolled-back change leaves no event.
- dispatch_due() delivers every due event: each is claimed by a conditional UPDATE that is committed
  before its handler runs (a lease of LEASE; a dispatcher that dies mid-delivery leaves a claim that
  expires, and the event is delivered again), then marked delivered. A handler that raises is retried
  with backoff. Handlers must be idempotent (emails are keyed per event and recipient in
  EmailDelivery), so a redelivery sends nothing twice.
- Handlers are registered by the layer that reacts (notifications) with @handles(kind); each is
  called with the event's payload plus "_event_id". This module, infrastructure, imports nobody above it.

How a dispatch is started after commit (OUTBOX_DISPATCH): "celery" (a broker is configured) sends
the dispatch task by name — a broker that cannot be reached only delays delivery, the periodic job
sweeps the outbox; "thread" (the default single-machine run) wakes a dispatcher thread of this
process, so no email is sent inside a request; "inline" (tests) dispatches at once, after commit,
in an app context of its own, logging failures instead of raising them.
"""
import json
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import String, Text, update
from sqlalchemy.orm import Mapped, mapped_column

from crowdfund.clock import utcnow
from crowdfund.extensions import celery, db
from crowdfund.unit_of_work import after_commit

DISPATCH_TASK = "crowdfund.tasks.dispatch_outbox_task"
# A claimed event whose dispatcher has not finished within this long is handed to another.
LEASE = timedelta(minutes=5)
MAX_BACKOFF = timedelta(hours=6)
BATCH = 100

HANDLERS: dict[str, Callable[[dict], None]] = {}
# Reactions besides the one handler (crowdfund/credit, crowdfund/risk recompute what an event
# changed): any number per kind, each called with (kind, payload) in the same delivery, after the
# handler. They must be idempotent too; one that raises makes the whole event retried.
OBSERVERS: dict[str, list[Callable[[str, dict], None]]] = {}


class OutboxEvent(db.Model):
    """A domain event ("pledge.collected", "campaign.launched", …) waiting for, or done with, delivery."""

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text, default="{}")  # JSON: ids and plain values, never models
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Due for (another) delivery attempt at this time; a claim moves it LEASE ahead.
    available_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    delivered_at: Mapped[datetime | None] = mapped_column(index=True)
    last_error: Mapped[str | None] = mapped_column(String(500))

    @property
    def data(self) -> dict:
        return json.loads(self.payload or "{}")


def handles(kind: str):
    """Register the decorated function as the handler of kind (one per kind)."""
    def register(function: Callable[[dict], None]):
        existing = HANDLERS.get(kind)
        if existing is not None and existing.__qualname__ != function.__qualname__:
            raise ValueError(f"{kind} already has a handler: {existing.__qualname__}")
        HANDLERS[kind] = function
        return function
    return register


def observes(*kinds: str):
    """Register the decorated function as an observer of each kind (called as function(kind, payload))."""
    def register(function: Callable[[str, dict], None]):
        for kind in kinds:
            observers = OBSERVERS.setdefault(kind, [])
            if all(o.__qualname__ != function.__qualname__ or o.__module__ != function.__module__
                   for o in observers):
                observers.append(function)
        return function
    return register


def emit(kind: str, now: datetime | None = None, **payload) -> OutboxEvent:
    """Write event kind with payload (JSON-safe values) in the current transaction. Flushes; the
    event is delivered after the caller commits, and never if it rolls back."""
    event = OutboxEvent(kind=kind, payload=json.dumps(payload, sort_keys=True),
                        created_at=now or utcnow(), available_at=utcnow())
    db.session.add(event)
    db.session.flush()
    app = current_app._get_current_object()
    after_commit(lambda: _kick(app), key="outbox-dispatch")  # one dispatch however many events
    return event


def dispatch_mode(app) -> str:
    mode = app.config.get("OUTBOX_DISPATCH")
    if mode:
        return mode
    return "celery" if app.config.get("CELERY_BROKER_URL") else "thread"


def _kick(app) -> None:
    mode = dispatch_mode(app)
    if mode == "inline":
        dispatch_in_own_context(app)
    elif mode == "thread":
        dispatcher_thread(app).wake()
    else:
        try:
            celery.send_task(DISPATCH_TASK, retry=False)
        except Exception as error:  # the events are committed; the periodic job's sweep delivers them
            app.logger.warning("Could not queue the outbox dispatch (%s); the periodic job will deliver it", error)


def dispatch_in_own_context(app) -> int:
    """dispatch_due() in an app context of its own (a session of its own), with links built on
    PUBLIC_URL; failures are logged, never raised."""
    try:
        with app.app_context(), app.test_request_context("/", base_url=app.config["PUBLIC_URL"]):
            try:
                return dispatch_due()
            finally:
                db.session.remove()
    except Exception:
        app.logger.exception("Outbox dispatch failed; the events stay for the next one")
        return 0


def _backoff(attempts: int) -> timedelta:
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def _claim(event_id: int, available_at: datetime, now: datetime) -> bool:
    """Take event_id for delivery (committed), unless another dispatcher took it since it was read."""
    taken = db.session.execute(
        update(OutboxEvent).where(OutboxEvent.id == event_id, OutboxEvent.delivered_at.is_(None),
                                  OutboxEvent.available_at == available_at)
        .values(available_at=now + LEASE, attempts=OutboxEvent.attempts + 1)
        .execution_options(synchronize_session=False)).rowcount == 1
    db.session.commit()
    return taken


def deliver(event_id: int, now: datetime | None = None) -> bool:
    """Deliver one event if it is due and nobody else holds it. COMMITS. Returns whether it was delivered."""
    now = now or utcnow()
    event = db.session.get(OutboxEvent, event_id)
    if event is None or event.delivered_at is not None or event.available_at > now:
        return False
    kind, payload, available_at, attempts = event.kind, event.data, event.available_at, event.attempts
    if not _claim(event_id, available_at, now):
        return False
    handler = HANDLERS.get(kind)
    observers = OBSERVERS.get(kind, [])
    try:
        if handler is None and not observers:
            raise LookupError(f"no handler for outbox events of kind {kind!r}")
        if handler is not None:
            handler({**payload, "_event_id": event_id})  # the id keys what the handler sends (EmailDelivery)
        for observer in observers:
            observer(kind, {**payload, "_event_id": event_id})
        db.session.commit()
    except Exception as error:
        db.session.rollback()
        current_app.logger.warning("Outbox event %s (%s) failed, attempt %s: %s", event_id, kind, attempts + 1,
                                   error, exc_info=not isinstance(error, LookupError))
        db.session.execute(update(OutboxEvent).where(OutboxEvent.id == event_id).values(
            available_at=now + _backoff(attempts + 1), last_error=f"{type(error).__name__}: {error}"[:500])
            .execution_options(synchronize_session=False))
        db.session.commit()
        return False
    db.session.execute(update(OutboxEvent).where(OutboxEvent.id == event_id).values(
        delivered_at=utcnow(), last_error=None).execution_options(synchronize_session=False))
    db.session.commit()
    return True


def dispatch_due(now: datetime | None = None, limit: int = BATCH) -> int:
    """Deliver up to limit due events, oldest first (also ones a crashed dispatcher left). COMMITS.
    Safe to run in several processes at once. Returns how many were delivered."""
    now = now or utcnow()
    due = db.session.execute(
        db.select(OutboxEvent.id).where(OutboxEvent.delivered_at.is_(None), OutboxEvent.available_at <= now)
        .order_by(OutboxEvent.id).limit(limit)).scalars().all()
    db.session.commit()
    return sum(deliver(event_id, now) for event_id in due)


def waiting_payloads(after_event_id: int, kinds, limit: int = 100) -> list[dict]:
    """The payloads of up to `limit` events after after_event_id, of these kinds, that no dispatcher
    has claimed yet and that never failed: each will be delivered after everything committed so far,
    so an observer may leave its recompute to one of them about the same subject (coalescing: a
    deadline's hundreds of pledge.collected events cost one recompute). Reads only."""
    rows = db.session.execute(
        db.select(OutboxEvent.payload).where(
            OutboxEvent.id > after_event_id, OutboxEvent.delivered_at.is_(None), OutboxEvent.attempts == 0,
            OutboxEvent.last_error.is_(None), OutboxEvent.kind.in_(kinds))
        .order_by(OutboxEvent.id.desc()).limit(limit)).scalars().all()
    return [json.loads(payload or "{}") for payload in rows]


def undelivered_count() -> int:
    return db.session.execute(db.select(db.func.count(OutboxEvent.id)).where(
        OutboxEvent.delivered_at.is_(None))).scalar_one()


def forget_delivered(before: datetime) -> int:
    """Delete events delivered before `before` (the periodic job keeps OUTBOX_KEEP_DAYS). Flushes; writes
    nothing when there is nothing to delete (a write would make the page cache's pages stale)."""
    # The newest event always stays: SQLite numbers a new row max(id) + 1, so deleting it would let the
    # next event take an id whose EmailDelivery claims ("outbox:<id>") exist, and its emails never go out.
    newest = db.select(db.func.max(OutboxEvent.id)).scalar_subquery()
    old = (OutboxEvent.delivered_at.is_not(None), OutboxEvent.delivered_at < before, OutboxEvent.id < newest)
    if db.session.execute(db.select(OutboxEvent.id).where(*old).limit(1)).first() is None:
        return 0
    result = db.session.execute(db.delete(OutboxEvent).where(*old))
    db.session.flush()
    return result.rowcount


class DispatcherThread:
    """The default run's dispatcher: a daemon thread that drains the outbox whenever a commit wakes
    it (and every interval seconds, for retries), so requests never wait for SMTP."""

    def __init__(self, app, interval: float = 30.0):
        self.app = app
        self.interval = interval
        self.woken = threading.Event()
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def wake(self) -> None:
        with self._lock:
            if self.thread is None:
                self.thread = threading.Thread(target=self._loop, name="crowdfund-outbox", daemon=True)
                self.thread.start()
        self.woken.set()

    def stop(self) -> None:
        self.stopped.set()
        self.woken.set()
        if self.thread is not None:
            self.thread.join(timeout=10)

    def _loop(self) -> None:
        while not self.stopped.is_set():
            self.woken.wait(self.interval)
            self.woken.clear()
            if not self.stopped.is_set():
                dispatch_in_own_context(self.app)


def dispatcher_thread(app) -> DispatcherThread:
    with _THREADS_LOCK:
        thread = app.extensions.get("crowdfund_outbox_thread")
        if thread is None:
            thread = app.extensions["crowdfund_outbox_thread"] = DispatcherThread(app)
        return thread


_THREADS_LOCK = threading.Lock()
