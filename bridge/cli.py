"""Command line: the one place errors become a one-line message and a sysexits exit code."""

from __future__ import annotations

import argparse
import sys

from bridge import __version__
from bridge.errors import BridgeError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bridge", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_subparsers(dest="command", required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        del args
        return 0
    except BridgeError as error:
        print(f"bridge: {error}", file=sys.stderr)
        return error.exit_code
