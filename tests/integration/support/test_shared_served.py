"""The shared populated store (tests.support.served.shared_served) is only for tests that
change nothing in it: a test that does fails, and one that only reads passes."""

from __future__ import annotations

import pytest

MODULE = """
import pytest

pytestmark = pytest.mark.parametrize("backend", ["{backend}"], indirect=True)


def test_reads_and_refusals(shared_served):
    shared_served.ok("acme-bot", "query_table", tenant="acme", table="customers")
    shared_served.error("acme-bot", "get_tenant", tenant="globex")


def test_writes_a_row(shared_served):
    shared_served.ok(
        "acme-admin", "insert_rows", tenant="acme", table="customers", rows=[{{"name": "x"}}]
    )


def test_reads_after_the_write(shared_served):
    rows = shared_served.ok("acme-bot", "query_table", tenant="acme", table="customers")
    assert rows["row_count"] == 1  # the module's store is shared: the write is still there
"""


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_test_that_changes_the_shared_store_fails(
    pytester: pytest.Pytester, backend: str
) -> None:
    pytester.makeconftest('pytest_plugins = ["tests.conftest"]')
    pytester.makepyfile(test_shared=MODULE.format(backend=backend))
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:xdist")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_writes_a_row*",
            "*the test changed the module's shared store: "
            "tenant_rows.store.*customers changed: 0 rows -> 1 rows*",
        ]
    )
