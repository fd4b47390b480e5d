"""Artisan Platform: the multi-tenant backend layer of an AI-driven sales outreach SaaS."""

__version__ = "0.1.0"
