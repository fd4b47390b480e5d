"""Webhooks: the event catalogue, emission, Standard Webhooks signing and durable delivery."""
