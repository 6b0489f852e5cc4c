"""Terraform's error headlines as Paybill reports them: short, and without server paths."""

from __future__ import annotations

from paybill.server.executors.terraform.cli import summarise


def test_absolute_paths_become_a_placeholder() -> None:
    stderr = (
        'Error: Failed to read file "/srv/paybill/terraform/t-1/local/tenant-ab.tfplan"\n'
        "Error: Invalid value at /opt/modules/local/main.tf line 3\n"
    )
    said = summarise(stderr, "")
    assert "/srv" not in said and "/opt" not in said
    assert said == 'Failed to read file "<path>"; Invalid value at <path> line 3'


def test_words_with_slashes_are_left_alone() -> None:
    assert summarise("Error: 1/2 of the checks and/or the plan", "") == (
        "1/2 of the checks and/or the plan"
    )
