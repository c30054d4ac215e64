"""Cross-references between the grids and the catalog (:func:`check_fit`).

Checked when a :class:`~dispatch.router.Router` is compiled: every category a responder lists
exists, and the county's backstop handles every category, so no whistle is left without an
assignment.
"""

from __future__ import annotations

from dispatch.catalog import Catalog
from dispatch.exceptions import Problem
from grids.hierarchy import Hierarchy
from grids.model import ALL_CATEGORIES, ResponderKind

__all__ = ["RESPONDERS_FILE", "check_fit"]

RESPONDERS_FILE = "responders.csv"


def check_fit(hierarchy: Hierarchy, catalog: Catalog) -> list[Problem]:
    """Cross-references between the grids and the catalog, as problems in roster order.

    - every category code or prefix a responder lists must exist in the catalog;
    - the county (root) cell must have backstop responders that, together, handle every
      category, so that no whistle can be left without an assignment.
    """
    problems: list[Problem] = []
    # Once per distinct set of categories (a roster of millions has a few dozen), and per
    # responder only where a set names an unknown category.
    for categories, responders in hierarchy.category_sets():
        unknown = [
            e for e in sorted(categories) if e != ALL_CATEGORIES and not catalog.has_prefix(e)
        ]
        if not unknown:
            continue
        for responder in responders:
            for entry in unknown:
                problems.append(
                    Problem(
                        RESPONDERS_FILE,
                        responder.line or None,
                        responder.id,
                        f"unknown category {entry!r}",
                    )
                )
    problems.sort(key=lambda p: p.line or 0)
    root = hierarchy.root
    backstops = hierarchy.responders_at(root, ResponderKind.BACKSTOP)
    if not backstops:
        problems.append(
            Problem(
                RESPONDERS_FILE,
                None,
                root,
                "the county has no backstop responder (兜底); add one with kind backstop "
                "and categories *",
            )
        )
    else:
        missing = [c.code for c in catalog if not any(b.handles(c.code) for b in backstops)]
        if missing:
            shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
            problems.append(
                Problem(
                    RESPONDERS_FILE,
                    None,
                    root,
                    f"no backstop responder at the county handles {shown}; give one of them "
                    "categories *",
                )
            )
    return problems
