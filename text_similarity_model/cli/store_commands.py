"""``update`` (train a new version of the model store, check it, promote it)
and ``models`` (list, show, promote, roll back, init, reload)."""

from __future__ import annotations

import json
import sys

from .. import settings
from ..errors import ModelFileError, PalestrasError, TamperedModelError
from ..store.thresholds import DEFAULT_THRESHOLDS, ThresholdError, Thresholds
from ..store.services import reload_services
from . import options
from .tables import versions_table


def add_commands(commands) -> None:
    update = commands.add_parser(
        "update",
        help="train a new version into the model store, check it against the current one, promote or refuse",
        description="Trains DATA.csv into a new version of the store, measures it (leave-one-out P@5 and MRR) "
        "and makes it current only if every check against the current version holds; then reloads the "
        "running service (--pidfile). A refused version stays in the store, not current, for inspection.",
    )
    options.add_data_or_default(update)
    options.add_store(update)
    update.add_argument("--version", help="the new version's name (default: training time and data hash)")
    update.add_argument("--force", action="store_true", help="promote even if checks fail (recorded in the report)")
    defaults = DEFAULT_THRESHOLDS
    update.add_argument("--min-talks-share", type=float, default=defaults.min_talks_share, metavar="S",
                        help=f"refuse fewer talks than S x the current version's (default {defaults.min_talks_share})")
    update.add_argument("--max-empty-share", type=float, default=defaults.max_empty_share, metavar="S",
                        help=f"refuse more empty rows than S of those read (default {defaults.max_empty_share})")
    update.add_argument("--max-duplicate-share", type=float, default=defaults.max_duplicate_share, metavar="S",
                        help=f"refuse more duplicate rows than S (default {defaults.max_duplicate_share})")
    update.add_argument("--quality-tolerance", type=float, default=defaults.quality_tolerance, metavar="D",
                        help=f"refuse a P@5 or MRR lower than the current's by more than D "
                             f"(default {defaults.quality_tolerance})")
    update.add_argument("--max-queries", type=int, default=defaults.max_queries, metavar="N",
                        help=f"talks sampled (fixed seed) to measure P@5 and MRR (default {defaults.max_queries})")
    update.add_argument("--judged-file", default=settings.JUDGED_FILE.get(), metavar="JUDGED.json",
                        help="when the new version's pipeline configuration differs from the current one's, compare "
                             "the two on this judged file (JUDGED.md) instead of the same-track proxy "
                             "(default $JUDGED_FILE, else none: not compared)")
    update.add_argument("--judged-tolerance", type=float, default=defaults.judged_tolerance, metavar="D",
                        help=f"refuse a new configuration whose judged nDCG@10 is lower than the current one's by "
                             f"more than D (default {defaults.judged_tolerance})")
    update.set_defaults(command=update_command)

    models = commands.add_parser("models", help="list, show, promote or roll back the versions of the model store")
    verbs = models.add_subparsers(required=True, metavar="VERB")
    listing = verbs.add_parser("list", help="every version, with training time, talks, P@5/MRR, which is current")
    options.add_store(listing, pidfile=False)
    options.add_json(listing, "the versions")
    listing.set_defaults(command=list_versions)
    show = verbs.add_parser("show", help="one version's training report, as JSON")
    show.add_argument("name", metavar="VERSION")
    options.add_store(show, pidfile=False)
    show.set_defaults(command=show_version)
    promote = verbs.add_parser("promote", help="make VERSION current and reload the running service")
    promote.add_argument("name", metavar="VERSION")
    options.add_store(promote)
    promote.set_defaults(command=promote_version)
    init = verbs.add_parser(
        "init", help="give an empty store its first version: an existing MODELS_DIR/model.pkl, else DATA.csv trained",
        description="Nothing to do when the store has a current version. Otherwise a model file from before "
        "the store (MODELS_DIR/model.pkl) becomes its first version; without one, DATA.csv is trained "
        "(data checks only: there is nothing to compare with). make run calls it.")
    options.add_data_or_default(init)
    options.add_store(init, pidfile=False)
    init.set_defaults(command=init_store)
    rollback = verbs.add_parser("rollback", help="make the previous current version current again, and reload")
    options.add_store(rollback)
    rollback.set_defaults(command=roll_back)
    reload = verbs.add_parser("reload", help="tell the running services to serve the store's current version now")
    options.add_store(reload)
    reload.set_defaults(command=reload_command)


def update_command(arguments) -> int:
    from ..store.promotion import update

    try:
        thresholds = Thresholds(arguments.min_talks_share, arguments.max_empty_share, arguments.max_duplicate_share,
                                arguments.quality_tolerance, arguments.max_queries,
                                judged_tolerance=arguments.judged_tolerance)
    except ThresholdError as error:
        raise PalestrasError(f"--{error.name.replace('_', '-')} {error.problem}") from None
    result = update(arguments.data, _store(arguments), thresholds, arguments.force, arguments.version,
                    judged_file=arguments.judged_file or None)
    if result.promoted:
        _reload_services(arguments)
    print(result.summary())
    return 0 if result.promoted else 1


def list_versions(arguments) -> int:
    store = _store(arguments)
    current = store.pointer().get("version")
    rows = []
    for version in reversed(store.versions()):  # newest first
        evaluation = version.report.get("evaluation") or {}
        rows.append({
            "version": version.name,
            "current": version.name == current,
            "trained_at": version.trained_at,
            "talks": version.report.get("talks", {}).get("kept"),
            "precision@5": evaluation.get("precision@5"),
            "mrr": evaluation.get("mrr"),
            "promoted": version.report.get("promoted"),
            "forced": bool(version.report.get("forced")),
        })
    if arguments.json:
        json.dump(rows, sys.stdout, indent=2)
        print()
    elif not rows:
        print(f"{store.folder}: no versions yet; make train or make update adds one")
    else:
        print("\n".join(versions_table(rows)))
    return 0


def show_version(arguments) -> int:
    version = _store(arguments).version(arguments.name)
    json.dump({"version": version.name, "folder": str(version.folder), **version.report}, sys.stdout,
              ensure_ascii=False, indent=2)
    print()
    return 0


def init_store(arguments) -> int:
    from ..store.promotion import adopt, update

    store = _store(arguments)
    current = store.current()
    if current is not None:
        print(f"{store.folder}: current version {current.name}")
        return 0
    legacy = store.folder / "model.pkl"
    if legacy.is_file():
        try:
            version = adopt(legacy, store)  # checked (manifest, and its signature when a key is set) before unpickling
        except TamperedModelError as error:
            raise PalestrasError(f"{error}; not adopted into {store.folder}: move it away to start the store "
                                 "from DATA instead") from None
        print(f"adopted {legacy} as {version.name}, the first version of {store.folder}")
        return 0
    result = update(arguments.data, store)
    print(result.summary())
    return 0 if result.promoted else 1


def promote_version(arguments) -> int:
    store = _store(arguments)
    with store.lock():
        version = store.version(arguments.name)
        _refuse_what_services_would(store, version, "not promoted")
        store.promote(version.name)
    _reload_services(arguments)
    print(f"promoted {version.name}")
    return 0


def roll_back(arguments) -> int:
    store = _store(arguments)
    with store.lock():
        replaced = store.current()
        _refuse_what_services_would(store, store.rollback_target(), "not rolled back to")
        version = store.rollback()
    _reload_services(arguments)
    print(f"rolled back to {version.name} (was {replaced.name})")
    return 0


def _refuse_what_services_would(store, version, refused: str) -> None:
    """Before a switch, what the services would refuse: a version that doesn't load, was written
    as another version, or isn't signed with their key (MODEL_SIGNING_KEY)."""
    from ..store.promotion import signing_check

    version.load_model()
    try:
        current = store.current()
    except ModelFileError:
        current = None  # a malformed pointer, which this switch repairs: no witness of the services' key
    signing = signing_check(current)
    if not signing.passed:
        raise PalestrasError(f"{signing.detail}; {version.name} {refused}")


def reload_command(arguments) -> int:
    current = _store(arguments).current()
    if current is None:
        raise PalestrasError(f"{arguments.models_dir}: no current version to serve; make train adds one")
    return 0 if _reload_services(arguments) else 1


def _store(arguments):
    from ..store.versions import ModelStore

    return ModelStore(arguments.models_dir, keep=arguments.keep)


def _reload_services(arguments) -> int:
    """Signal the running services (``--pidfile``, else every default one) to
    load the store's current version; says which, or that none runs."""
    pidfiles = arguments.pidfile or arguments.pidfile_default
    signalled = reload_services(pidfiles)
    for pid in signalled:
        print(f"reloading the service (pid {pid})")
    if not signalled:
        print(f"no running service ({', '.join(pidfiles)}) to signal: services on this store load the new current "
              f"version by themselves (within STORE_POLL_SECONDS, {settings.STORE_POLL_SECONDS.get()} s here), "
              "or at their next start")
    return len(signalled)
