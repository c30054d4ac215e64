"""The README's Layout section matches the tree: every package folder has its row, and in the
folders whose modules it names one by one (the HTTP layer, the store, the domain), every
module is named. A module added without a word in the README fails here."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Folders whose Layout row names each module (``router.py``); elsewhere a row names concepts.
NAMED_ONE_BY_ONE = (
    "whistle/web",
    "whistle/store",
    "whistle/store/sqlite",
    "whistle/store/postgres",
    "dispatch",
)


def layout() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return text.split("## Layout", 1)[1].split("\n## ", 1)[0]


def packages() -> list[str]:
    found = []
    for top in ("whistle", "dispatch", "grids"):
        for init in sorted((ROOT / top).rglob("__init__.py")):
            found.append(init.parent.relative_to(ROOT).as_posix())
    return found


def test_every_package_folder_has_its_row_or_is_named_in_one() -> None:
    section = layout()
    missing = [
        p
        for p in packages()
        if f"`{p}/`" not in section and f"`{p.rsplit('/', 1)[-1]}/`" not in section
    ]
    assert not missing, f"the README's Layout section does not name: {missing}"


def test_the_http_layer_the_store_and_the_domain_name_each_module() -> None:
    section = layout()
    missing = []
    for folder in NAMED_ONE_BY_ONE:
        for module in sorted((ROOT / folder).glob("*.py")):
            if module.name == "__init__.py" or module.name.startswith("_"):
                continue
            if f"`{module.name}`" not in section:
                missing.append(f"{folder}/{module.name}")
    assert not missing, f"the README's Layout section does not name: {missing}"
