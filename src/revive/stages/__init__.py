"""Image stages, one per module, each behind the :class:`~revive.stages.base.Stage` protocol."""
