"""Sending email: the one way the platform tells people things by mail.

The backend is chosen by MAIL_BACKEND: "log" writes the message to the log (the default
run), "smtp" sends through MAIL_SERVER, "memory" keeps it in a list (tests).
"""
import smtplib
from email.message import EmailMessage

from flask import current_app, render_template


def outbox() -> list[EmailMessage]:
    """Messages kept by the memory backend, oldest first."""
    return current_app.extensions.setdefault("crowdfund_outbox", [])


def build_message(to: str, subject: str, template: str, **context) -> EmailMessage:
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_DEFAULT_SENDER"]
    message["To"] = to
    message["Subject"] = subject
    message.set_content(render_template(f"email/{template}.txt", **context))
    message.add_alternative(render_template(f"email/{template}.html", **context), subtype="html")
    return message


def send_email(to: str, subject: str, template: str, **context) -> EmailMessage:
    """Render email/<template>.txt and .html with context and deliver it through the configured backend."""
    message = build_message(to, subject, template, **context)
    backend = current_app.config["MAIL_BACKEND"]
    if backend == "memory":
        outbox().append(message)
    elif backend == "smtp":
        config = current_app.config
        with smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=30) as smtp:
            if config["MAIL_USE_TLS"]:
                smtp.starttls()
            if config["MAIL_USERNAME"]:
                smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
            smtp.send_message(message)
    else:
        text = message.get_body(preferencelist=("plain",)).get_content()
        current_app.logger.info("Email to %s: %s\n%s", to, subject, text)
    return message


def queue_email(to: str, subject: str, template: str, **context) -> None:
    """Send like send_email, as the Celery task send_email_task: at once in-process without a
    broker (the default run, the tests), by a worker with one. The context crosses the broker as
    JSON (strings, numbers, lists, dicts; build links and format dates first); anything else
    raises TypeError here, in every mode."""
    from crowdfund.tasks import json_safe, send_email_task

    send_email_task.delay(str(to), str(subject), template, json_safe(context))
