"""Sending: outbox claims, the daily budget, SMTP and the other transports."""
