"""``dispatch.lifecycle`` stays the lifecycle's front door after its split into modules.

Code written against the one-module lifecycle (``from dispatch import lifecycle;
lifecycle.reassign(...)``, and new modules such as the manual 催办/督办 that reuse its private
helpers) keeps working: every name it had is still there, and is the very object the concern
module defines, so there is one ``Change`` and one ``IllegalTransition``, not two.
"""

from __future__ import annotations

import importlib

import pytest

from dispatch import escalation, exceptions, lifecycle, operators, responding, review, transitions

# Every public name of dispatch/lifecycle.py before the split.
PUBLIC = (
    "AssignmentAction",
    "BAD_GRADES",
    "CaseAction",
    "Change",
    "Context",
    "GRADES",
    "IllegalTransition",
    "InvalidAction",
    "NotYours",
    "accept_return",
    "acknowledge",
    "allowed_assignment_actions",
    "allowed_case_actions",
    "claim",
    "deadlines",
    "extend",
    "hold",
    "merge",
    "on_deadline",
    "rate",
    "reassign",
    "record_merge",
    "refuse_return",
    "release",
    "reopen",
    "resolve",
    "return_assignment",
    "start",
    "verify",
    "working_round",
)
# Private helpers that other modules of dispatch call through ``dispatch.lifecycle``.
SHARED_PRIVATE = ("_notify_owner", "_supervisor", "_holders", "_required", "_added", "_replace")
HOMES = (transitions, responding, review, escalation, operators, exceptions)


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_name_of_the_old_lifecycle_is_still_exported(name: str) -> None:
    assert name in lifecycle.__all__
    homes = [
        m for m in HOMES if name in m.__dict__ and m.__dict__[name] is getattr(lifecycle, name)
    ]
    assert homes, f"lifecycle.{name} is not the object its concern module defines"


@pytest.mark.parametrize("name", SHARED_PRIVATE)
def test_the_shared_private_helpers_are_importable_from_lifecycle(name: str) -> None:
    module = importlib.import_module("dispatch.lifecycle")
    assert callable(getattr(module, name))


def test_the_refusals_are_one_class_each_wherever_imported_from() -> None:
    assert lifecycle.IllegalTransition is exceptions.IllegalTransition
    assert issubclass(lifecycle.NotYours, exceptions.IllegalTransition)
    assert lifecycle.InvalidAction is exceptions.InvalidAction
