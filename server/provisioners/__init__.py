"""Provisioners: the executor interface behind provisioning workflow steps."""
