"""The category catalog (大类/小类): what a case is, how urgent, how long it may take, who it needs.

Loaded from ``config/categories.toml``. Codes follow the digital urban-management scheme:
``E`` (事件, incident) or ``F`` (部件, facility), a 2-digit 大类 and a 2-digit 小类, so
``E0501`` is 火灾 under ``E05`` 突发事件. A 大类 code is also the prefix its 小类 share, which
is how responders and rules name whole groups of categories.

Options inherit ``[defaults]`` -> ``[[major]]`` -> ``[[major.category]]``; each level copies
its parent's options and overwrites only what it sets.

Two options say when two whistles of a category are likely the same thing (疑似重复):
``duplicate_radius`` (metres between their points: ``50m``, ``0.2km`` or a bare number of
metres) and ``duplicate_window`` (wall time between them, ``2h``). A category that sets no
window takes ``duplicate_window`` from ``lifecycle.toml``.

``keywords`` are the ordinary words a citizen may type for a category (``楼道堆物`` for
积存垃圾渣土): at most 20 per category, each 1-20 characters, none repeated. They are not
inherited: they describe one category.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from dispatch._toml import Issues, Table, describe, enum_parser, parse_toml, read_toml
from dispatch.durations import Duration
from dispatch.exceptions import UnknownCategoryError
from dispatch.model import Urgency
from grids.model import ResponderKind

__all__ = ["Catalog", "Category", "CategoryType", "Major"]

_MAJOR_CODE = re.compile(r"[EF]\d{2}")
_CATEGORY_CODE = re.compile(r"[EF]\d{4}")
_CLASS_NAME = re.compile(r"[a-z][a-z0-9_]*")
_DISTANCE = re.compile(r"(\d+(?:\.\d+)?)(m|km)")

# Likely duplicates (疑似重复): the radius every category has unless the file says otherwise,
# and the bounds a town may set. Beyond a few kilometres "the same place" means nothing, and a
# window longer than a week would have the intake index hold a week of whistles per category.
DUPLICATE_RADIUS_M = 50.0
MAX_DUPLICATE_RADIUS_M = 5000.0
MAX_DUPLICATE_WINDOW = Duration.parse("7d")

KIND_VALUES = tuple(kind.value for kind in ResponderKind)
_parse_urgency = enum_parser(Urgency, "urgency", (u.value for u in Urgency))
_parse_kind = enum_parser(ResponderKind, "responder kind", KIND_VALUES)


class CategoryType(StrEnum):
    """事件 (something happened) or 部件 (a piece of public infrastructure is wrong)."""

    EVENT = "event"  # 事件, code prefix E
    FACILITY = "facility"  # 部件, code prefix F

    @property
    def label_zh(self) -> str:
        """事件 or 部件."""
        return "事件" if self is CategoryType.EVENT else "部件"

    @classmethod
    def of(cls, code: str) -> CategoryType:
        """The type a code's first letter names."""
        return cls.EVENT if code.startswith("E") else cls.FACILITY


@dataclass(frozen=True, slots=True)
class Major:
    """A 大类: a group of categories sharing its 3-character code prefix."""

    code: str
    name: str
    name_en: str
    type: CategoryType
    categories: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Category:
    """A 小类: the unit that cases are classified, timed and routed by.

    ``limit`` is the time to resolve; ``limit_class`` names the class it came from
    (``general``) or is None when the category sets its own duration. ``needs`` are responder
    kinds every case of this category must reach whoever blew the whistle; ``claimable``
    marks needs that party members can meet from a claim board (认领).
    """

    code: str
    name: str
    name_en: str
    type: CategoryType
    major: str
    major_name: str
    urgency: Urgency
    limit: Duration
    limit_class: str | None = None
    needs: tuple[ResponderKind, ...] = ()
    claimable: bool = False
    duplicate_radius_m: float = DUPLICATE_RADIUS_M
    duplicate_window: Duration | None = None  # None: lifecycle.toml's duplicate_window
    keywords: tuple[str, ...] = ()  # ordinary words for searching (楼道 -> 楼道堆物)

    def __repr__(self) -> str:
        return f"Category({self.code!r}, {self.name!r})"

    def to_dict(self, *, duplicates: bool = False) -> dict[str, Any]:
        """JSON-ready form for the HTTP API; with ``duplicates``, the likely-duplicate radius
        and window and the search keywords too (the catalog shows them; a routing decision's
        copy does not need them)."""
        entry: dict[str, Any] = {
            "code": self.code,
            "name": self.name,
            "name_en": self.name_en,
            "type": self.type.value,
            "major": self.major,
            "major_name": self.major_name,
            "urgency": self.urgency.value,
            "limit": str(self.limit),
            "limit_class": self.limit_class,
            "needs": [kind.value for kind in self.needs],
            "claimable": self.claimable,
        }
        if duplicates:
            entry["keywords"] = list(self.keywords)
            entry["duplicate_radius_m"] = self.duplicate_radius_m
            window = self.duplicate_window
            entry["duplicate_window"] = None if window is None else str(window)
        return entry


class Catalog:
    """Every category, in file order, with lookups by code and by prefix."""

    def __init__(
        self,
        categories: Iterable[Category],
        majors: Iterable[Major] = (),
        limit_classes: Mapping[str, Duration] | None = None,
    ) -> None:
        self._categories = {category.code: category for category in categories}
        self._majors = {major.code: major for major in majors}
        self.limit_classes: Mapping[str, Duration] = dict(limit_classes or {})
        # Every prefix of every code, so that responder and rule prefixes check in O(1).
        self._prefixes = frozenset(
            code[:end] for code in self._categories for end in range(1, len(code) + 1)
        )

    @classmethod
    def load(cls, path: Path) -> Catalog:
        """Read and validate ``categories.toml``; raises DispatchConfigError listing problems."""
        issues = Issues(path.name)
        data = read_toml(path, issues)
        catalog = None if data is None else catalog_from_data(data, issues)
        issues.raise_if_any()
        assert catalog is not None
        return catalog

    @classmethod
    def from_toml(cls, text: str, *, file: str = "categories.toml") -> Catalog:
        """Like :meth:`load`, from the text of a file called ``file`` (for messages)."""
        issues = Issues(file)
        data = parse_toml(text, issues)
        catalog = None if data is None else catalog_from_data(data, issues)
        issues.raise_if_any()
        assert catalog is not None
        return catalog

    def get(self, code: str) -> Category | None:
        """The category with ``code``, or None."""
        return self._categories.get(code)

    def __getitem__(self, code: str) -> Category:
        """The category with ``code``; raises UnknownCategoryError (a KeyError)."""
        try:
            return self._categories[code]
        except KeyError:
            raise UnknownCategoryError(code) from None

    def __contains__(self, code: object) -> bool:
        return code in self._categories

    def __iter__(self) -> Iterator[Category]:
        return iter(self._categories.values())

    def __len__(self) -> int:
        return len(self._categories)

    def __repr__(self) -> str:
        return f"Catalog(majors={len(self._majors)}, categories={len(self._categories)})"

    def majors(self) -> tuple[Major, ...]:
        """The 大类 in file order."""
        return tuple(self._majors.values())

    def major(self, code: str) -> Major | None:
        """The 大类 with ``code``, or None."""
        return self._majors.get(code)

    def has_prefix(self, prefix: str) -> bool:
        """True when some category code starts with ``prefix`` (a full code, ``E05``, ``E``)."""
        return prefix in self._prefixes

    def matching(self, prefixes: Iterable[str]) -> list[Category]:
        """The categories whose code starts with any of ``prefixes``, in file order."""
        prefixes = tuple(prefixes)
        return [c for c in self._categories.values() if c.code.startswith(prefixes)]


# -- categories.toml -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Options:
    """What a major passes down to its categories."""

    urgency: Urgency = Urgency.NORMAL
    limit: Duration | None = None
    limit_class: str | None = None
    needs: tuple[ResponderKind, ...] = ()
    claimable: bool = False
    duplicate_radius_m: float = DUPLICATE_RADIUS_M
    duplicate_window: Duration | None = None


_OPTION_KEYS = (
    "urgency",
    "limit",
    "needs",
    "claimable",
    "duplicate_radius",
    "duplicate_window",
)


def catalog_from_data(data: Mapping[str, Any], issues: Issues) -> Catalog | None:
    """Validate parsed ``categories.toml``; record problems in ``issues``, None on any."""
    before = len(issues.problems)
    top = Table(data, None, issues, ("limit_classes", "defaults", "major"))
    classes = _read_classes(top)
    defaults = _Options()
    table = top.table("defaults")
    if table is not None:
        defaults = _read_options(Table(table, "defaults", issues, _OPTION_KEYS), defaults, classes)

    majors: list[Major] = []
    categories: list[Category] = []
    seen: dict[str, str] = {}
    entries = top.tables("major")
    if not entries and "major" not in top:
        top.error("no [[major]] tables: the catalog needs at least one category")
    for index, entry in enumerate(entries):
        major = _read_major(index, entry, issues, defaults, classes, seen)
        if major is not None:
            majors.append(major[0])
            categories.extend(major[1])

    if len(issues.problems) > before:
        return None
    return Catalog(categories, majors, classes)


def _label(kind: str, index: int, data: Mapping[str, Any]) -> str:
    code = data.get("code")
    return f"{kind}[{index}]" + (f" ({code})" if isinstance(code, str) else "")


def _read_classes(top: Table) -> dict[str, Duration]:
    table = top.table("limit_classes")
    classes: dict[str, Duration] = {}
    if table is None:
        return classes
    reader = Table(table, "limit_classes", top.issues, table.keys())
    for name in table:
        if not _CLASS_NAME.fullmatch(name):
            reader.error(f"invalid class name {name!r}; use lower-case letters, digits and _")
            continue
        duration = reader.duration(name)
        if duration is not None:
            classes[name] = duration
    return classes


def _read_options(table: Table, parent: _Options, classes: Mapping[str, Duration]) -> _Options:
    changes: dict[str, Any] = {}
    urgency = table.choice("urgency", _parse_urgency)
    if urgency is not None:
        changes["urgency"] = urgency
    text = table.text("limit")
    if text is not None:
        if text[:1].isdigit():
            duration = table.parse_duration("limit", text)
            if duration is not None:
                changes.update(limit=duration, limit_class=None)
        elif text in classes:
            changes.update(limit=classes[text], limit_class=text)
        else:
            names = ", ".join(classes) or "none defined"
            table.error(
                f"limit: unknown time-limit class {text!r}; expected a duration like 4wh or "
                f"one of the limit_classes ({names})"
            )
    needs = table.texts("needs")
    if needs is not None:
        kinds: list[ResponderKind] = []
        for value in needs:
            try:
                kinds.append(_parse_kind(value))
            except ValueError as exc:
                table.error(f"needs: {exc}")
        changes["needs"] = tuple(dict.fromkeys(kinds))
    claimable = table.flag("claimable")
    if claimable is not None:
        changes["claimable"] = claimable
    radius = _read_radius(table)
    if radius is not None:
        changes["duplicate_radius_m"] = radius
    window = _read_window(table)
    if window is not None:
        changes["duplicate_window"] = window
    return dataclasses.replace(parent, **changes)


def _read_radius(table: Table) -> float | None:
    """``duplicate_radius``: ``50m``, ``0.2km`` or a bare number of metres, above 0 and at
    most :data:`MAX_DUPLICATE_RADIUS_M`."""
    key = "duplicate_radius"
    if key not in table:
        return None
    value = table.data[key]
    metres: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        metres = float(value)
    elif isinstance(value, str):
        match = _DISTANCE.fullmatch(value.strip())
        if match is not None:
            metres = float(match[1]) * (1000.0 if match[2] == "km" else 1.0)
    if metres is None:
        table.error(
            f"{key}: expected a distance like 50m or 0.2km (or a number of metres), "
            f"got {describe(value)}"
        )
        return None
    if not 0 < metres <= MAX_DUPLICATE_RADIUS_M:
        table.error(
            f"{key}: must be more than 0 and at most {MAX_DUPLICATE_RADIUS_M:g}m, "
            f"got {describe(value)}"
        )
        return None
    return metres


def _read_window(table: Table) -> Duration | None:
    """``duplicate_window``: wall time (a look-back, not a working-time limit), at most
    :data:`MAX_DUPLICATE_WINDOW` (durations are positive by construction)."""
    key = "duplicate_window"
    window = table.duration(key)
    if window is None:
        return None
    if window.is_working:
        table.error(f"{key}: a look-back window is wall time (s, m, h, d), not {window}")
        return None
    if window.as_timedelta() > MAX_DUPLICATE_WINDOW.as_timedelta():
        table.error(f"{key}: at most {MAX_DUPLICATE_WINDOW}, not {window}")
        return None
    return window


def _read_major(
    index: int,
    data: Mapping[str, Any],
    issues: Issues,
    defaults: _Options,
    classes: Mapping[str, Duration],
    seen: dict[str, str],
) -> tuple[Major, list[Category]] | None:
    where = _label("major", index, data)
    table = Table(data, where, issues, ("code", "name", "name_en", *_OPTION_KEYS, "category"))
    code = table.text("code", required=True)
    name = table.text("name", required=True)
    name_en = table.text("name_en", required=True)
    options = _read_options(table, defaults, classes)
    if code is not None:
        if not _MAJOR_CODE.fullmatch(code):
            table.error(
                f"invalid major code {code!r}; expected E (事件) or F (部件) and two digits, "
                "like E01"
            )
            code = None
        elif code in seen:
            table.error(f"duplicate code {code!r}; first at {seen[code]}")
            code = None
        else:
            seen[code] = where
    entries = table.tables("category")
    if not entries:
        table.error("has no categories ([[major.category]])")
    categories: list[Category] = []
    for position, entry in enumerate(entries):
        category = _read_category(
            f"{where}.{_label('category', position, entry)}",
            entry,
            issues,
            code,
            name or "",
            options,
            classes,
            seen,
        )
        if category is not None:
            categories.append(category)
    if code is None or name is None or name_en is None:
        return None
    major = Major(code, name, name_en, CategoryType.of(code), tuple(c.code for c in categories))
    return major, categories


def _read_category(
    where: str,
    data: Mapping[str, Any],
    issues: Issues,
    major: str | None,
    major_name: str,
    parent: _Options,
    classes: Mapping[str, Duration],
    seen: dict[str, str],
) -> Category | None:
    table = Table(data, where, issues, ("code", "name", "name_en", *_OPTION_KEYS, "keywords"))
    code = table.text("code", required=True)
    name = table.text("name", required=True)
    name_en = table.text("name_en", required=True)
    options = _read_options(table, parent, classes)
    if code is not None:
        if not _CATEGORY_CODE.fullmatch(code):
            table.error(
                f"invalid category code {code!r}; expected E (事件) or F (部件) and four "
                "digits, like E0101"
            )
            code = None
        elif major is not None and not code.startswith(major):
            table.error(f"category code {code!r} does not start with its major code {major!r}")
            code = None
        elif code in seen:
            table.error(f"duplicate code {code!r}; first at {seen[code]}")
            code = None
        else:
            seen[code] = where
    if options.limit is None:
        table.error("no time limit: set limit here, in its major, or in [defaults]")
    keywords = _read_keywords(table)
    if code is None or name is None or name_en is None or major is None or options.limit is None:
        return None
    return Category(
        code=code,
        name=name,
        name_en=name_en,
        type=CategoryType.of(code),
        major=major,
        major_name=major_name,
        urgency=options.urgency,
        limit=options.limit,
        limit_class=options.limit_class,
        needs=options.needs,
        claimable=options.claimable,
        duplicate_radius_m=options.duplicate_radius_m,
        duplicate_window=options.duplicate_window,
        keywords=keywords,
    )


_MAX_KEYWORDS = 20
_MAX_KEYWORD_LENGTH = 20


def _read_keywords(table: Table) -> tuple[str, ...]:
    """``keywords``: ordinary words for a citizen's search, each once, none blank."""
    words = table.texts("keywords")
    if words is None:
        return ()
    if len(words) > _MAX_KEYWORDS:
        table.error(f"keywords: at most {_MAX_KEYWORDS}, got {len(words)}")
        return ()
    seen: set[str] = set()
    for word in words:
        if not word.strip() or len(word) > _MAX_KEYWORD_LENGTH or word != word.strip():
            table.error(
                f"keywords: {word!r} must be 1-{_MAX_KEYWORD_LENGTH} characters without "
                "surrounding spaces"
            )
            return ()
        if word in seen:
            table.error(f"keywords: {word!r} is listed twice")
            return ()
        seen.add(word)
    return words
