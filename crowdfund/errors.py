"""Domain errors raised by services; create_app maps them to HTTP responses."""


class DomainError(Exception):
    """Base for errors a user can be told about."""

    status_code = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class IllegalTransition(DomainError):
    """A state change that the current state does not allow."""

    status_code = 409


class NotAllowed(DomainError):
    """The user is known, but may not do this."""

    status_code = 403


class ValidationFailed(DomainError):
    """Input that breaks a domain rule (not a form field rule)."""

    status_code = 400
