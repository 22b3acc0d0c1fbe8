"""An organiser's plain text as paragraphs of lines, whatever line ends a browser sent."""

from __future__ import annotations

import pytest

from ilmo_shared.plain_text import paragraphs


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"])
def test_blank_lines_part_paragraphs_and_single_breaks_stay(end: str) -> None:
    text = f"Hei,{end}tervetuloa!{end}{end}  {end}Sali B.{end}"
    assert paragraphs(text) == [["Hei,", "tervetuloa!"], ["Sali B."]]


def test_nothing_but_space_is_no_paragraph() -> None:
    assert paragraphs(" \n\n \n") == []
