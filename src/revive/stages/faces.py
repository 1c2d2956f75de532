"""Face restoration: find faces, align each to the 512 px FFHQ template, restore, paste back seamlessly.

Each face the detector finds (YuNet, :mod:`revive.analysis.face_detect`) is aligned by its five
landmarks, found again where the face stands upright (a similarity transform: roll is undone,
proportions kept), restored by a face model
(GFPGAN, RestoreFormer, CodeFormer or the user's own), given back the original's low-frequency
colour, checked against the original (:mod:`revive.analysis.face_identity`) and pasted through the
inverse transform under a feathered mask at ``strength`` — into the photo itself or, for the
``faces`` operation with ``--upscale``, into its enlarged copy, restoring from the input's pixels.

A face whose identity may have drifted is softened (×0.7 at a time) until the blend passes the
check, and left as it was if that would take it under 0.3 or if the model drew another face
altogether (no face found on it, features moved by more than a quarter of the eye distance);
either way it is flagged. Faces smaller
than ``min_size``, seen in profile, far larger than the model's 512 px, or found with low
confidence are skipped, each with its reason. Pixels the masks do not reach are never written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ..analysis.face_align import (
    FACE_SIZE,
    align_face,
    alignment,
    apply,
    frontal_position,
    match_low_frequency,
    paste_face,
    scale_of,
    to_output,
    upright_alignment,
)
from ..analysis.face_detect import DEFAULT_SCORE_THRESHOLD, Face, detect_faces
from ..analysis.face_identity import IdentityCheck, check_identity
from ..engine import Engine
from ..errors import Cancelled, InvalidParameter, OutOfMemory
from ..imageops import bleed_colour_under_alpha, resize
from ..models import DEFAULT_FACE_MODEL, FaceRestorer, ImageModel, ModelSpec
from ..models.torch_inspect import FACE_FIDELITY_KEYWORD
from ..types import Photo
from .base import StageContext, StageInfo, StageOption
from .planning import PlanContext, Step

DEFAULT_STRENGTH = 0.75  # the restored face over the original: a share of the original keeps skin from looking plastic
DEFAULT_MIN_SIZE = 16  # px: below, a face has no features left to restore (eyes of ~2 px)
PROFILE_LIMIT = 0.12  # the nose this close to an eye (or beyond it), along the eye line: a profile
LISTED_SCORE = 0.5  # detections down to this confidence are listed as skipped, with their score
MAX_ENLARGEMENT = 2.0  # a face whose crop the model would need enlarging more than this is not restored
SOFTEN = 0.7  # each softening step keeps this share of the strength
MIN_STRENGTH = 0.3  # softening below this leaves the face as it was

Action = Literal["restored", "softened", "dropped", "skipped"]


@dataclass(frozen=True)
class FaceParams:
    model: str = DEFAULT_FACE_MODEL
    strength: float = DEFAULT_STRENGTH  # share of the restored face in the result
    fidelity: float | None = None  # CodeFormer's w: 0 = most detail, 1 = most like the input; None = the model's 0.5
    min_size: int = DEFAULT_MIN_SIZE  # shorter side of the face box, input pixels
    min_score: float = DEFAULT_SCORE_THRESHOLD  # detector confidence a face needs

    def __post_init__(self) -> None:
        for name in ("strength", "min_score"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0.0 <= value <= 1.0):
                raise InvalidParameter(f"face {name} must be between 0 and 1, got {value}")
        if self.fidelity is not None and not (math.isfinite(self.fidelity) and 0.0 <= self.fidelity <= 1.0):
            raise InvalidParameter(f"fidelity must be between 0 and 1, got {self.fidelity}")
        if not 1 <= self.min_size <= 4096:
            raise InvalidParameter(f"min size must be between 1 and 4096 pixels, got {self.min_size}")


@dataclass(frozen=True)
class FaceOutcome:
    """What happened to one detected face (boxes in input pixels)."""

    face: Face
    action: Action
    strength: float = 0.0  # what was used
    identity: IdentityCheck | None = None
    reason: str = ""

    @property
    def flagged(self) -> bool:
        return self.identity is not None and not self.identity.passed

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"box": list(self.face.box), "size": self.face.size, "confidence": self.face.score,
                               "action": self.action, "strength": round(self.strength, 4)}
        if self.identity is not None:
            out["identity"] = {**self.identity.to_dict(), "flagged": self.flagged}
        if self.reason:
            out["reason"] = self.reason
        return out


@dataclass(frozen=True)
class FacesResult:
    photo: Photo
    faces: tuple[FaceOutcome, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def restored(self) -> tuple[FaceOutcome, ...]:
        return tuple(f for f in self.faces if f.strength > 0)

    @property
    def skipped(self) -> tuple[FaceOutcome, ...]:
        return tuple(f for f in self.faces if f.action == "skipped")

    def to_dict(self) -> dict[str, Any]:
        return {"faces": [f.to_dict() for f in self.faces if f.action != "skipped"],
                "skipped": [f.to_dict() for f in self.skipped]}


def face_spec(name: str, engine: Engine) -> ModelSpec:
    """The model's spec, refused with advice unless it restores faces and is on this computer."""
    spec = engine.registry.get(name)
    if spec.purpose != "restore-face":
        raise InvalidParameter(f"{name} is a {spec.purpose} model; faces need a face model "
                               f"(revive models pull {DEFAULT_FACE_MODEL}, or see revive models list)")
    engine.store.locate(spec)  # not downloaded: say how to get it before any work
    return spec


def skip_reason(face: Face, landmarks: np.ndarray, params: FaceParams, enlargement: float) -> str:
    """Why a face is not restored ('' when it is); ``enlargement`` = output pixels per aligned pixel."""
    if face.score < params.min_score:
        return f"the detector is not sure it is a face (confidence {face.score:.2f} < {params.min_score:g})"
    if face.size < params.min_size:
        return f"too small: {face.size} px < --min-size {params.min_size}"
    position = frontal_position(landmarks)
    if not PROFILE_LIMIT <= position <= 1.0 - PROFILE_LIMIT:
        return "in profile: face models are trained on faces seen from the front"
    if enlargement > MAX_ENLARGEMENT:
        return (f"too large: the model restores at {FACE_SIZE} px and would have to be enlarged {enlargement:.1f}× "
                "to cover this face, which would blur it")
    return ""


def run_face_model(model: ImageModel, crop: np.ndarray, fidelity: float | None) -> np.ndarray:
    out = model.restore_face(crop, fidelity) if isinstance(model, FaceRestorer) else model(crop)
    out = np.asarray(out, np.float32)
    if out.shape[:2] != crop.shape[:2]:  # a model with its own output size (an imported ×2 face model)
        out = resize(np.clip(out, 0.0, 1.0), crop.shape[1], crop.shape[0])
    return out[:, :, :3] if out.shape[2] >= 3 else np.repeat(out, 3, axis=2)


def settle_strength(crop: np.ndarray, restored: np.ndarray, inside: np.ndarray, marks: np.ndarray,
                    strength: float) -> tuple[float, IdentityCheck, Action]:
    """The strength to paste at: as asked when the restored face passes the identity check; else the
    first softened blend that passes, or nothing when none does above MIN_STRENGTH or the restored
    face is another face altogether."""
    check = check_identity(crop, restored, inside, marks)
    if check.passed:
        return strength, check, "restored"
    if check.gross:
        return 0.0, check, "dropped"
    s = strength * SOFTEN
    while s >= MIN_STRENGTH:
        if check_identity(crop, crop + (restored - crop) * np.float32(s), inside, marks).passed:
            return s, check, "softened"
        s *= SOFTEN
    return 0.0, check, "dropped"


def restore_faces_in(photo: Photo, params: FaceParams, context: StageContext, target: Photo | None = None) -> FacesResult:
    """Restore the faces of ``photo``; paste them into ``target`` (an enlarged copy) or into the photo.

    The model is loaded only when a face needs it; a photo without faces comes back as it was.
    """
    target = photo if target is None else target
    spec = face_spec(params.model, context.engine)
    context.say("finding faces")
    found = detect_faces(photo, score_threshold=min(LISTED_SCORE, params.min_score))
    if not found:
        return FacesResult(target, (), ("no face found: the faces step changed nothing",))
    fx, fy = target.width / photo.width, target.height / photo.height
    source = photo.rgb() if photo.alpha is None else bleed_colour_under_alpha(photo.rgb(), photo.alpha)
    pixels = target.pixels.copy()
    model: ImageModel | None = None
    outcomes = []
    for i, face in enumerate(found, 1):
        if context.cancel is not None and context.cancel():
            raise Cancelled("cancelled")
        if params.strength == 0.0:
            outcomes.append(FaceOutcome(face, "skipped", reason="strength 0"))
            continue
        m, marks = upright_alignment(source, face) if face.score >= params.min_score else (alignment(face.landmarks),
                                                                                           np.asarray(face.landmarks))
        m_out = to_output(m, fx, fy)
        reason = skip_reason(face, marks, params, 1.0 / scale_of(m_out))
        if reason:
            outcomes.append(FaceOutcome(face, "skipped", reason=reason))
            continue
        context.say(f"restoring face {i}/{len(found)}")
        model = model or context.load_model(spec.name)
        crop, inside = align_face(source, m)
        try:
            drawn = run_face_model(model, crop, params.fidelity)
        except OutOfMemory:
            raise OutOfMemory(f"{spec.name} did not fit in {model.device} memory for one {FACE_SIZE}×{FACE_SIZE} face; "
                              "close other programs, or use --device cpu") from None
        # judged as drawn: the colour match below brings back the original's coarse structure, which
        # would let a model that drew no face at all pass for a blurred copy of the original
        strength, check, action = settle_strength(crop, drawn, inside, apply(m, marks), params.strength)
        if strength > 0:
            paste_face(pixels, match_low_frequency(drawn, crop, inside), m_out, strength)
        outcomes.append(FaceOutcome(face, action, strength, check, check.reason))
    notes = _notes(outcomes, spec, params)
    return FacesResult(target.evolve(pixels=pixels), tuple(outcomes), notes)


def _notes(outcomes: list[FaceOutcome], spec: ModelSpec, params: FaceParams) -> tuple[str, ...]:
    notes = []
    flagged = [o for o in outcomes if o.flagged]
    if flagged:
        what = ", ".join(f"{o.action} at {o.strength:.2g}" if o.strength else o.action for o in flagged)
        notes.append(f"{len(flagged)} face{'s' if len(flagged) > 1 else ''} may not look like the person any more "
                     f"({flagged[0].reason}): {what}")
    if not any(o.strength > 0 for o in outcomes) and not flagged:
        notes.append(f"no face was restored ({len(outcomes)} skipped)")
    if params.fidelity is not None and FACE_FIDELITY_KEYWORD.get(spec.architecture) is None:
        notes.append(f"--fidelity is ignored: {spec.name} ({spec.architecture}) has no such setting (CodeFormer has)")
    if spec.non_commercial and any(o.strength > 0 for o in outcomes):
        notes.append(f"{spec.name}'s weights are licensed for non-commercial use only ({spec.license})")
    return tuple(notes)


class FacesStage:
    name = "faces"

    def __init__(self, params: FaceParams = FaceParams()) -> None:
        self.params = params

    def run(self, photo: Photo, context: StageContext) -> Photo:
        if self.params.strength == 0.0:
            return photo
        return restore_faces_in(photo, self.params, context).photo


FACES_OPTION = StageOption("faces", "Face restoration: auto, on, off, or a strength 0..1.",
                           accepts=("auto", "on", "off", "strength"))


def choose_face_model(ctx: PlanContext) -> ModelSpec | None:
    """The installed face model to use: GFPGAN 1.4 first, non-commercial weights last."""
    installed = ctx.capabilities.installed_for("restore-face")
    return min(installed, key=lambda s: (s.non_commercial, s.name != DEFAULT_FACE_MODEL), default=None)


def plan_faces(ctx: PlanContext) -> list[Step]:
    """Faces found and a face model installed → restore them; no model → say how to get one."""
    setting = ctx.setting(FACES_OPTION.name)
    faces = [f for f in ctx.diagnosis.faces.faces if f.size >= DEFAULT_MIN_SIZE]
    if setting == "off" or setting == 0.0:
        return []
    if not faces:
        if setting != "auto":
            ctx.notes.append(f"--faces {setting}: no face of {DEFAULT_MIN_SIZE} px or more was found")
        return []
    n = f"{len(faces)} face{'s' if len(faces) > 1 else ''}"
    model = choose_face_model(ctx)
    if model is None:
        ctx.notes.append(f"{n} found; to restore {'them' if len(faces) > 1 else 'it'}, get a face model: "
                         f"revive models pull {DEFAULT_FACE_MODEL}")
        return []
    strength = setting if isinstance(setting, float) else DEFAULT_STRENGTH
    sizes = ", ".join(f"{f.size} px" for f in faces[:4]) + (", …" if len(faces) > 4 else "")
    licence = " (weights for non-commercial use only)" if model.non_commercial else ""
    params = FaceParams(model=model.name, strength=strength)
    return [Step("faces", params, f"{n} ({sizes}) → restore with {model.name} at strength {strength:g}{licence}")]


def unchanged(reference: Photo, result: Photo | None, params: FaceParams, context: StageContext) -> Photo:
    """The plain counterpart of face restoration: the faces as they were."""
    return reference


STAGE = StageInfo(
    name="faces", params_type=FaceParams, build=FacesStage, phase=20, option=FACES_OPTION,
    summary="face restoration: align, restore at 512 px, paste back under a feathered mask, check identity",
    runs_model=lambda params: params.strength > 0, counterpart=unchanged, plan=plan_faces,
    describe_plain=lambda params: "leave the faces as they are", generative=True,
)
