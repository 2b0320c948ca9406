"""Outbox observers (issue 16): several reactions to one event kind, delivered with the event."""
from datetime import timedelta

import pytest

from crowdfund import outbox
from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.outbox import OutboxEvent


@pytest.fixture
def observed(app):
    """Registers observers of the test's own kinds for the test only; yields the calls they saw."""
    calls = []
    added = []

    def register(kind, function):
        outbox.OBSERVERS.setdefault(kind, []).append(function)
        added.append((kind, function))

    yield calls, register
    for kind, function in added:
        outbox.OBSERVERS[kind].remove(function)
        if not outbox.OBSERVERS[kind]:
            del outbox.OBSERVERS[kind]


def test_a_kind_with_observers_and_no_handler_is_delivered_to_every_observer(app, observed, monkeypatch):
    calls, register = observed
    monkeypatch.setattr(outbox, "_kick", lambda app: None)
    register("test.observed", lambda kind, payload: calls.append(("first", kind, payload["thing_id"])))
    register("test.observed", lambda kind, payload: calls.append(("second", kind, payload["thing_id"])))
    event_id = outbox.emit("test.observed", thing_id=7).id
    db.session.commit()

    assert outbox.deliver(event_id) is True
    assert calls == [("first", "test.observed", 7), ("second", "test.observed", 7)]
    assert db.session.get(OutboxEvent, event_id).delivered_at is not None


def test_an_observer_that_raises_leaves_the_event_for_a_retry_and_the_retry_calls_it_again(
        app, observed, monkeypatch):
    calls, register = observed
    monkeypatch.setattr(outbox, "_kick", lambda app: None)
    failures = [RuntimeError("database busy")]

    def flaky(kind, payload):
        calls.append(payload["_event_id"])
        if failures:
            raise failures.pop()

    register("test.flaky", flaky)
    event_id = outbox.emit("test.flaky").id
    db.session.commit()

    assert outbox.deliver(event_id) is False
    event = db.session.get(OutboxEvent, event_id)
    assert event.delivered_at is None and "database busy" in event.last_error
    assert outbox.deliver(event_id, now=utcnow() + timedelta(minutes=5)) is True
    assert calls == [event_id, event_id]


def test_a_kind_with_neither_handler_nor_observer_is_not_marked_delivered(app, monkeypatch):
    monkeypatch.setattr(outbox, "_kick", lambda app: None)
    event_id = outbox.emit("test.nobody_listens").id
    db.session.commit()

    assert outbox.deliver(event_id) is False
    assert "no handler" in db.session.get(OutboxEvent, event_id).last_error


def test_registering_the_same_observer_twice_calls_it_once(app, monkeypatch):
    monkeypatch.setattr(outbox, "_kick", lambda app: None)
    calls = []

    def react(kind, payload):
        calls.append(kind)

    outbox.observes("test.once")(react)
    outbox.observes("test.once")(react)
    try:
        event_id = outbox.emit("test.once").id
        db.session.commit()
        assert outbox.deliver(event_id) is True
        assert calls == ["test.once"]
    finally:
        del outbox.OBSERVERS["test.once"]
