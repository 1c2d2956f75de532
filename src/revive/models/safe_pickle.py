"""Unpickle PyTorch weights without running code and without allocating what the file asks for.

``torch.load`` is given this module's restricted unpickler (the pure-Python one, whose opcodes can
be checked one by one and whose memo is a dict, not an array an index can blow up):

- globals: only those a weights file needs (the ones torch's ``weights_only`` loader accepts);
  anything else is refused before it is imported.
- calls (REDUCE, NEWOBJ, INST, OBJ): every allowed callable has a check of its arguments, so no
  constructor ever allocates by a size the file states: ``bytearray(N)``, ``torch.Tensor(N)``,
  ``Parameter(N)`` are refused; tensors are views that must fit inside their storage (never
  larger than it, no broadcast strides).
- storages: each must match its data record exactly (zip files) or, in the old format where torch
  allocates before reading, all of them together must fit in the file.
- reads: no opcode may ask for more bytes than the file has left.
- BUILD only fills plain dictionaries.

Every refusal is :class:`Refused` (an ``UnpicklingError``) with a sentence saying why.
"""

from __future__ import annotations

import _compat_pickle
import io
import math
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, ClassVar

MAX_DIMS = 16
MAX_COUNT = 1 << 48  # no real tensor or storage comes near; guards arithmetic on hostile numbers

_DTYPES = (
    "float32", "float16", "bfloat16", "float64", "complex64", "complex128", "int64", "int32", "int16", "int8",
    "uint8", "uint16", "uint32", "uint64", "bool", "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz",
)
_CONTAINERS = (("collections", "OrderedDict"), ("collections", "Counter"), ("typing", "OrderedDict"), ("builtins", "set"))
_REBUILDERS = ("_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3", "_rebuild_parameter",
               "_rebuild_parameter_with_state")
# The only globals a weights pickle needs; storage classes never reach this (torch.load resolves them first).
SAFE_GLOBALS = frozenset(
    {
        *_CONTAINERS,
        ("builtins", "bytearray"),
        ("builtins", "complex"),
        ("_codecs", "encode"),  # how protocol-2 pickles spell bytes
        *(("torch._utils", f) for f in _REBUILDERS),
        ("torch._tensor", "_rebuild_from_type_v2"),  # a tensor with Python attributes
        ("torch", "Tensor"),
        ("torch.nn.parameter", "Parameter"),
        ("torch", "Size"),
        ("torch", "device"),
        *(("torch", dtype) for dtype in _DTYPES),
    }
)


class Refused(pickle.UnpicklingError):
    """The pickle asked for something a weights file never needs; ``str()`` says what."""


class RefusedGlobal(Refused):
    def __init__(self, module: str, name: str) -> None:
        super().__init__(f"{module}.{name}")
        self.qualified = f"{module}.{name}"


@dataclass
class Limits:
    """What the file can hold: its size, and (zip format) the size of each data record by key."""

    file_size: int
    records: dict[str, int] | None = None  # None: the old format, storages read after the pickle
    allocated: int = field(default=0)


class _BoundedReader:
    """A file whose reads may not ask for more than it has left (pickle lengths are the file's word)."""

    def __init__(self, file: Any) -> None:
        self._file = file
        here = file.tell()
        self._end = file.seek(0, io.SEEK_END)
        file.seek(here)

    def _check(self, n: int) -> None:
        if n < 0 or n > self._end - self._file.tell():
            raise Refused(f"it asks to read {n} bytes where the file has {self._end - self._file.tell()} left")

    def read(self, n: int = -1) -> bytes:
        if n is not None and n >= 0:
            self._check(n)
        data: bytes = self._file.read(n)
        return data

    def readinto(self, buffer: Any) -> int:
        self._check(len(buffer))
        count: int = self._file.readinto(buffer)
        return count

    def readline(self, limit: int = -1) -> bytes:
        line: bytes = self._file.readline(limit)
        return line


# --- argument checks ---------------------------------------------------------------------------------

def _whole(value: object, what: str, high: int = MAX_COUNT) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
        raise Refused(f"{what} is {value!r}, not a whole number from 0 to {high}")
    return value


def _shape(value: object, what: str) -> tuple[int, ...]:
    if not isinstance(value, tuple | list) or len(value) > MAX_DIMS:
        raise Refused(f"{what} must be a list of at most {MAX_DIMS} numbers")
    return tuple(_whole(v, what) for v in value)


def _check_view(storage: Any, offset: object, size: object, stride: object) -> None:
    """A tensor is a view of its storage: it must fit inside, and be no larger than it."""
    import torch

    if not isinstance(storage, torch.storage.TypedStorage | torch.UntypedStorage):
        raise Refused("a tensor is built from something that is not one of the file's storages")
    # (TypedStorage's public size() warns that the class is deprecated; its _size() is the same count)
    elements = storage._size() if isinstance(storage, torch.storage.TypedStorage) else storage.nbytes()
    start = _whole(offset, "a tensor's offset")
    dims, steps = _shape(size, "a tensor's size"), _shape(stride, "a tensor's strides")
    if len(dims) != len(steps):
        raise Refused("a tensor has a different number of sizes and strides")
    numel = math.prod(dims)
    if numel == 0:
        return
    last = start + sum((d - 1) * s for d, s in zip(dims, steps, strict=True))
    if numel > elements or last >= elements:
        raise Refused(f"it describes a tensor of {numel} elements over a storage of {elements}")


def _no_hooks(hooks: object) -> None:
    if hooks is not None and (not isinstance(hooks, dict) or hooks):
        raise Refused("a tensor carries backward hooks")


def _check_rebuild_tensor(args: tuple[Any, ...]) -> None:
    if len(args) != 4:
        raise Refused("_rebuild_tensor takes 4 arguments")
    _check_view(*args)


def _check_rebuild_tensor_v2(args: tuple[Any, ...]) -> None:
    if len(args) not in (6, 7):
        raise Refused("_rebuild_tensor_v2 takes 6 or 7 arguments")
    _check_view(*args[:4])
    _no_hooks(args[5])


def _check_rebuild_tensor_v3(args: tuple[Any, ...]) -> None:
    if len(args) not in (7, 8):
        raise Refused("_rebuild_tensor_v3 takes 7 or 8 arguments")
    _check_view(*args[:4])
    _no_hooks(args[5])


def _check_parameter(args: tuple[Any, ...]) -> None:
    import torch

    if not args or not isinstance(args[0], torch.Tensor) or len(args) > 4:
        raise Refused("a parameter is built from something that is not a tensor")
    if len(args) >= 3:
        _no_hooks(args[2])


def _check_no_size(args: tuple[Any, ...]) -> None:
    if len(args) > 1 or any(isinstance(a, int | float) for a in args):
        raise Refused(f"it calls a container constructor with {args!r:.60}")


def _check_bytearray(args: tuple[Any, ...]) -> None:
    if args and not (isinstance(args[0], bytes | str) and len(args) <= 3 and all(isinstance(a, str) for a in args[1:])):
        raise Refused(f"it asks bytearray for {args[0]!r:.40}: only bytes are accepted, never a size")


def _check_encode(args: tuple[Any, ...]) -> None:
    if len(args) != 2 or not isinstance(args[0], str) or args[1] not in ("latin1", "latin-1"):
        raise Refused("it calls _codecs.encode with something other than text to latin-1")


def _check_complex(args: tuple[Any, ...]) -> None:
    if len(args) > 2 or not all(isinstance(a, int | float) and not isinstance(a, bool) for a in args):
        raise Refused("it calls complex with something other than numbers")


def _check_size(args: tuple[Any, ...]) -> None:
    if len(args) != 1:
        raise Refused("torch.Size takes one list of sizes")
    _shape(args[0], "a torch.Size")


def _check_device(args: tuple[Any, ...]) -> None:
    if not 1 <= len(args) <= 2 or not isinstance(args[0], str) or len(args[0]) > 32:
        raise Refused("torch.device takes a device name")


def _check_tensor(args: tuple[Any, ...]) -> None:
    if args:
        raise Refused(f"it calls torch.Tensor({args!r:.40}), which allocates by a size the file states")


def _check_from_type(args: tuple[Any, ...]) -> None:
    import torch

    if len(args) != 4 or args[1] not in (torch.Tensor, torch.nn.Parameter) or not isinstance(args[2], tuple):
        raise Refused("_rebuild_from_type_v2 is called with unexpected arguments")
    rebuilders = [getattr(torch._utils, name) for name in _REBUILDERS]
    check = _CHECKS_BY_ID.get(id(args[0]))
    if check is None or not any(args[0] is r for r in rebuilders):
        raise Refused("_rebuild_from_type_v2 is asked to call something other than a tensor rebuilder")
    check[1](args[2])


def _call_checks() -> dict[int, tuple[Any, Callable[[tuple[Any, ...]], None]]]:
    import collections
    import typing

    import torch

    pairs: list[tuple[Any, Callable[[tuple[Any, ...]], None]]] = [
        (collections.OrderedDict, _check_no_size), (collections.Counter, _check_no_size),
        (typing.OrderedDict, _check_no_size), (set, _check_no_size),
        (bytearray, _check_bytearray), (complex, _check_complex),
        (__import__("_codecs").encode, _check_encode),
        (torch._utils._rebuild_tensor, _check_rebuild_tensor),
        (torch._utils._rebuild_tensor_v2, _check_rebuild_tensor_v2),
        (torch._utils._rebuild_tensor_v3, _check_rebuild_tensor_v3),
        (torch._utils._rebuild_parameter, _check_parameter),
        (torch._utils._rebuild_parameter_with_state, _check_parameter),
        (torch._tensor._rebuild_from_type_v2, _check_from_type),
        (torch.Tensor, _check_tensor), (torch.nn.Parameter, _check_parameter),
        (torch.Size, _check_size), (torch.device, _check_device),
    ]
    return {id(fn): (fn, check) for fn, check in pairs}


_CHECKS_BY_ID: dict[int, tuple[Any, Callable[[tuple[Any, ...]], None]]] = {}


def _checked_call(func: Any, args: Any, **kwargs: Any) -> Any:
    if not _CHECKS_BY_ID:
        _CHECKS_BY_ID.update(_call_checks())
    entry = _CHECKS_BY_ID.get(id(func))
    if entry is None or entry[0] is not func:
        raise Refused(f"it calls {getattr(func, '__name__', type(func).__name__)!s:.60}, which a weights file never calls")
    if not isinstance(args, tuple) or kwargs:
        raise Refused("a call in it has malformed arguments")
    entry[1](args)
    return func(*args)


# --- the unpickler ----------------------------------------------------------------------------------

def _storage_bytes(storage_type: Any, numel: object) -> int:
    import torch

    dtype = torch.uint8 if storage_type is torch.UntypedStorage else getattr(storage_type, "dtype", None)
    if not isinstance(dtype, torch.dtype):
        raise Refused("a storage of an unknown type")
    return _whole(numel, "a storage's length") * torch._utils._element_size(dtype)


class WeightsUnpickler(pickle._Unpickler):  # type: ignore[name-defined,misc]
    """The restricted unpickler; :func:`pickle_module` binds it to one file's :class:`Limits`."""

    limits = Limits(file_size=0)
    dispatch: ClassVar[dict[int, Callable[[Any], None]]] = dict(pickle._Unpickler.dispatch)  # type: ignore[attr-defined]
    stack: list[Any]  # the pure-Python unpickler's own state
    append: Callable[[Any], None]
    proto: int
    fix_imports: bool

    def __init__(self, file: Any, **kwargs: Any) -> None:
        super().__init__(_BoundedReader(file), **kwargs)
        self._torch_persistent_load: Callable[[Any], Any] | None = None

    def find_class(self, module: str, name: str) -> Any:
        if self.proto < 3 and self.fix_imports:  # Python 2 names (__builtin__.set…), as pickle maps them
            module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
            module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if (module, name) not in SAFE_GLOBALS:
            raise RefusedGlobal(module, name)  # refused before the global is even imported
        return super().find_class(module, name)

    # torch.load sets ``unpickler.persistent_load = …``; every storage it makes passes the check first
    @property  # type: ignore[override]
    def persistent_load(self) -> Callable[[Any], Any]:
        return self._checked_persistent_load

    @persistent_load.setter
    def persistent_load(self, fn: Callable[[Any], Any]) -> None:
        self._torch_persistent_load = fn

    def _checked_persistent_load(self, pid: Any) -> Any:
        if self._torch_persistent_load is None or not isinstance(pid, tuple) or not pid or pid[0] not in ("storage", b"storage"):
            raise Refused("it refers to an outside object that is not a storage of weights")
        limits = self.limits
        if limits.records is not None:
            if len(pid) != 5 or not isinstance(pid[2], str):
                raise Refused("a storage reference has the wrong form")
            nbytes = _storage_bytes(pid[1], pid[4])
            record = limits.records.get(pid[2])
            if record is None or record != nbytes:
                raise Refused(f"a storage claims {nbytes} bytes but its data record holds {record}")
        else:
            if len(pid) != 6:
                raise Refused("a storage reference has the wrong form")
            nbytes = _storage_bytes(pid[1], pid[4])
            view = pid[5]
            if view is not None and (not isinstance(view, tuple) or len(view) != 3
                                     or _whole(view[1], "a view's offset") + _whole(view[2], "a view's length")
                                     > _whole(pid[4], "a storage's length")):
                raise Refused("a storage view reaches past its storage")
            limits.allocated += nbytes  # the old format allocates before reading: all of it must fit in the file
            if limits.allocated > limits.file_size:
                raise Refused(f"its storages claim {limits.allocated} bytes, more than the {limits.file_size}-byte file")
        return self._torch_persistent_load(pid)

    def _reduce(self) -> None:
        args = self.stack.pop()
        self.stack[-1] = _checked_call(self.stack[-1], args)

    def _newobj(self) -> None:
        args = self.stack.pop()
        self.stack[-1] = _checked_call(self.stack[-1], args)

    def _newobj_ex(self) -> None:
        kwargs, args = self.stack.pop(), self.stack.pop()
        self.stack[-1] = _checked_call(self.stack[-1], args, **kwargs)

    def _instantiate(self, klass: Any, args: list[Any]) -> None:
        self.append(_checked_call(klass, tuple(args)))

    def _build(self) -> None:
        state = self.stack.pop()
        inst = self.stack[-1]
        if not isinstance(inst, dict) or not isinstance(state, dict | tuple):
            raise Refused(f"it sets the state of a {type(inst).__name__}, which a weights file never does")
        if isinstance(state, tuple):
            if len(state) != 2 or not all(s is None or isinstance(s, dict) for s in state):
                raise Refused("an object state has the wrong form")
            state = {**(state[0] or {}), **(state[1] or {})}
        for key, value in state.items():
            if not isinstance(key, str) or key.startswith("__"):
                raise Refused(f"it sets the attribute {key!r:.40}")
            setattr(inst, key, value)

    dispatch[pickle.REDUCE[0]] = _reduce
    dispatch[pickle.NEWOBJ[0]] = _newobj
    dispatch[pickle.NEWOBJ_EX[0]] = _newobj_ex
    dispatch[pickle.BUILD[0]] = _build


def pickle_module(limits: Limits) -> SimpleNamespace:
    """What ``torch.load(pickle_module=…)`` takes: the unpickler bound to one file's limits."""
    bound = type("BoundWeightsUnpickler", (WeightsUnpickler,), {"limits": limits})
    return SimpleNamespace(
        Unpickler=bound,
        __name__="pickle",
        load=lambda file, **kwargs: bound(file, **kwargs).load(),
    )
