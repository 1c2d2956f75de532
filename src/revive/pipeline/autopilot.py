"""The autopilot's planner: from a diagnosis to an ordered plan of steps, as plain data.

A :class:`Plan` is a list of :class:`~revive.stages.planning.Step` (a stage name, its frozen params
and the reason it is there) plus notes for what was found but cannot be done. It is built without
running anything, so ``--dry-run`` shows exactly what ``enhance`` will do, and tests check plans
without models.

The rules live with their stages (each stage module's ``STAGE.plan``); this module calls them —
the upscale decision first, since cleanup rules read it — orders the steps by phase (cleanup →
faces → upscale → fidelity guard → colour and light), adds the guard after the last model step,
and at ``--strength 0`` turns model steps into their plain counterparts. The guard comes right
after the model steps: it judges what the models did, and colour and light — deliberate, classical
changes — then run once on the guarded photo. (Run after them, it compared two tracks each
stretched and white-balanced by its own measurements: the differences grew with the contrast, and
a retina photo's faithful upscale was dropped as "contradicting the photo".)

Each stage's thresholds are the diagnosis's own documented "needs attention" rules; see the stage
modules for them (deblock/denoise: JPEG quality and noise σ; upscale: size; color: cast and exposure).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..errors import InvalidParameter
from ..stages import StageRegistry, default_stages
from ..stages.planning import Capabilities, EnhanceOptions, PlanContext, Step
from ..stages.upscale import UpscaleParams, target_size
from .fidelity import guard_params

if TYPE_CHECKING:
    from ..analysis import Diagnosis

GUARD_PHASE = 40  # after every model step, before colour and light

@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    notes: tuple[str, ...]
    input_size: tuple[int, int]  # width, height
    output_size: tuple[int, int]
    diagnosis: Diagnosis | None = field(default=None, compare=False, repr=False)

    @property
    def stage_names(self) -> tuple[str, ...]:
        return tuple(s.stage for s in self.steps)

    def step(self, stage: str) -> Step | None:
        return next((s for s in self.steps if s.stage == stage), None)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "input_size": list(self.input_size), "output_size": list(self.output_size),
            "steps": [s.to_dict() for s in self.steps], "notes": list(self.notes),
        }
        if self.diagnosis is not None:
            out["diagnosis"] = self.diagnosis.to_dict()
        return out

    def explain(self) -> str:
        (w, h), (ow, oh) = self.input_size, self.output_size
        lines = [f"{w}×{h} → {ow}×{oh}"]
        if self.diagnosis is not None:
            findings = self.diagnosis.findings()
            lines.append("findings:" + ("" if findings else " none"))
            lines.extend(f"  - {f}" for f in findings)
        if not self.steps:
            lines.append("plan: nothing to do — the photo is left as it is")
        else:
            lines.append("plan:")
            width = max(len(s.stage) for s in self.steps)
            lines.extend(f"  {i}. {s.stage:<{width}}  {s.reason}" for i, s in enumerate(self.steps, 1))
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)


def plan_for(
    diagnosis: Diagnosis,
    options: EnhanceOptions | None = None,
    capabilities: Capabilities | None = None,
    stages: StageRegistry | None = None,
) -> Plan:
    """The plan for one photo. Pure: the same diagnosis, options, capabilities and stages give the same plan."""
    registry = stages if stages is not None else default_stages()
    options = check_settings(options or EnhanceOptions(), registry)
    ctx = PlanContext(diagnosis, options, capabilities or Capabilities())
    ordered = sorted(registry, key=lambda s: not s.plan_first)  # the upscale decision first: cleanup reads it
    for info in ordered:
        if info.plan is not None:
            ctx.steps.extend(info.plan(ctx))
    _note_unhandled_faces(ctx, registry)
    phase = {info.name: info.phase for info in registry}
    steps = sorted(ctx.steps, key=lambda s: phase[s.stage])
    model_steps = [s for s in steps if registry.get(s.stage).runs_model(s.params) and s.track == "both"]
    if ctx.plain:
        steps = [_plain(s, registry) if s in model_steps else s for s in steps]
    elif model_steps:
        at = next((i for i, s in enumerate(steps) if phase[s.stage] > GUARD_PHASE), len(steps))
        # back-projection needs the photo itself as the reference's small version: no cleanup before the guard
        cleaned = any(not isinstance(s.params, UpscaleParams) for s in steps[:at])
        guard = Step("fidelity", guard_params(diagnosis, options, cleaned=cleaned),
                     _guard_reason(options.guard_strength))
        steps.insert(at, guard)
    w, h = diagnosis.resolution.width, diagnosis.resolution.height
    upscale = ctx.planned("upscale")
    scale = float(upscale.params.scale) if upscale is not None and upscale.params.scale is not None else 1.0
    return Plan(tuple(steps), tuple(ctx.notes), (w, h), target_size(w, h, scale), diagnosis)


def check_settings(options: EnhanceOptions, stages: StageRegistry) -> EnhanceOptions:
    """The options with every stage setting parsed ("0.5" → 0.5); refuses settings that name no
    registered option or hold a value it does not take."""
    known = stages.options()
    parsed = {}
    for name, value in options.settings:
        if name not in known:
            raise InvalidParameter(f"no stage option named {name!r}; options: {', '.join(sorted(known))}")
        parsed[name] = known[name].parse(value)
    return options.with_settings(parsed)


def _note_unhandled_faces(ctx: PlanContext, stages: StageRegistry) -> None:
    """Faces found but no stage of this version restores them: say so (a face stage plans its own notes)."""
    count = ctx.diagnosis.faces.count
    if count and "faces" not in stages and ctx.setting("faces") != "off":
        ctx.notes.append(f"{count} face{'s' if count != 1 else ''} found; face restoration comes with a later version")


def _plain(step: Step, stages: StageRegistry) -> Step:
    """The step without its model (--strength 0): what it does instead, said in its reason."""
    info = stages.get(step.stage)
    why = step.reason.split(" → ")[0]
    how = info.describe_plain(step.params) if info.describe_plain else f"{step.stage} without its model"
    model = getattr(step.params, "model", None)
    return replace(step, track="plain", reason=f"{why} → {how} (--strength 0: {model} is not run)")


def _guard_reason(strength: float) -> str:
    return (f"blend {strength:.0%} model over a plain resample; keep the original's low-frequency colour; "
            "hold the model to the photo wherever a 16×16 window disagrees")


__all__ = ["Capabilities", "EnhanceOptions", "Plan", "Step", "check_settings", "plan_for"]
