"""Search benchmark: the console's search over a county-year of cases (issue 17).

Builds a database of cases spread over the county's micro-grids, written directly in bulk
(the ``whistles`` rows with realistic documents and the ``whistle_search`` rows, in one
transaction, as migration 14 would index them): the search does not care how the rows came
in, and the store's own write path would take an hour for 500,000 cases. Then times what
``GET /api/v1/whistles?q=...`` runs, ``SqliteStore.list_whistles`` (the SQL, the documents'
JSON and the assignments' lookup; not the HTTP), for:

- search alone: a word of three or more characters (FTS5 trigram), a rare one (a reporter's
  name), a place name, a 受理编号 fragment, and a word of two characters (the LIKE scan);
- filter and search: a town's subtree and a 大类 with a word;
- the console's open queue by time left (``queue=open&sort=due``) with a word.

Each query runs ``--repeat`` times (rotating over several words of its kind); p50 and p99.

Last, the write path: how much the search row adds to intake. Batches of 64 whistles, each
batch one transaction with ``synchronous=FULL`` (what the store's writer does), with and
without the ``whistle_search`` insert, on the built database, after a warm-up.

    python bench/search.py [--size tiny|full|large] [--json PATH] [--cases N]
                           [--config config] [--db var/bench-search.sqlite3]

``--size full`` (``make bench``) is 500,000 cases; ``tiny`` 5,000 for the smoke test.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import statistics
import sys
import time
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Row, parser, peak_rss_mib, write_report  # noqa: E402
from grids import Hierarchy, Level  # noqa: E402
from grids.loader import load_hierarchy  # noqa: E402
from whistle.bus import Bus  # noqa: E402
from whistle.store import SqliteStore, WhistleQuery  # noqa: E402
from whistle.store.search import SEARCH_INSERT, search_text  # noqa: E402

SECTION = "search"
SIZES = {"tiny": 5_000, "full": 500_000, "large": 500_000}
YEAR_START = datetime(2025, 12, 31, 16, 0, tzinfo=UTC)
SHANGHAI = "+08:00"

# What citizens and grid workers write: phrases combined into a sentence.
WHAT = [
    "楼道堆放杂物", "井盖松动", "路灯不亮", "下水道堵塞", "垃圾未清运", "占道经营", "噪音扰民",
    "违章搭建", "树木倒伏", "消防通道被占", "水管爆裂", "广告牌松脱", "邻里纠纷", "车辆乱停放",
    "独居老人需要帮助", "学生书包捐赠", "电动车楼道充电", "污水外溢", "道路破损", "宠物扰民",
]  # fmt: skip
WHERE = ["小区门口", "菜市场旁", "学校后门", "3号楼下", "公交站台", "河边步道", "超市停车场",
         "幼儿园对面", "村委会门前", "巷子里"]  # fmt: skip
HOW = ["影响通行", "夜间危险", "已持续三天", "居民反映强烈", "请尽快处理", "存在安全隐患", ""]
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
GIVEN = "芳伟娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰文辉建国志红梅"
SOURCES = [
    ("citizen", "群众吹哨", 0.5), ("camera", "天眼吹哨", 0.2), ("police", "警情吹哨", 0.1),
    ("community", "社区党组织吹哨", 0.12), ("town_committee", "镇党委吹哨", 0.08),
]  # fmt: skip
BATCH = 64


def _categories(config: Path) -> list[dict[str, str]]:
    data = tomllib.loads((config / "categories.toml").read_text(encoding="utf-8"))
    found: list[dict[str, str]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "code" in node and "name" in node and len(str(node["code"])) > 3:
                found.append(
                    {"code": str(node["code"]), "name": str(node["name"]),
                     "urgency": str(node.get("urgency", "normal"))}
                )  # fmt: skip
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(data)
    return found


def _places(county: Hierarchy) -> list[tuple[str, str, dict[str, Any]]]:
    places = []
    for cell in county.cells(level=Level.MICRO_GRID):
        path = [county.cell(code) for code in cell.path]
        grid = {
            "code": cell.code,
            "name": cell.name,
            "level": cell.level.key,
            "path": [{"code": c.code, "name": c.name, "level": c.level.key} for c in path],
        }
        places.append((cell.code, "/" + "/".join(cell.path) + "/", grid))
    return places


def _time(when: datetime) -> str:
    return (when + timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M:%S.000") + SHANGHAI


def _case(n: int, total: int, rng: random.Random, places: Any, categories: Any) -> tuple[Any, ...]:
    whistle_id = f"0BENCH{n:020d}"
    code, path, grid = rng.choice(places)
    source, source_name = rng.choices(
        [(s, name) for s, name, _ in SOURCES], [w for _, _, w in SOURCES]
    )[0]
    category = rng.choice(categories)
    received = YEAR_START + timedelta(seconds=(n + rng.random()) / total * 365 * 86400)
    text = rng.choice(WHERE) + rng.choice(WHAT) + "，" + rng.choice(HOW)
    reporter = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=2))
    doc = {
        "id": whistle_id,
        "case_number": f"TY{received.month:02d}{(n % 100):02d}-{n % 10_000:04d}",
        "source": source,
        "source_name": source_name,
        "category": {"code": category["code"], "name": category["name"]},
        "urgency": category["urgency"],
        "description": text,
        "grid": grid,
        "reporter": reporter,
        "received_at": _time(received),
    }
    # A tenth still open, the rest closed: a year's queue.
    is_open = rng.random() < 0.1
    status = rng.choice(["dispatched", "acknowledged", "in_progress"]) if is_open else "closed"
    due = received + timedelta(minutes=rng.randint(10, 60 * 48))
    case = {
        "resolve_due": _time(received + timedelta(days=7)),
        "next_due": {"kind": "resolve", "at": _time(due)} if is_open else None,
    }
    row = (
        whistle_id, _time(received), source, category["code"], category["urgency"], status, code,
        path, 5, orjson.dumps(doc).decode(), 2, orjson.dumps(case).decode(),
    )  # fmt: skip
    return row, (search_text(doc), whistle_id)


_INSERT = (
    "INSERT INTO whistles (id, received_at, source, category, urgency, status, grid_code, "
    "grid_path, grid_level, doc, version, case_doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


_SEARCH_BULK = "INSERT INTO whistle_search (rowid, body) VALUES (?, ?)"


def build(db: Path, cases: int, config: Path) -> dict[str, Any]:
    """The database: schema from the store, rows in bulk."""
    db.unlink(missing_ok=True)
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    asyncio.run(_create_schema(db))
    county = load_hierarchy(config)
    places = _places(county)
    categories = _categories(config)
    rng = random.Random(17)
    began = time.perf_counter()
    conn = sqlite3.connect(db)
    # A scratch database built once: no journal, no fsync (the write path is measured apart).
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -262144")
    # Merging the index's segments as it grows costs more than one merge at the end.
    conn.execute("INSERT INTO whistle_search (whistle_search, rank) VALUES ('automerge', 0)")
    conn.execute("INSERT INTO whistle_search (whistle_search, rank) VALUES ('crisismerge', 64)")
    conn.commit()
    whistles: list[tuple[Any, ...]] = []
    search: list[tuple[int, str]] = []
    conn.execute("BEGIN")
    for n in range(cases):
        row, indexed = _case(n, cases, rng, places, categories)
        whistles.append(row)
        # A fresh table numbers its rows 1, 2, ... in insertion order: the same rowid as the
        # whistle's, without looking each one up.
        search.append((n + 1, indexed[0]))
        if len(whistles) >= 20_000:
            conn.executemany(_INSERT, whistles)
            conn.executemany(_SEARCH_BULK, search)
            whistles, search = [], []
    conn.executemany(_INSERT, whistles)
    conn.executemany(_SEARCH_BULK, search)
    conn.execute("COMMIT")
    conn.execute("INSERT INTO whistle_search (whistle_search) VALUES ('optimize')")
    # Back to the defaults intake writes with.
    conn.execute("INSERT INTO whistle_search (whistle_search, rank) VALUES ('automerge', 4)")
    conn.execute("INSERT INTO whistle_search (whistle_search, rank) VALUES ('crisismerge', 16)")
    conn.commit()
    (mismatched,) = conn.execute(
        "SELECT count(*) FROM whistles w JOIN whistle_search s ON s.rowid = w.rowid "
        "WHERE s.body NOT LIKE '%' || substr(json_extract(w.doc, '$.description'), 1, 4) || '%'"
    ).fetchone()
    assert mismatched == 0, f"{mismatched} search rows under another whistle's rowid"
    conn.close()
    seconds = time.perf_counter() - began
    towns = list(county.cells(level=Level.TOWN))
    return {
        "cases": cases,
        "build_seconds": round(seconds, 1),
        "db_mib": round(db.stat().st_size / 2**20, 1),
        "town_path": "/" + "/".join(towns[0].path) + "/",
        "places": sorted({p[2]["path"][2]["name"] for p in places if len(p[2]["path"]) > 2})[:5],
    }


async def _create_schema(db: Path) -> None:
    store = SqliteStore(db, Bus())
    await store.open()
    await store.close()


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99


async def measure(db: Path, built: dict[str, Any], repeat: int) -> dict[str, Any]:
    """p50 and p99 of each kind of query, in milliseconds, with what each found."""
    store = SqliteStore(db, Bus())
    await store.open()
    rng = random.Random(5)
    reporters = [s + g + h for s in SURNAMES[:5] for g in GIVEN[:2] for h in GIVEN[2:4]]
    town = built["town_path"]
    kinds: dict[str, list[WhistleQuery]] = {
        "word (≥3 characters)": [WhistleQuery(text=w, limit=50) for w in WHAT],
        "rare word (a reporter)": [WhistleQuery(text=r, limit=50) for r in reporters],
        "place name": [WhistleQuery(text=p, limit=50) for p in built["places"]],
        "受理编号 fragment": [WhistleQuery(text=f"-{n:04d}", limit=50) for n in range(40)],
        "two characters (LIKE scan)": [WhistleQuery(text=w[:2], limit=50) for w in WHAT],
        "town + 大类 + word": [
            WhistleQuery(text=w, grid_path=town, category="E01", limit=50) for w in WHAT
        ],
        "open queue by time left + word": [
            WhistleQuery(text=w, open_only=True, order="due", limit=100) for w in WHAT
        ],
        "open queue by time left, no word": [
            WhistleQuery(open_only=True, order="due", limit=100, grid_path=town)
        ],
    }
    results: dict[str, Any] = {}
    try:
        for name, queries in kinds.items():
            await store.list_whistles(queries[0])  # warm the page cache
            samples: list[float] = []
            found = 0
            for i in range(repeat):
                query = queries[i % len(queries)] if i < len(queries) else rng.choice(queries)
                began = time.perf_counter()
                page = await store.list_whistles(query)
                samples.append((time.perf_counter() - began) * 1000)
                found += len(page.items)
            p50, p99 = _percentiles(samples)
            results[name] = {
                "p50_ms": round(p50, 2),
                "p99_ms": round(p99, 2),
                "rows_per_page": round(found / repeat, 1),
            }
    finally:
        await store.close()
    return results


def write_path(db: Path, batches: int) -> dict[str, Any]:
    """Per batch of 64 whistles (one transaction, WAL, synchronous=FULL): with and without
    the search row, alternating so that both see the same disk and cache."""
    rng = random.Random(9)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    places = [("530524", "/530524/", {"code": "530524", "name": "县", "level": "county",
                                       "path": []})]  # fmt: skip
    categories = [{"code": "E0101", "name": "暴露垃圾", "urgency": "normal"}]
    timings: dict[str, list[float]] = {"with": [], "without": []}
    (n,) = conn.execute("SELECT 10000000000 + count(*) FROM whistles").fetchone()
    # The first commits after the bulk build's one big merge pay for merging their own small
    # segments (FTS5's automerge): warm up, then measure what intake sees day to day.
    warm = 40 if batches < 30 else 200
    for b in range(warm + batches * 2):
        mode = "with" if b < warm or b % 2 == 0 else "without"
        rows, indexed = zip(
            *(_case(n + i, n + BATCH, rng, places, categories) for i in range(BATCH)),
            strict=True,
        )
        n += BATCH
        began = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(_INSERT, rows)
        if mode == "with":
            conn.executemany(SEARCH_INSERT, indexed)
        conn.execute("COMMIT")
        if b >= warm:
            timings[mode].append((time.perf_counter() - began) * 1000)
    conn.close()
    with_ms = statistics.median(timings["with"])
    without_ms = statistics.median(timings["without"])
    return {
        "batch": BATCH,
        "batches": batches,
        "with_ms": round(with_ms, 3),
        "without_ms": round(without_ms, 3),
        "added_us_per_whistle": round((with_ms - without_ms) * 1000 / BATCH, 1),
    }


def main() -> None:
    p = parser(__doc__ or "")
    p.add_argument("--cases", type=int)
    p.add_argument("--config", type=Path, default=ROOT / "config")
    p.add_argument("--db", type=Path, default=ROOT / "var" / "bench-search.sqlite3")
    p.add_argument("--repeat", type=int)
    args = p.parse_args()
    cases = args.cases or SIZES[args.size]
    repeat = args.repeat or (20 if args.size == "tiny" else 100)
    args.db.parent.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    built = build(args.db, cases, args.config)
    queries = asyncio.run(measure(args.db, built, repeat))
    writes = write_path(args.db, 10 if args.size == "tiny" else 60)
    rows = [
        Row(SECTION, f"build {cases:,} cases in bulk", built["build_seconds"], "s",
            note=f"{built['db_mib']} MiB with the search table"),
    ]  # fmt: skip
    for name, figures in queries.items():
        rows.append(
            Row(
                SECTION,
                f"search p50 / p99: {name}",
                f"{figures['p50_ms']:.1f} / {figures['p99_ms']:.1f}",
                "ms",
                target="p99 < 200 ms" if "LIKE" not in name else "",
                met=figures["p99_ms"] < 200 if "LIKE" not in name else None,
                note=f"{figures['rows_per_page']} rows per page",
            )
        )
    rows.append(
        Row(
            SECTION,
            f"intake write, batch of {BATCH}: with / without the search row",
            f"{writes['with_ms']:.2f} / {writes['without_ms']:.2f}",
            "ms",
            note=f"{writes['added_us_per_whistle']} µs more per whistle (median of "
            f"{writes['batches']} batches each, synchronous=FULL)",
        )
    )
    rows.append(Row(SECTION, "peak memory", round(peak_rss_mib(), 1), "MiB"))
    rows.append(Row(SECTION, "section wall time", round(time.perf_counter() - began, 1), "s"))
    write_report(
        args.json,
        SECTION,
        args.size,
        rows,
        {"build": built, "queries": queries, "write_path": writes, "repeat": repeat},
    )


if __name__ == "__main__":
    main()
