"""The drivers of the stage kinds: each is a :class:`~vlkd.core.stages.StageDriver`.

Importing this module is cheap: a driver imports what runs its stage (worker pools, asyncio
services) the first time it runs one, estimates one (``--dry-run``) or validates its settings.
``preprocess``, ``teach`` and ``verify`` have drivers of their own because their plugins do one
item at a time and the driver owns the loop (the item loop, ``vlkd.core.itemloop``, maps the
items); every other kind's plugin is the whole stage (``plugin.run(ctx)``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vlkd.core.context import StageContext
    from vlkd.core.options import Options


class PluginRunsStage:
    """``plugin.run(ctx)``; ``--dry-run`` asks the plugin's ``estimate(ctx)`` when it has one."""

    estimates = True

    def run(self, ctx: StageContext) -> None:
        from vlkd.core.drivers import run_stage_plugin

        run_stage_plugin(ctx)

    def estimate(self, ctx: StageContext) -> list[str] | None:
        from vlkd.core.drivers import estimate

        return estimate(ctx)

    def settings(self) -> type[Options] | None:
        return None


class PreprocessDriver:
    """The steps of ``preprocess`` over every image, in worker processes (``vlkd.images``)."""

    estimates = False

    def run(self, ctx: StageContext) -> None:
        from vlkd.images.preprocess_driver import run_preprocess

        run_preprocess(ctx)

    def estimate(self, ctx: StageContext) -> list[str] | None:
        return None

    def settings(self) -> type[Options] | None:
        from vlkd.images.preprocess_driver import Settings

        return Settings


class TeachDriver:
    """One teacher over every image: concurrency, rate limits, retries, cache, cost, batches."""

    estimates = True

    def run(self, ctx: StageContext) -> None:
        from vlkd.teach.run import run_teach

        run_teach(ctx)

    def estimate(self, ctx: StageContext) -> list[str] | None:
        from vlkd.teach.estimate import estimate

        return estimate(ctx)

    def settings(self) -> type[Options] | None:
        return None


class VerifyDriver:
    """Every check over every image and its pairs; flags journalled per image."""

    estimates = True

    def run(self, ctx: StageContext) -> None:
        from vlkd.verify.driver import run_verify

        run_verify(ctx)

    def estimate(self, ctx: StageContext) -> list[str] | None:
        from vlkd.verify.driver import estimate

        return estimate(ctx)

    def settings(self) -> type[Options] | None:
        from vlkd.verify.driver import Settings

        return Settings
