"""A verify check: answers longer than a limit are flagged ``too_long`` (``verify: [{plugin: answer_length}]``).

A check reads one image and its pairs and raises doubts; it never changes a pair. The recipe
decides what a flag does (``drop: [too_long]`` removes the pairs, else experts see the flag).
"""

from __future__ import annotations

from pydantic import Field

from vlkd.api import Verifier, VerifierOptions, hookimpl


class AnswerLengthOptions(VerifierOptions):
    max_chars: int = Field(40, ge=1, description="longest answer that passes")


class AnswerLength(Verifier):
    """Flags answers longer than ``max_chars`` characters."""

    Options = AnswerLengthOptions
    options: AnswerLengthOptions
    flags = ("too_long",)

    def check(self, image, pairs, found):
        for pair in pairs:
            if len(pair.answer) > self.options.max_chars:
                found.flag(pair, "too_long", f"{len(pair.answer)} characters > {self.options.max_chars}")


@hookimpl
def vlkd_register_verifiers(register):
    register("answer_length", AnswerLength)
