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
