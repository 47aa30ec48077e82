"""Notifications that leave the app: grouped alerts (``alerts``), the member's channels
(``channels``), the messages each channel sends (``messages``, ``senders``) and the delivery
rows that make every send claimable, retried and recorded (``delivery``)."""
