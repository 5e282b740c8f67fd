"""Accounts, sessions, API tokens and login throttling."""
