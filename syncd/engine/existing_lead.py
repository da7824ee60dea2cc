"""Callyzer's ``existing_lead`` merge rules, used for every system when an incoming record meets an
existing record that is not linked yet — so the same words mean the same thing everywhere, and the
planner can predict what Callyzer will do with a bulksave it merges natively."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from syncd import canonical
from syncd.canonical import Canon
from syncd.engine.model import ExistingLead


def mode_for(field: str, policy: ExistingLead) -> str:
    if field == canonical.TAG_FIELD:
        return policy.lead_tags
    if field == canonical.ASSIGNEE_FIELD:
        return policy.assignee
    return policy.lead_details


def merge(existing: Canon, incoming: Canon, policy: ExistingLead, fields: Iterable[str]) -> Canon:
    """The existing record after the incoming one is merged into it.

    The existing record keeps its phone numbers in every mode (they are what matched it); a blank
    incoming value never clears anything.
    """
    out: dict[str, Any] = dict(existing)
    for name in fields:
        if name in canonical.PHONE_FIELDS:
            continue
        new = incoming.get(name)
        if canonical.is_blank(new):
            continue
        old = existing.get(name)
        mode = mode_for(name, policy)
        if mode == "overwrite" or (mode == "update_blank_only" and canonical.is_blank(old)):
            out[name] = new
        elif mode == "append":
            old_list = list(old) if isinstance(old, list) else ([old] if isinstance(old, str) else [])
            new_list = new if isinstance(new, list) else [str(new)]
            out[name] = old_list + [v for v in new_list if v not in old_list]
    return canonical.clean(out)
