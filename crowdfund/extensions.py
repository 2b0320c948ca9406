"""Extension objects, bound to an app in create_app()."""
import time

from celery import Celery, Task
from flask import has_app_context
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names, so Alembic migrations can name what they drop.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()


class FallbackLimiter(Limiter):
    """Flask-Limiter, for a rate-limit Redis that goes away (RATELIMIT_IN_MEMORY_FALLBACK_ENABLED): when
    a call to it fails, Flask-Limiter logs a warning and counts in this process's memory. Two changes:
    each init_app starts with its storage taken as alive, and while it is away it is asked again (one
    PING) every RATELIMIT_STORAGE_RECHECK_SECONDS, counted from the failure, instead of Flask-Limiter's
    own backoff of up to 32 s; the first answer puts the limits back in Redis ("Rate limit storage
    recovered" in the log). This overrides a private method (tests/test_faults.py checks it is there)."""

    def init_app(self, app) -> None:
        self._storage_dead = False
        self._recheck_seconds = float(app.config.get("RATELIMIT_STORAGE_RECHECK_SECONDS", 5))
        self._last_recheck = None
        super().init_app(app)

    def _check_request_limit(self, *args, **kwargs) -> None:
        if not self._storage_dead:
            self._last_recheck = None  # the next failure starts a new wait
        return super()._check_request_limit(*args, **kwargs)

    def _Limiter__should_check_backend(self) -> bool:
        now = time.monotonic()
        if self._last_recheck is None:  # it has just failed: wait before asking again
            self._last_recheck = now
            return False
        if now - self._last_recheck >= self._recheck_seconds:
            self._last_recheck = now
            return True
        return False


limiter = FallbackLimiter(key_func=get_remote_address)


class AppContextTask(Task):
    """Every task runs inside a Flask app context (Flask's "Celery background tasks" pattern):
    the caller's when there is one (eager tasks, run in-process by a request, a command or a
    test), otherwise a fresh one of the app that configured Celery (a worker)."""

    abstract = True

    def __call__(self, *args, **kwargs):
        if has_app_context():
            return super().__call__(*args, **kwargs)
        with self.app.flask_app.app_context():
            return super().__call__(*args, **kwargs)


# Configured by crowdfund.tasks.init_celery() in create_app(); the worker and beat load it through
# crowdfund/celery_app.py.
celery = Celery("crowdfund", task_cls=AppContextTask)
celery.flask_app = None
