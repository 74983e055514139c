"""Redaction, secret patterns, sanitising, trust, the diff guard and the endpoint guard."""
