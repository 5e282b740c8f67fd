"""Putting one message on the wire: e-mail over SMTP, a generic JSON webhook, a Slack/Mattermost hook.

Each sender returns an ``Outcome`` instead of raising: the delivery records it. Error texts are
written here, from the failure's kind and the server's answer, and never contain the channel's
credentials (the Slack URL is one, so no error repeats a URL).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Any

from backend import __version__
from backend.models import ChannelType
from backend.services.notifications.messages import render_text

SIGNATURE_HEADER = "X-Scriptman-Signature"
MAX_RESPONSE_BYTES = 4096
MAX_ERROR_CHARS = 500
USER_AGENT = f"Scriptman/{__version__}"


@dataclass(frozen=True)
class Outcome:
    ok: bool
    response_status: int | None = None
    error: str | None = None


def signature(secret: str, body: bytes) -> str:
    """The ``X-Scriptman-Signature`` value: ``sha256=`` + HMAC-SHA256 of the raw body, hex."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is reported, not followed: following would re-send (or drop) the body elsewhere."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def post_json(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Outcome:
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    request.add_header("User-Agent", USER_AGENT)
    for key, value in headers.items():
        request.add_header(key, value)
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            response.read(MAX_RESPONSE_BYTES)
            return Outcome(ok=True, response_status=response.status)
    except urllib.error.HTTPError as error:
        try:
            answer = error.read(MAX_RESPONSE_BYTES).decode("utf-8", errors="replace")
        except OSError:
            answer = ""
        finally:
            error.close()
        detail = f"HTTP {error.code} {error.reason}" + (f": {_short(answer)}" if answer.strip() else "")
        if 300 <= error.code < 400:
            detail = f"HTTP {error.code}: the receiver redirects, and redirects are not followed; use the final URL"
        return Outcome(ok=False, response_status=error.code, error=_short(detail))
    except urllib.error.URLError as error:
        return Outcome(ok=False, error=_short(f"could not connect: {_reason(error.reason)}"))
    except TimeoutError:
        return Outcome(ok=False, error=f"no answer within {timeout:g} s")
    except (OSError, ValueError) as error:
        return Outcome(ok=False, error=_short(f"could not send: {_reason(error)}"))


def _reason(reason: object) -> str:
    if isinstance(reason, TimeoutError):
        return "timed out"
    if isinstance(reason, ssl.SSLError):
        return f"TLS error ({reason.reason or reason})"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return type(reason).__name__ if not str(reason) else str(reason)


def send_webhook(
    config: dict[str, Any], message: dict[str, Any], *, delivery_id: int | None, timeout: float
) -> Outcome:
    body = json.dumps({**message, "delivery_id": delivery_id}, ensure_ascii=False).encode("utf-8")
    headers = {"X-Scriptman-Event": str(message.get("event", ""))}
    if delivery_id is not None:
        headers["X-Scriptman-Delivery"] = str(delivery_id)
    if config.get("secret"):
        headers[SIGNATURE_HEADER] = signature(config["secret"], body)
    return post_json(config["url"], body, headers, timeout)


def slack_text(message: dict[str, Any]) -> str:
    """Slack/Mattermost ``text``: the headline in bold, the log tail as a code block."""
    if message.get("execution") is None:  # a test message
        return str(message.get("text", ""))
    text = render_text(message, fenced=True)
    head, _, rest = text.partition("\n")
    return f"*{head}*\n{rest}"


def send_slack(config: dict[str, Any], message: dict[str, Any], *, delivery_id: int | None, timeout: float) -> Outcome:
    body = json.dumps({"text": slack_text(message)}, ensure_ascii=False).encode("utf-8")
    return post_json(config["url"], body, {}, timeout)


def send_email(config: dict[str, Any], message: dict[str, Any], *, delivery_id: int | None, timeout: float) -> Outcome:
    email = EmailMessage()
    email["Subject"] = str(message.get("subject", "Scriptman"))
    email["From"] = config["from"]
    email["To"] = ", ".join(config["to"])
    email["Date"] = formatdate(localtime=False)
    email["Message-ID"] = make_msgid(domain=(parseaddr(config["from"])[1].rpartition("@")[2] or None))
    email["X-Scriptman-Event"] = str(message.get("event", ""))
    email.set_content(str(message.get("text", "")))
    security = config.get("security", "starttls")
    host, port = config["host"], int(config.get("port") or 25)
    try:
        smtp: smtplib.SMTP
        if security == "tls":
            smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout)
        with smtp:
            smtp.ehlo()
            if security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if config.get("username"):
                smtp.login(config["username"], config.get("password") or "")
            refused = smtp.send_message(email)
        if refused:  # some recipients took it: a retry would send them a second copy
            return Outcome(ok=True, response_status=250, error=_short(f"recipients refused: {', '.join(refused)}"))
        return Outcome(ok=True, response_status=250)
    except smtplib.SMTPAuthenticationError as error:
        return Outcome(
            ok=False, response_status=error.smtp_code, error=_short(f"SMTP login refused: {_smtp_text(error)}")
        )
    except smtplib.SMTPNotSupportedError:
        return Outcome(ok=False, error="the SMTP server does not offer STARTTLS; pick security tls or none")
    except smtplib.SMTPResponseException as error:
        return Outcome(ok=False, response_status=error.smtp_code, error=_short(f"SMTP error: {_smtp_text(error)}"))
    except smtplib.SMTPRecipientsRefused as error:
        return Outcome(ok=False, error=_short(f"recipients refused: {', '.join(error.recipients)}"))
    except smtplib.SMTPException as error:
        return Outcome(ok=False, error=_short(f"SMTP error: {error}"))
    except TimeoutError:
        return Outcome(ok=False, error=f"no answer from {host}:{port} within {timeout:g} s")
    except ssl.SSLError as error:
        return Outcome(ok=False, error=_short(f"TLS error with {host}:{port}: {error.reason or error}"))
    except OSError as error:
        return Outcome(ok=False, error=_short(f"could not connect to {host}:{port}: {_reason(error)}"))


def _smtp_text(error: smtplib.SMTPResponseException) -> str:
    text = (
        error.smtp_error.decode("utf-8", errors="replace")
        if isinstance(error.smtp_error, bytes)
        else str(error.smtp_error)
    )
    return f"{error.smtp_code} {text}"


Sender = Callable[..., Outcome]
SENDERS: dict[ChannelType, Sender] = {
    ChannelType.EMAIL: send_email,
    ChannelType.WEBHOOK: send_webhook,
    ChannelType.SLACK: send_slack,
}


def send(
    channel_type: ChannelType,
    config: dict[str, Any],
    message: dict[str, Any],
    *,
    delivery_id: int | None,
    timeout: float,
) -> Outcome:
    """Send ``message`` once; any failure, even an unexpected one, comes back as an ``Outcome``."""
    try:
        return SENDERS[channel_type](config, message, delivery_id=delivery_id, timeout=timeout)
    except Exception as error:  # a sender bug must not kill the sender thread or leak a traceback
        return Outcome(ok=False, error=_short(f"could not send: {type(error).__name__}"))
