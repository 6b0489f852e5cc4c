"""Durable workflow runs (provisioning, plan changes, offboarding).

A tool records a run with all its steps (``runs.enqueue``) in its own transaction and returns
at once; a worker (``engine.worker``) claims the run, holds the tenant's run lock, and
executes the steps in order, recording each one before and after it runs. A run whose
worker died is taken over when its lease expires and resumes at its first unfinished step,
so every step must converge when run again.
"""
