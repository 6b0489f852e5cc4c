"""The Temporal engine (``PAYBILL_WORKFLOW_ENGINE=temporal``): the only package that imports
``temporalio``; docs/temporal.md says when to choose it and how to run it."""
