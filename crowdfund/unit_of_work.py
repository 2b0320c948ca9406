"""The one way to say "once this transaction commits, do X" (Django's transaction.on_commit).

after_commit(action) queues action() on the current session; it runs once the session's outermost
transaction commits, in the order queued, and never when it rolls back. Actions run after the
database work is done, so they may call Stripe, SMTP or S3 without holding any lock — but the
committed session cannot run SQL inside its own after_commit event: an action that needs the database
opens an app context (and so a session) of its own. An action that raises is logged and does not
stop the others: what it reports has been committed either way.
"""
from collections.abc import Callable

from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from crowdfund.extensions import db

_PENDING = "crowdfund_after_commit"


def after_commit(action: Callable[[], None], session: Session | None = None, key: str | None = None) -> None:
    """Run action() once session's (the request's, by default) transaction commits; forget it on
    rollback. With a key, an action with the same key already waiting makes this one a no-op."""
    target = session if session is not None else db.session()
    pending = target.info.setdefault(_PENDING, [])
    if key is not None and any(getattr(queued, "_after_commit_key", None) == key for queued in pending):
        return
    if key is not None:
        action = _Keyed(action, key)
    pending.append(action)


class _Keyed:
    def __init__(self, action, key):
        self.action, self._after_commit_key = action, key

    def __call__(self):
        self.action()

    def __repr__(self):
        return f"<after-commit {self._after_commit_key}: {self.action!r}>"


def pending_actions(session: Session | None = None) -> int:
    """How many actions wait for the commit (tests, diagnostics)."""
    target = session if session is not None else db.session()
    return len(target.info.get(_PENDING, ()))


@event.listens_for(Session, "after_commit")
def _run_committed(session) -> None:
    actions = session.info.pop(_PENDING, None)
    for action in actions or ():
        try:
            action()
        except Exception:  # the change is committed; a side effect that fails must not undo or hide it
            if has_app_context():
                current_app.logger.exception("After-commit action %r failed", action)


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session) -> None:
    session.info.pop(_PENDING, None)
