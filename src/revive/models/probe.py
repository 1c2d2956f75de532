"""Try a model the user is importing, in a child process with a time limit.

A model file is a program for its runtime: an ONNX graph can loop 2^62 times, allocate without
bound or crash onnxruntime, and native code cannot be interrupted from Python. So the test run
that tells a model's scale happens in a child process that the parent kills when the time limit
passes or the user presses Ctrl-C; the child also limits its own memory and CPU time and dies
with its parent. Nothing it does can hang, crash or fill the importing process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InvalidParameter, UnsupportedModel
from .loaders import first_line

PROBE_TIMEOUT_ENV = "REVIVE_PROBE_TIMEOUT"
DEFAULT_PROBE_TIMEOUT = 60.0
PROBE_SIDE = 32  # the blank test image, when the model takes any size
MAX_PROBE_PIXELS = 512 * 512  # a model fixed to a larger input is loaded but not run
_MEMORY_LIMIT = 8 << 30  # virtual memory for the child beyond the model's own size


def probe_timeout(seconds: float | None = None) -> float:
    """``seconds``, else ``$REVIVE_PROBE_TIMEOUT``, else 60; must be a positive number."""
    if seconds is None:
        text = os.environ.get(PROBE_TIMEOUT_ENV, "").strip()
        try:
            seconds = float(text) if text else DEFAULT_PROBE_TIMEOUT
        except ValueError:
            raise InvalidParameter(f"{PROBE_TIMEOUT_ENV} must be a number of seconds, got {text!r}") from None
    if not 0 < seconds <= 24 * 3600:
        raise InvalidParameter(f"the probe time limit must be between 0 and 86400 seconds, got {seconds:g}")
    return seconds


@dataclass(frozen=True)
class ProbeResult:
    """What the test run saw: the input it was given and the output size (None when not run)."""

    input_hw: tuple[int, int] | None
    output_hw: tuple[int, int] | None


def probe_onnx(path: Path, timeout: float) -> ProbeResult:
    """Load ``path`` with onnxruntime and run it once on a blank image, in a child process."""
    reply = run_in_child("onnx", {"path": str(path)}, timeout, path, what="loading and running it once")
    if "error" in reply:
        raise UnsupportedModel(f"{path.name} was refused: {reply['error']}")
    ran = reply.get("input_hw"), reply.get("output_hw")
    if not all(isinstance(hw, list) and len(hw) == 2 and all(isinstance(v, int) for v in hw) for hw in ran):
        return ProbeResult(None, None)
    return ProbeResult(tuple(ran[0]), tuple(ran[1]))  # type: ignore[arg-type]


def run_in_child(task: str, payload: dict[str, Any], timeout: float, path: Path, *, what: str) -> dict[str, Any]:
    """Run ``task`` (one of :data:`CHILD_TASKS`) in a fresh interpreter; its JSON reply.

    The child is killed when ``timeout`` passes or when this process is interrupted (Ctrl-C);
    either way nothing of it is left running.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)  # this very revive, wherever it is
    request = json.dumps({"task": task, "payload": payload, "memory": _memory_limit(path), "cpu": timeout + 5})
    try:
        done = subprocess.run(
            [sys.executable, "-c", "from revive.models.probe import child_main; child_main()"],
            input=request.encode(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=timeout, env=env,
            check=False,
        )  # on Ctrl-C subprocess.run kills the child and waits for it before re-raising
    except subprocess.TimeoutExpired:
        raise UnsupportedModel(
            f"{path.name} was refused: {what} did not finish within {timeout:g} s (a graph that never ends?); "
            f"if the model is only slow, raise the limit with --probe-timeout or {PROBE_TIMEOUT_ENV}"
        ) from None
    try:
        reply = json.loads(done.stdout.decode("utf-8").strip().splitlines()[-1])
    except (IndexError, UnicodeDecodeError, ValueError):
        reply = None
    if not isinstance(reply, dict):
        how = f"signal {-done.returncode}" if done.returncode < 0 else f"exit status {done.returncode}"
        raise UnsupportedModel(f"{path.name} was refused: the runtime crashed while {what} ({how})")
    return reply


def _memory_limit(path: Path) -> int:
    try:
        size = sum(p.stat().st_size for p in path.parent.iterdir() if p.is_file())
    except OSError:
        size = 0
    return _MEMORY_LIMIT + 4 * size


# --- the child side --------------------------------------------------------------------------------


def _limit_self(memory: int, cpu: float) -> None:
    """Bound this child's memory and CPU time, and make it die with its parent (where the OS allows)."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        seconds = int(cpu) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 5))
    except (ImportError, ValueError, OSError, AttributeError):
        pass
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            ctypes.CDLL(None).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def _onnx_task(payload: dict[str, Any]) -> dict[str, Any]:
    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 4
    options.intra_op_num_threads = 1  # CPU time then matches wall time, which the limits count
    try:
        session = ort.InferenceSession(payload["path"], sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime's Fail, InvalidGraph, NoSuchFile… for what is not a model it can run
        return {"error": f"onnxruntime cannot load it ({first_line(err, 300)})"}
    inputs = session.get_inputs()
    if len(inputs) != 1:
        return {"error": f"it has {len(inputs)} inputs; revive runs image models with exactly one"}
    inp = inputs[0]
    dtypes = {"tensor(float)": np.float32, "tensor(float16)": np.float16}
    if inp.type not in dtypes or len(inp.shape) != 4:
        return {"error": f"it takes a {len(inp.shape)}-D {inp.type} input; revive feeds NCHW float images"}
    dims = [d if isinstance(d, int) and d > 0 else None for d in inp.shape]
    c, h, w = dims[1] or 3, dims[2] or PROBE_SIDE, dims[3] or PROBE_SIDE
    if c not in (1, 3):
        return {"error": f"it takes {c} channels; revive feeds RGB or grayscale images"}
    if h * w > MAX_PROBE_PIXELS:
        return {}  # loads; too large an input to try here
    try:
        out = session.run(None, {inp.name: np.zeros((1, c, h, w), dtypes[inp.type])})[0]
    except MemoryError:
        return {"error": f"it needs more memory than a {w}x{h} image could ever need"}
    except Exception as err:
        return {"error": f"it fails on a blank {w}x{h} image ({first_line(err, 300)})"}
    shape: tuple[int, ...] = tuple(getattr(out, "shape", ()))
    if len(shape) != 4:
        return {"error": f"it returns a {len(shape)}-D output for an image; revive needs NCHW images back"}
    return {"input_hw": [h, w], "output_hw": [int(shape[2]), int(shape[3])]}


CHILD_TASKS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {"onnx": _onnx_task}


def child_main() -> None:
    request = json.loads(sys.stdin.read())
    _limit_self(int(request["memory"]), float(request["cpu"]))
    try:
        reply = CHILD_TASKS[request["task"]](request["payload"])
    except MemoryError:
        reply = {"error": "it needs more memory than a test run on a small image could ever need"}
    sys.stdout.write("\n" + json.dumps(reply) + "\n")
    sys.stdout.flush()
    os._exit(0)  # skip the runtime's teardown, which a hostile model may have left in a bad state
