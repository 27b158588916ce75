"""``taskfp data``: fetch and verify the published intermediate results."""
from __future__ import annotations


def register(sub) -> None:
    parser = sub.add_parser("data", help="fetch and verify the published intermediate results",
                            description="Resolve every file of data_manifest/manifest.csv into the local data "
                                        "directory (from $TASKFP_MIRROR or the upstream URL) and verify its sha256.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    fetch = actions.add_parser("fetch", help="fetch (or verify) the files of the manifest")
    fetch.add_argument("--group", action="append", help="only this manifest group (repeatable)")
    fetch.set_defaults(func=_fetch)
    where = actions.add_parser("path", help="print the verified local path of one upstream file")
    where.add_argument("file", help="upstream path, e.g. cache/distances/FID.csv")
    where.set_defaults(func=_path)


def _fetch(args) -> int:
    from ..upstream.manifest import data_dir, fetch_all

    paths = fetch_all(args.group)
    print(f"{len(paths)} files verified in {data_dir()}")
    return 0


def _path(args) -> int:
    from ..upstream.manifest import data_path

    print(data_path(args.file))
    return 0
