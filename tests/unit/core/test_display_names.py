"""Names people read: no control, format (bidi, zero-width), private-use, surrogate or
line/paragraph separator characters; ordinary letters of any script are fine."""

from __future__ import annotations

import pytest

from paybill.server.core.vocabulary import check_display_name, unreadable_characters

REFUSED = {
    "Acme \u202egnp.exe": "U+202E",  # right-to-left override (Cf)
    "Acme\u009b31m": "U+009B",  # C1 control sequence introducer (Cc)
    "Acme\x7f": "U+007F",  # DEL (Cc)
    "Ac\u200bme": "U+200B",  # zero-width space (Cf)
    "Acme\u2066x\u2069": "U+2066",  # bidi isolate (Cf)
    "Acme\ufeff": "U+FEFF",  # byte-order mark (Cf)
    "Acme\ue000": "U+E000",  # private use (Co)
    "Acme\ud800": "U+D800",  # lone surrogate (Cs)
    "Acme\u2028Corp": "U+2028",  # line separator (Zl)
    "Acme\u2029Corp": "U+2029",  # paragraph separator (Zp)
    "Acme\tCorp": "U+0009",
}


@pytest.mark.parametrize(("name", "code_point"), REFUSED.items())
def test_unreadable_names_are_refused(name: str, code_point: str) -> None:
    assert code_point in unreadable_characters(name)
    with pytest.raises(ValueError, match=code_point.replace("+", r"\+")):
        check_display_name(name)


@pytest.mark.parametrize("name", ["Acme Corp", "Zürich AG", "株式会社", "Ёлка", "O'Neil & Co."])
def test_readable_names_pass(name: str) -> None:
    assert check_display_name(name) == name


def test_a_blank_name_is_refused() -> None:
    with pytest.raises(ValueError, match="visible"):
        check_display_name(" \u00a0 ")
