"""`fastgen info`: versions, compiled backends and GPU."""

import json


def add_arguments(parser):
    parser.add_argument("--json", action="store_true", help="print the information as JSON")


def run(args) -> int:
    from fastgen.info import build_info, format_build_info

    info = build_info()
    print(json.dumps(info, indent=2) if args.json else format_build_info(info))
    return 0
