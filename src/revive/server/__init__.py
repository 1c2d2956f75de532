"""revive's local web app and REST API (``revive serve``; needs ``revive-photo[server]``).

A thin shell over :mod:`revive.api`: uploads become the same typed requests the CLI builds, run by
the same job runner, and its events stream to the page. Modules: :mod:`.settings` (caps and
addresses), :mod:`.security` (host, origin and size gate), :mod:`.forms` (multipart → request),
:mod:`.jobqueue` (workers, events, expiry), :mod:`.app` (routes), :mod:`.run` (uvicorn), and the
page in ``static/`` (plain HTML, CSS and JavaScript modules: no build step, nothing from the network).
"""

from __future__ import annotations

from .app import create_app
from .run import running, serve
from .settings import ServerSettings, is_loopback

__all__ = ["ServerSettings", "create_app", "is_loopback", "running", "serve"]
