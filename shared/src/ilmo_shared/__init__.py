"""Ilmo's shared library: event contracts and the plumbing every service uses.

Contracts (``ilmo_event_contracts``) are the product other systems build on;
the rest (messaging, outbox relay, storage, logging, HTTP health and metrics,
settings, service runtime) keeps the services' own code about their domain.
"""
