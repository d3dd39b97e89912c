"""Operator alerts and remote control: rules, templates, the Telegram Bot API client and service."""
