"""Small typed clients over the generated stubs: how services and the supervisor talk to each other.

Each client opens its channel lazily (so it can be created before a fork/spawn and used in the
child) and passes a deadline on every call. gRPC errors propagate as grpc.RpcError;
`describe_rpc_error` turns one into a line that names the service and what failed.
"""

from __future__ import annotations

import grpc


def describe_rpc_error(service: str, exc: grpc.RpcError) -> str:
    code = exc.code() if hasattr(exc, "code") else None
    details = exc.details() if hasattr(exc, "details") else str(exc)
    name = code.name if code is not None else "ERROR"
    if code == grpc.StatusCode.UNAVAILABLE:
        return f"{service} is unavailable ({details})"
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"{service} did not answer in time ({details})"
    return f"{service}: {name}: {details}"
