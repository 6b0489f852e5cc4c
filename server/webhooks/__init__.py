"""Inbound webhooks from other systems (Stripe's billing events), verified, then run through
the guard pipeline as a configured principal."""
