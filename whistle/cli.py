"""The ``whistle`` command: serve, generate a sample county, check a config directory."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import sys
from pathlib import Path

from aiohttp import web

__all__ = ["main"]

# In a source checkout (make run, pip install -e) the shipped config sits beside the packages.
SHIPPED_CONFIG = Path(__file__).resolve().parent.parent / "config"
HAND_WRITTEN = ("rules.toml", "categories.toml", "calendar.toml", "lifecycle.toml")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="whistle", description="五哨五到 grid-governance dispatch"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--db", type=Path, default=Path("var/whistle.sqlite3"))
    serve.add_argument("--config", type=Path, default=SHIPPED_CONFIG)
    serve.add_argument("--log-level", default="info")
    serve.add_argument("--log-format", choices=("json", "console"), default="json")

    sample = sub.add_parser("sample-county", help="write a deterministic sample county")
    sample.add_argument("outdir", type=Path)
    sample.add_argument("--seed", type=int, default=530524)
    sample.add_argument("--towns", type=int, default=12)
    sample.add_argument("--communities", type=int, default=250)
    sample.add_argument("--grids", type=int, default=2502)
    sample.add_argument("--micro-grids", type=int, default=25000)

    check = sub.add_parser("check-config", help="load and validate a config directory")
    check.add_argument("config", type=Path, nargs="?", default=SHIPPED_CONFIG)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "sample-county":
        return _sample(args)
    return _check(args)


def _serve(args: argparse.Namespace) -> int:
    from whistle.app import create_app
    from whistle.keys import Settings
    from whistle.logs import configure_logging

    configure_logging(args.log_level, json=args.log_format == "json")
    settings = Settings(db_path=args.db, config_dir=args.config)
    # SIGTERM/SIGINT arrive as GracefulExit (a SystemExit with code 1) through aiohttp's
    # signal handlers; the cleanup contexts have run by then, so it is a clean exit.
    from dispatch import DispatchConfigError
    from grids import GridConfigError
    from whistle.exceptions import StoreUnavailable

    try:
        with contextlib.suppress(KeyboardInterrupt, web.GracefulExit):
            asyncio.run(_run(create_app(settings), args.host, args.port))
    except (GridConfigError, DispatchConfigError) as exc:
        print(f"whistle: cannot start: {args.config} is invalid:\n{exc}", file=sys.stderr)
        return 2
    except (StoreUnavailable, OSError) as exc:
        print(f"whistle: cannot start: {exc}", file=sys.stderr)
        return 2
    return 0


async def _run(app: web.Application, host: str, port: int) -> None:
    runner = web.AppRunner(app, handle_signals=True, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        print(f"whistle: serving on http://{host}:{port}", file=sys.stderr, flush=True)
        await asyncio.Event().wait()  # until SIGINT/SIGTERM (handle_signals) cancels us
    finally:
        await runner.cleanup()


def _sample(args: argparse.Namespace) -> int:
    from grids.sample import generate_county

    summary = generate_county(
        args.outdir,
        seed=args.seed,
        towns=args.towns,
        communities=args.communities,
        grids=args.grids,
        micro_grids=args.micro_grids,
    )
    # A config directory needs the hand-written rules too; copy the shipped ones if absent.
    for name in HAND_WRITTEN:
        target = args.outdir / name
        source = SHIPPED_CONFIG / name
        if not target.exists() and source.exists():
            shutil.copyfile(source, target)
    print(summary)
    return 0


def _check(args: argparse.Namespace) -> int:
    from dispatch import DispatchConfigError, DutyRoster, Router, Teams, load_dispatch_config
    from grids import GridConfigError
    from grids.loader import load_hierarchy
    from whistle.webhooks import known_responders, load_webhooks

    try:
        hierarchy = load_hierarchy(args.config)
        config = load_dispatch_config(args.config)
        Router.compile(hierarchy, config)
        DutyRoster.load(args.config, hierarchy, config.calendar)
        Teams.load(args.config, hierarchy)
        load_webhooks(args.config, known_responders(hierarchy))
    except (GridConfigError, DispatchConfigError) as exc:
        print(f"whistle: {args.config} is invalid:\n{exc}", file=sys.stderr)
        return 1
    print(f"{args.config}: ok, {hierarchy!r}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
