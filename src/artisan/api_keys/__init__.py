"""API keys for external integrations: issue, scope, verify, roll and revoke."""
