"""Telling the citizen their code: an e-mail with the PIN and the QR code (PNG attachment and inline).

``mail.mode = "smtp"`` sends through smtplib; ``"outbox"`` (development) writes each message as an ``.eml``
file into ``mail.outbox_dir`` instead, which any mail client opens. Nothing here logs the PIN.
"""

from __future__ import annotations

import io
import logging
import os
import smtplib
import uuid
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

import qrcode
from qrcode.image.pure import PyPNGImage

from townhall.config import MailConfig

log = logging.getLogger(__name__)


class NotifyError(RuntimeError):
    pass


def qr_png(token: str) -> bytes:
    image = qrcode.make(token, image_factory=PyPNGImage, box_size=8, border=4)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue()


def reservation_message(*, sender: str, to: str, citizen: str, reservation_id: str, product_name: str,
                        kiosk_name: str, pin: str | None, qr_token: str, expires: str | None,
                        loan: bool, changed: bool = False) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="townhall.invalid")
    what = "has changed" if changed else "is waiting for you"
    message["Subject"] = f"{product_name}: your pickup {reservation_id} {what}"
    lines = [f"Dear {citizen},", "",
             f"Your {product_name} ({reservation_id}) can be collected at the kiosk {kiosk_name}, at any hour."]
    if expires:
        lines.append(f"Collect it before {expires}.")
    else:
        lines.append("We will load it into a locker shortly; this code will then open it.")
    if pin:
        lines += ["", f"Your code: {pin}"]
    lines += ["", "Or show the attached QR code to the kiosk's camera. It works once."]
    if loan:
        lines += ["", "This is a loan: bring the items back to the kiosk and use the same code to return them."]
    lines += ["", "Keep this code to yourself: anyone who has it can collect your item.", "", "Your town hall"]
    message.set_content("\n".join(lines))
    png = qr_png(qr_token)
    message.add_attachment(png, maintype="image", subtype="png", filename=f"{reservation_id}-qr.png")
    return message


class Mailer:
    def __init__(self, config: MailConfig) -> None:
        self.config = config

    def send(self, message: EmailMessage) -> str:
        """Deliver ``message``; returns where it went (the .eml path, or "smtp"). Raises NotifyError."""
        if self.config.mode == "outbox":
            return str(self._write_outbox(message))
        try:
            with smtplib.SMTP(self.config.smtp_host, self.config.smtp_port,
                              timeout=self.config.timeout_seconds) as smtp:
                if self.config.smtp_starttls:
                    smtp.starttls()
                if self.config.smtp_user:
                    smtp.login(self.config.smtp_user, self._password())
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            raise NotifyError(f"SMTP {self.config.smtp_host}:{self.config.smtp_port}: {exc}") from None
        return "smtp"

    def _password(self) -> str:
        path = self.config.smtp_password_file
        if path is None:
            raise NotifyError("mail.smtp_user is set but mail.smtp_password_file is not")
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise NotifyError(f"{path}: cannot read the SMTP password: {exc.strerror}") from None

    def _write_outbox(self, message: EmailMessage) -> Path:
        folder = Path(self.config.outbox_dir)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{uuid.uuid4().hex}.eml"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # it holds a PIN
            with os.fdopen(fd, "wb") as handle:
                handle.write(message.as_bytes())
        except OSError as exc:
            raise NotifyError(f"{folder}: cannot write the message: {exc.strerror}") from None
        return path
