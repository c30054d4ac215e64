"""A silence's matchers as people read them: a cell and a category by name, a source by its
whistle's name (the silences page and the case page both show them)."""

from __future__ import annotations

from dispatch import Catalog
from grids import Hierarchy
from whistle.silences import Matcher
from whistle.web.i18n import SILENCES_PAGE, SOURCES

__all__ = ["matchers_named"]


def _category_name(catalog: Catalog, code: str, english: bool) -> str:
    found = catalog.get(code)
    if found is not None:
        return found.name_en if english and found.name_en else found.name
    major = next((c for c in catalog if c.major == code), None)
    return code if major is None else major.major_name


def _cell_name(hierarchy: Hierarchy, code: str) -> str:
    cell = hierarchy.get(code)
    return code if cell is None else cell.name


def matchers_named(
    matchers: dict[str, str], hierarchy: Hierarchy, catalog: Catalog, lang: str
) -> list[tuple[str, str]]:
    """Each matcher as (label, name): a cell and a category by name, not by code."""
    labels = SILENCES_PAGE[lang]
    named: list[tuple[str, str]] = []
    for matcher in Matcher:
        value = matchers.get(matcher.value)
        if value is None:
            continue
        if matcher is Matcher.GRID:
            value = _cell_name(hierarchy, value)
        elif matcher is Matcher.CATEGORY:
            value = _category_name(catalog, value, lang == "en")
        elif matcher is Matcher.SOURCE:
            value = SOURCES[lang].get(value, value)
        named.append((labels[matcher.value], value))
    return named
