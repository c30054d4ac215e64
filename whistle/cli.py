"""The ``whistle`` command: serve, generate a sample county, check a config directory, import
a 12345 hotline CSV, blank personal fields past retention, replay a period under proposed
rules."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import shutil
import signal
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from whistle.clock import Clock, SystemClock

if TYPE_CHECKING:
    from whistle.store import Store, StoreUrl

__all__ = ["main"]

# In a source checkout (make run, pip install -e) the shipped config sits beside the packages.
SHIPPED_CONFIG = Path(__file__).resolve().parent.parent / "config"
HAND_WRITTEN = ("rules.toml", "categories.toml", "calendar.toml", "lifecycle.toml")


async def _open(db: StoreUrl) -> Store | None:
    """The store at ``db`` for a command, or None once why it cannot open is printed."""
    from whistle.bus import Bus
    from whistle.exceptions import StoreUnavailable
    from whistle.store import open_store

    try:
        return await open_store(db, Bus())
    except StoreUnavailable as exc:
        print(f"whistle: {exc}", file=sys.stderr)
        return None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="whistle", description="五哨五到 grid-governance dispatch"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    _config_parsers(sub)
    _credential_parsers(sub)
    from whistle.replay import command as replay_command

    replay_command.add_parser(sub)

    hotline = sub.add_parser(
        "import-hotline", help="import a 12345 hotline CSV as citizen whistles (idempotent)"
    )
    hotline.add_argument("file", type=Path)
    hotline.add_argument("--db", type=_database, required=True)
    hotline.add_argument("--config", type=Path, default=SHIPPED_CONFIG)

    retention = sub.add_parser(
        "retention", help="blank the personal fields of cases closed longer ago than retention"
    )
    retention.add_argument("--db", type=_database, required=True)
    retention.add_argument("--config", type=Path, default=SHIPPED_CONFIG)
    retention.add_argument("--now", help="RFC 3339 time to count from (default: the clock)")
    retention.add_argument("--dry-run", action="store_true", help="list, change nothing")
    return parser


def _serve_parser(sub: Any) -> None:
    serve = sub.add_parser("serve", help="serve the HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument(
        "--port", type=int, default=8080, help="0: any free port (the serving line names it)"
    )
    serve.add_argument("--db", type=_database, default="var/whistle.sqlite3")
    serve.add_argument("--config", type=Path, default=SHIPPED_CONFIG)
    serve.add_argument("--log-level", default="info")
    serve.add_argument("--log-format", choices=("json", "console"), default="json")
    serve.add_argument(
        "--demo", action="store_true", help="create demo logins if missing and print them"
    )
    serve.add_argument(
        "--limit-per-token", type=float, default=500.0, help="requests/s per token (burst 2x)"
    )
    serve.add_argument(
        "--limit-per-address", type=float, default=500.0, help="requests/s per address (burst 2x)"
    )
    serve.add_argument(
        "--citizen-burst",
        type=_positive_int,
        default=5,
        help="citizen reports and photos one client address may send at once (then one each 12 s)",
    )
    serve.add_argument(
        "--secure-cookies",
        action="store_true",
        help="mark cookies Secure on plain HTTP too (behind a proxy that ends TLS)",
    )
    serve.add_argument(
        "--wall-frame-ancestors",
        default="",
        type=_frame_ancestors,
        metavar="ORIGINS",
        help="origins (https://host, space- or comma-separated) that may show /wall in a frame;"
        " by default no page may be framed",
    )
    serve.add_argument(
        "--public-url",
        default="",
        help="the address browsers use (https://host); webhook notices link to task pages there",
    )
    serve.add_argument(
        "--grid-cache",
        type=Path,
        help="where the compiled grids are kept (default: grid-cache beside the database)",
    )
    serve.add_argument(
        "--name",
        default="",
        help="this process's name in its metrics' process label (default: host:port)",
    )
    serve.add_argument(
        "--deadline-lease",
        type=float,
        default=30.0,
        help="seconds a process holds a deadline or a webhook delivery it claimed (PostgreSQL)",
    )
    # A testing aid, hidden from --help: run on the wall clock plus the seconds in this file,
    # re-read on SIGUSR1, so that a test can move a real process past its deadlines.
    serve.add_argument("--clock-offset-file", type=Path, help=argparse.SUPPRESS)


def _config_parsers(sub: Any) -> None:
    sample = sub.add_parser("sample-county", help="write a deterministic sample county")
    sample.add_argument("outdir", type=Path)
    sample.add_argument("--seed", type=int, default=530524)
    sample.add_argument("--towns", type=int, default=12)
    sample.add_argument("--communities", type=int, default=250)
    sample.add_argument("--grids", type=int, default=2502)
    sample.add_argument("--micro-grids", type=int, default=25000)

    province = sub.add_parser(
        "sample-province", help="write a deterministic sample province (2.8 million cells)"
    )
    province.add_argument("outdir", type=Path)
    province.add_argument("--seed", type=int, default=530000)
    province.add_argument(
        "--scale", type=int, default=1, help="divide every level's count by this (tests)"
    )
    party = sub.add_parser(
        "sample-party",
        help="fill a database with the sample party-building records (units, 双报到, projects)",
    )
    party.add_argument("--db", type=_database, required=True)
    party.add_argument("--config", type=Path, default=SHIPPED_CONFIG)
    party.add_argument("--seed", type=int, default=19)

    check = sub.add_parser("check-config", help="load and validate a config directory")
    check.add_argument("config", type=Path, nargs="?", default=SHIPPED_CONFIG)


def _credential_parsers(sub: Any) -> None:
    token = sub.add_parser("token", help="API tokens").add_subparsers(dest="action", required=True)
    create = token.add_parser("create", help="print a new token (and nothing else)")
    create.add_argument("--db", type=_database, required=True)
    create.add_argument("--config", type=Path, default=SHIPPED_CONFIG)
    create.add_argument("--role", required=True, choices=[r.value for r in _roles()])
    create.add_argument("--scope", help="grid code (every role but admin)")
    create.add_argument("--responder", help="responder id (role responder)")
    create.add_argument("--source", help="the whistle source an integration files")
    create.add_argument("--expires", help="e.g. 30d, 12h (default: never)")
    create.add_argument("--label", default="")
    revoke = token.add_parser("revoke", help="revoke a token by its id")
    revoke.add_argument("--db", type=_database, required=True)
    revoke.add_argument("id")
    listing = token.add_parser("list", help="list tokens (never the tokens themselves)")
    listing.add_argument("--db", type=_database, required=True)

    user = sub.add_parser("user", help="browser logins").add_subparsers(
        dest="action", required=True
    )
    add = user.add_parser("add", help="create or update a login; the password is read from stdin")
    add.add_argument("--db", type=_database, required=True)
    add.add_argument("--config", type=Path, default=SHIPPED_CONFIG)
    add.add_argument("--name", required=True)
    add.add_argument("--role", required=True, choices=[r.value for r in _roles()])
    add.add_argument("--scope")
    add.add_argument("--responder")


def _frame_ancestors(text: str) -> tuple[str, ...]:
    from whistle.web.headers import parse_frame_ancestors

    try:
        return parse_frame_ancestors(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _database(text: str) -> StoreUrl:
    """``--db``: a SQLite file path or URL, as a StoreUrl; argparse names the option in the
    error when no backend takes it."""
    from whistle.exceptions import StoreUrlError
    from whistle.store import StoreUrl

    try:
        return StoreUrl.parse(text)
    except StoreUrlError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _roles() -> list[Any]:
    from whistle.auth import Role

    return list(Role)


def main(argv: list[str] | None = None, *, clock: Clock | None = None) -> int:
    """The ``whistle`` command; ``clock`` (tests) is what check-config calls today."""
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command in ("sample-county", "sample-province"):
        return _sample(args)
    if args.command in ("token", "user"):
        return asyncio.run(_access_command(args))
    if args.command == "import-hotline":
        return asyncio.run(_import_hotline(args))
    if args.command == "retention":
        return asyncio.run(_retention(args, clock))
    if args.command == "replay":
        from whistle.replay import command as replay_command

        return replay_command.run(args, (clock or SystemClock()).now())
    if args.command == "sample-party":
        return asyncio.run(_sample_party(args))
    return _check(args, clock)


async def _sample_party(args: argparse.Namespace) -> int:
    """Write the party-building sample into a database that has no units yet."""
    from dispatch import load_dispatch_config
    from grids.loader import load_hierarchy
    from whistle.logs import configure_logging
    from whistle.party.sample import generate, load_sample
    from whistle.store import PartyKind, PartyQuery

    configure_logging("warning", json=False)
    hierarchy = load_hierarchy(args.config)
    tz = load_dispatch_config(args.config).calendar.timezone
    store = await _open(args.db)
    if store is None:
        return 2
    try:
        if await store.party.find(PartyQuery(PartyKind.UNIT, limit=1)):
            print("whistle: the database has party records already; nothing written")
            return 1
        sample = generate(hierarchy, SystemClock().now(), tz, seed=args.seed)
        await load_sample(store.party, sample)
    finally:
        await store.close()
    print(", ".join(f"{kind} {n}" for kind, n in sample.counts().items()))
    return 0


async def _demo_party(app: web.Application) -> None:
    """The party-building sample, once, for the demo (its member is left unregistered, to
    try registering on the phone page)."""
    from whistle.party.sample import generate, load_sample
    from whistle.store import PartyKind, PartyQuery
    from whistle.web.keys import CLOCK, HIERARCHY, PARTY, TZ, VISITS

    store = app[PARTY].store
    if await store.find(PartyQuery(PartyKind.UNIT, limit=1)):
        return
    hierarchy = app[HIERARCHY]
    member = _demo_member(hierarchy)
    sample = await asyncio.to_thread(
        generate, hierarchy, app[CLOCK].now(), app[TZ], exclude=[member.id]
    )
    await load_sample(store, sample)
    await app[VISITS].load()
    counts = ", ".join(f"{kind} {n}" for kind, n in sample.counts().items())
    print(f"whistle: party-building sample loaded: {counts}", file=sys.stderr, flush=True)


async def _access_command(args: argparse.Namespace) -> int:
    """token create|revoke|list and user add, straight against the database file."""
    from whistle.auth import Role
    from whistle.clock import SystemClock
    from whistle.exceptions import InvalidWhistle
    from whistle.logs import configure_logging
    from whistle.web.access import Access
    from whistle.web.admin import parse_expiry

    # Standard output carries the answer alone (a token is meant to be captured by a script).
    configure_logging("warning", json=False)
    hierarchy = None
    if hasattr(args, "config"):
        from grids.loader import load_hierarchy

        hierarchy = load_hierarchy(args.config)
    store = await _open(args.db)
    if store is None:
        return 2
    access = Access(store, SystemClock(), hierarchy)  # type: ignore[arg-type]
    try:
        if args.command == "token" and args.action == "create":
            try:
                expires = parse_expiry(args.expires)
            except ValueError as exc:
                print(f"whistle: --expires: {exc}", file=sys.stderr)
                return 2
            issued = await access.issue_token(
                role=Role(args.role),
                scope=args.scope,
                responder_id=args.responder,
                source=args.source,
                expires=expires,
                label=args.label,
                by="cli",
            )
            print(issued.token)
        elif args.command == "token" and args.action == "revoke":
            record = await access.revoke_token(args.id, by="cli")
            if record is None:
                print(f"whistle: no token {args.id!r}", file=sys.stderr)
                return 1
            print(f"revoked {record.id}")
        elif args.command == "token":
            for record in await store.tokens():
                state = "revoked" if record.revoked_at else "active"
                print(f"{record.id}\t{record.role}\t{record.scope or '-'}\t{state}\t{record.label}")
        else:
            password = sys.stdin.readline().rstrip("\n")
            await access.add_user(
                name=args.name,
                password=password,
                role=Role(args.role),
                scope=args.scope,
                responder_id=args.responder,
                by="cli",
            )
            print(f"user {args.name} ({args.role}) saved")
    except InvalidWhistle as exc:
        for error in exc.errors:
            print(f"whistle: --{error.field}: {error.reason}", file=sys.stderr)
        return 2
    finally:
        access.close()
        await store.close()
    return 0


async def _import_hotline(args: argparse.Namespace) -> int:
    """Import a 12345 CSV straight into the database; exit 0 once the file was read."""
    from dispatch import DutyRoster, Router, load_dispatch_config
    from grids.exceptions import ConfigError
    from grids.gazetteer import Gazetteer, load_aliases
    from grids.loader import load_hierarchy
    from whistle.auth import Principal
    from whistle.clock import SystemClock
    from whistle.ids import IdFactory
    from whistle.intake import Intake
    from whistle.integrations.hotline import import_hotline, load_hotline_categories
    from whistle.logs import configure_logging
    from whistle.silences import Silences

    configure_logging("warning", json=False)
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        print(f"whistle: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 1
    try:
        hierarchy = load_hierarchy(args.config)
        config = load_dispatch_config(args.config)
        router = Router.compile(hierarchy, config)
        duty = DutyRoster.load(args.config, hierarchy, config.calendar)
        categories = load_hotline_categories(args.config, router.catalog)
        # Tickets with an address and no point are placed by the county's place names.
        gazetteer = Gazetteer.build(hierarchy, load_aliases(args.config, hierarchy))
    except ConfigError as exc:
        print(f"whistle: {args.config} is invalid:\n{exc}", file=sys.stderr)
        return 2
    store = await _open(args.db)
    if store is None:
        return 2
    try:
        clock = SystemClock()
        ids = IdFactory(clock)
        tz = router.calendar.timezone
        silences = Silences(store, clock, ids, hierarchy=hierarchy, catalog=router.catalog, tz=tz)
        await silences.load()
        intake = Intake(
            hierarchy=hierarchy,
            router=router,
            catalog=router.catalog,
            store=store,
            clock=clock,
            ids=ids,
            tz=tz,
            policy=config.policy,
            duty=duty,
            silences=silences,
            gazetteer=gazetteer,
        )
        # No login on the command line: the tickets are filed by the system user who ran it.
        filer = Principal(id=f"cli:{getpass.getuser()}", role=None, scope=None, via="cli")
        await intake.nearby.load(store)  # tickets near open cases are listed as duplicates
        report = await import_hotline(
            data,
            intake=intake,
            store=store,
            catalog=router.catalog,
            categories=categories,
            tz=tz,
            filer=filer,
        )
    finally:
        await store.close()
    print(f"{args.file}: {report.summary()}")
    for line in report.error_lines():
        print(f"  {line}")
    return 0 if report.read else 1


async def _retention(args: argparse.Namespace, clock: Clock | None) -> int:
    """``whistle retention``: blank personal fields past ``lifecycle.toml``'s retention."""
    from dispatch import load_dispatch_config
    from grids.exceptions import ConfigError
    from whistle.logs import configure_logging
    from whistle.retention import apply_retention

    configure_logging("warning", json=False)
    try:
        policy = load_dispatch_config(args.config).policy
    except ConfigError as exc:
        print(f"whistle: {args.config} is invalid:\n{exc}", file=sys.stderr)
        return 2
    try:
        now = (clock or SystemClock()).now() if args.now is None else _instant(args.now)
    except ValueError as exc:
        print(f"whistle: --now: {exc}", file=sys.stderr)
        return 2
    store = await _open(args.db)
    if store is None:
        return 2
    try:
        report = await apply_retention(
            store,
            now=now,
            retention=policy.retention,
            media_dir=args.db.path.parent / "media",
            dry_run=args.dry_run,
            actor=f"cli:{getpass.getuser()}",
        )
    finally:
        await store.close()
    print(report.summary())
    for whistle_id in report.cases:
        print(f"  {whistle_id}")
    return 0


def _instant(text: str) -> datetime:
    """An RFC 3339 time with its offset."""
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return when


def _serve(args: argparse.Namespace) -> int:
    from whistle.app import create_app
    from whistle.logs import configure_logging
    from whistle.web.keys import Settings

    configure_logging(args.log_level, json=args.log_format == "json")
    import structlog

    from whistle.allocator import MMAP_THRESHOLD, pin_mmap_threshold
    from whistle.web.access import CITIZEN_RATE, AccessLimits

    # Before the server allocates anything big: see whistle/allocator.py.
    if pin_mmap_threshold():
        structlog.get_logger(__name__).info("allocator.pinned", mmap_threshold=MMAP_THRESHOLD)
    from whistle.ratelimit import Limit

    limits = AccessLimits(
        principal=Limit(args.limit_per_token, 2 * args.limit_per_token),
        address=Limit(args.limit_per_address, 2 * args.limit_per_address),
        public=Limit(CITIZEN_RATE, float(args.citizen_burst)),
    )
    settings = Settings(
        db_path=args.db.path,
        db=args.db if args.db.backend != "sqlite" else None,
        config_dir=args.config,
        limits=limits,
        secure_cookies=args.secure_cookies,
        public_url=args.public_url,
        wall_frame_ancestors=args.wall_frame_ancestors,
        grid_cache=args.grid_cache or args.db.path.parent / "grid-cache",
        name=args.name,
        deadline_lease=timedelta(seconds=args.deadline_lease),
    )
    # SIGTERM/SIGINT arrive as GracefulExit (a SystemExit with code 1) through aiohttp's
    # signal handlers; the cleanup contexts have run by then, so it is a clean exit.
    from grids.exceptions import ConfigError
    from whistle.clock import OffsetClock, read_offset
    from whistle.exceptions import StoreUnavailable

    clock = None
    if args.clock_offset_file is not None:
        clock = OffsetClock(read_offset(args.clock_offset_file))
    from whistle.store.lock import serving

    try:
        # Before anything opens the database: a second server on one SQLite file must not arm
        # its deadlines. Several servers on one PostgreSQL database are the point of it: a
        # deadline fires once there because its firing is guarded in the database.
        lock = serving(args.db.path) if args.db.backend == "sqlite" else contextlib.nullcontext()
        with lock, contextlib.suppress(KeyboardInterrupt, web.GracefulExit):
            app = create_app(settings, clock=clock)
            asyncio.run(
                _run(app, args.host, args.port, demo=args.demo, offset_file=args.clock_offset_file)
            )
    except ConfigError as exc:
        print(f"whistle: cannot start: {args.config} is invalid:\n{exc}", file=sys.stderr)
        return 2
    except (StoreUnavailable, OSError) as exc:
        print(f"whistle: cannot start: {exc}", file=sys.stderr)
        return 2
    return 0


async def _run(
    app: web.Application,
    host: str,
    port: int,
    *,
    demo: bool = False,
    offset_file: Path | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM, then shut down in order.

    The signals set an event rather than raising out of the event loop (aiohttp's
    handle_signals): an exception escaping the loop makes asyncio.run cancel every task at
    once, the store's writer among them, while the cleanup still waits for it to drain.
    With ``offset_file`` (the app runs on an OffsetClock), SIGUSR1 re-reads it.
    """
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if offset_file is not None:
        loop.add_signal_handler(signal.SIGUSR1, _move_clock, app, offset_file)
    reloads: set[asyncio.Task[Any]] = set()
    loop.add_signal_handler(signal.SIGHUP, _reload_on_signal, app, reloads)
    from whistle.allocator import trim_periodically

    trimmer = asyncio.create_task(trim_periodically(), name="allocator-trim")
    try:
        site = web.TCPSite(runner, host, port, shutdown_timeout=10.0)
        await site.start()
        # The port the socket got, not the one asked for: with --port 0 the kernel picks a
        # free one, and whoever started us (whistle.testing.ServerProcess) reads it here.
        bound = int(runner.addresses[0][1])
        if demo:
            await _demo_logins(app, f"http://{host}:{bound}")
            await _demo_party(app)
        print(f"whistle: serving on http://{host}:{bound}", file=sys.stderr, flush=True)
        await stop.wait()
    finally:
        trimmer.cancel()
        await runner.cleanup()


def _reload_on_signal(app: web.Application, reloads: set[asyncio.Task[Any]]) -> None:
    """SIGHUP: reload the grids (whistle.reload); the task is kept until it ends."""
    from whistle.reload import reload_hierarchy

    task = asyncio.ensure_future(reload_hierarchy(app))
    reloads.add(task)
    task.add_done_callback(reloads.discard)


def _move_clock(app: web.Application, offset_file: Path) -> None:
    """SIGUSR1 under --clock-offset-file: take the file's offset and wake the scheduler."""
    import structlog

    from whistle.clock import OffsetClock, read_offset
    from whistle.web.keys import CASES, CLOCK

    log = structlog.get_logger(__name__)
    clock = app[CLOCK]
    assert isinstance(clock, OffsetClock)
    try:
        offset = read_offset(offset_file)
    except (OSError, ValueError) as exc:
        log.error("clock.offset_unreadable", path=str(offset_file), error=str(exc))
        return
    if not clock.move_to(offset):
        log.error("clock.not_moved_back", offset=offset.total_seconds())
        return
    log.info("clock.moved", offset=offset.total_seconds(), now=clock.now().isoformat())
    cases = app.get(CASES)
    if cases is not None:
        cases.wake()


DEMO_PASSWORD = "whistle-demo"


def _demo_member(hierarchy: Any) -> Any:
    """The demo's party member: the first registered member of the first grid of the first
    community of the first town."""
    from grids import Level, ResponderKind

    town = next(hierarchy.cells(level=Level.TOWN))
    grid = next(
        hierarchy.cells(level=Level.GRID, parent=next(hierarchy.cells(parent=town.code)).code)
    )
    return hierarchy.responders_at(grid.code, ResponderKind.REGISTERED_MEMBER)[0]


async def _demo_logins(app: web.Application, url: str) -> None:
    """Logins for trying the sample county, made once (existing ones are left alone)."""
    from grids import Level
    from whistle.auth import Role
    from whistle.web.access import ACCESS
    from whistle.web.keys import HIERARCHY, STORE

    hierarchy = app[HIERARCHY]
    town = next(hierarchy.cells(level=Level.TOWN))
    member = _demo_member(hierarchy)
    grid = hierarchy.cell(member.grid)
    demo = [
        ("admin", Role.ADMIN, None, None, "管理员"),
        (
            "dispatch",
            Role.OPERATOR,
            hierarchy.root,
            None,
            f"调度员 · {hierarchy.cell(hierarchy.root).name}",
        ),
        ("committee", Role.COMMITTEE, town.code, None, f"党委 · {town.name}"),
        ("gridworker", Role.REPORTER, grid.code, None, f"网格员 · {grid.name}"),
        ("member", Role.RESPONDER, grid.code, member.id, f"报到党员 {member.name}"),
    ]
    access = app[ACCESS]
    store = app[STORE]
    lines = [f"whistle: log in at {url}/login (password {DEMO_PASSWORD!r} for each):"]
    for name, role, scope, responder, what in demo:
        if await store.get_user(name) is None:
            await access.add_user(
                name=name, password=DEMO_PASSWORD, role=role, scope=scope,
                responder_id=responder, by="demo",
            )  # fmt: skip
        lines.append(f"  {name:<11} {role.value:<10} {what}")
    lines.append(
        "  API tokens: .venv/bin/whistle token create --db DB --role operator --scope "
        f"{hierarchy.root}"
    )
    print("\n".join(lines), file=sys.stderr, flush=True)


def _sample(args: argparse.Namespace) -> int:
    from grids.loader import load_hierarchy
    from grids.sample import PROVINCE, generate_county, generate_province
    from grids.sample_places import write_places

    aliases = None
    if args.command == "sample-province":
        # No address aliases: a province's 2.8 million cells are named by their chains alone.
        counts = {level: max(1, n // max(1, args.scale)) for level, n in PROVINCE.items()}
        summary = generate_province(args.outdir, seed=args.seed, **counts)
    else:
        summary = generate_county(
            args.outdir,
            seed=args.seed,
            towns=args.towns,
            communities=args.communities,
            grids=args.grids,
            micro_grids=args.micro_grids,
        )
        # The address aliases of the gazetteer, derived from the county just written.
        aliases = write_places(args.outdir, load_hierarchy(args.outdir))
    # A config directory needs the hand-written rules too; copy the shipped ones if absent.
    for name in HAND_WRITTEN:
        target = args.outdir / name
        source = SHIPPED_CONFIG / name
        if not target.exists() and source.exists():
            shutil.copyfile(source, target)
    print(summary)
    if aliases is not None:
        print(f"places.csv: {aliases} address aliases")
    return 0


def _check(args: argparse.Namespace, clock: Clock | None = None) -> int:
    from dispatch import (
        DispatchConfigError,
        DutyRoster,
        Router,
        Teams,
        calendar_outlook,
        load_dispatch_config,
    )
    from dispatch.toml_lines import with_toml_lines
    from grids.exceptions import ConfigError
    from grids.gazetteer import load_aliases
    from grids.loader import load_hierarchy
    from whistle.integrations.feeds import load_cameras
    from whistle.integrations.hotline import load_hotline_categories
    from whistle.webhooks import known_responders, load_webhooks

    try:
        hierarchy = load_hierarchy(args.config)
        config = load_dispatch_config(args.config)
        Router.compile(hierarchy, config)
        DutyRoster.load(args.config, hierarchy, config.calendar)
        Teams.load(args.config, hierarchy)
        load_webhooks(args.config, known_responders(hierarchy))
        if (args.config / "cameras.csv").exists():
            load_cameras(args.config, hierarchy)
        if (args.config / "hotline_categories.csv").exists():
            load_hotline_categories(args.config, config.catalog)
        load_aliases(args.config, hierarchy)  # places.csv, when there is one
        problems, warnings = calendar_outlook(config, (clock or SystemClock()).now())
        if problems:
            raise DispatchConfigError(problems)
    except ConfigError as exc:
        # TOML problems name a path; give them the line too, as the config page shows them.
        texts = {p.name: p.read_text(encoding="utf-8") for p in args.config.glob("*.toml")}
        located = "\n".join(str(p) for p in with_toml_lines(exc.problems, texts))
        print(f"whistle: {args.config} is invalid:\n{located}", file=sys.stderr)
        return 1
    for warning in warnings:
        print(f"whistle: warning: {warning}", file=sys.stderr)
    print(f"{args.config}: ok, {hierarchy!r}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
