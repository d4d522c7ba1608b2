"""`python -m modyn.common.healthcheck HOST PORT`: exit 0 when a Modyn service answers SERVING on the
standard gRPC health service, else 1. Used by Docker health checks."""

from __future__ import annotations

import sys

from modyn.common.grpc_utils import check_health


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or not args[1].isdigit():
        print("usage: python -m modyn.common.healthcheck HOST PORT", file=sys.stderr)
        return 2
    return 0 if check_health(args[0], int(args[1]), timeout_s=3.0) else 1


if __name__ == "__main__":
    sys.exit(main())
