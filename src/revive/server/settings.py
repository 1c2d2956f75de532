"""What a server is allowed to take and keep: addresses, upload and pixel caps, queue length, result lifetime."""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass

from .. import api

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class ServerSettings:
    """``max_upload_bytes`` caps a whole request body; ``max_pixels`` every image in it. ``queue_limit`` jobs
    may wait or run at once (more get 503); finished jobs and their files are removed ``result_ttl``
    seconds after they end. ``workers`` jobs run at once — one per device, so a model run never
    competes with another for memory. ``allowed_hosts`` are host names (besides localhost and IP
    literals) that requests may address the server by."""

    host: str = "127.0.0.1"
    port: int = 7860
    max_upload_bytes: int = 256 << 20
    max_pixels: int = 100_000_000
    queue_limit: int = 32
    result_ttl: float = 3600.0
    workers: int = 1
    analysis_threads: int = 2  # diagnoses and upload checks at once, beside the workers
    allowed_hosts: tuple[str, ...] = ()
    sweep_interval: float = 30.0  # how often expired results are looked for

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise api.InvalidParameter(f"port must be between 0 and 65535, got {self.port}")
        for name in ("max_upload_bytes", "max_pixels", "queue_limit", "workers", "analysis_threads"):
            if getattr(self, name) < 1:
                raise api.InvalidParameter(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("result_ttl", "sweep_interval"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise api.InvalidParameter(f"{name} must be a positive number of seconds, got {value}")

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    def url(self, port: int | None = None) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else "[::1]" if self.host == "::" else self.host
        host = f"[{host}]" if ":" in host and not host.startswith("[") else host
        return f"http://{host}:{self.port if port is None else port}"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
