from __future__ import annotations

from typing import Any

import grpc

from modyn.common.grpc_utils import make_channel


class LazyStubClient:
    """Holds hostname/port and creates the channel + stub on first use (fork/spawn-safe)."""

    stub_class: Any = None

    def __init__(self, hostname: str, port: int) -> None:
        self.hostname = hostname
        self.port = port
        self._channel: grpc.Channel | None = None
        self._stub: Any = None

    @property
    def stub(self) -> Any:
        if self._stub is None:
            self._channel = make_channel(self.hostname, self.port)
            self._stub = self.stub_class(self._channel)
        return self._stub

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
        self._channel = None
        self._stub = None

    def __getstate__(self) -> dict[str, Any]:
        return {"hostname": self.hostname, "port": self.port}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["hostname"], state["port"])  # type: ignore[misc]
