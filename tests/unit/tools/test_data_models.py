"""The advertised schema of data results: as strict as the model, cheap for validating clients."""

from __future__ import annotations

import jsonschema
import pytest

from paybill.tools.data_models import DataResult

RESULT = {
    "columns": [{"name": "id", "type": "integer"}, {"name": "name", "type": "text"}],
    "rows": [[1, "Ada"], [2, None]],
    "row_count": 2,
    "truncated": False,
}


def test_a_row_is_advertised_as_an_array_of_anything() -> None:
    rows = DataResult.model_json_schema()["properties"]["rows"]
    assert rows["items"] == {"type": "array"}  # no per-cell "items": {} to descend into


def test_the_schema_accepts_what_the_model_produces() -> None:
    dumped = DataResult.model_validate(RESULT).model_dump(mode="json")
    jsonschema.validate(dumped, DataResult.model_json_schema())


@pytest.mark.parametrize("rows", [[{"id": 1}], ["Ada"], [None]])
def test_the_schema_still_refuses_a_row_that_is_not_an_array(rows: list[object]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**RESULT, "rows": rows}, DataResult.model_json_schema())
