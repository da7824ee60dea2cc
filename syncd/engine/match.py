"""Links unlinked records to entities by normalized phone and e-mail. Ambiguity is reported, never guessed.

Records and entities that share a key form one group (union-find). A group is safe when it holds at
most one entity and at most one record per system; anything else is a possible duplicate that a
person must look at.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from syncd import canonical
from syncd.canonical import Canon
from syncd.engine.model import Record


def keys(values: Canon, match_on: Iterable[str]) -> set[str]:
    out: set[str] = set()
    on = set(match_on)
    if "phone" in on:
        for name in canonical.PHONE_FIELDS:
            value = values.get(name)
            if isinstance(value, str) and value.startswith("+") and value[1:].isdigit():
                out.add("phone:" + value)
    if "email" in on:
        for name in canonical.EMAIL_FIELDS:
            value = values.get(name)
            if isinstance(value, str) and "@" in value:
                out.add("email:" + value.strip().lower())
    return out


def record_keys(rec: Record, match_on: Iterable[str]) -> set[str]:
    """A record's keys: its phones and e-mail, and the entity id it carries for us, if any."""
    out = keys(rec.values, match_on)
    if "entity" in match_on and rec.entity_hint:
        out.add("entity:" + rec.entity_hint)
    return out


@dataclass
class Group:
    entity_id: str | None
    records: list[Record] = field(default_factory=list)
    ambiguous: str | None = None


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra


def group(
    unlinked: list[Record],
    entity_keys: dict[str, set[str]],
    linked_systems: dict[str, set[str]],
    match_on: Iterable[str],
) -> list[Group]:
    """Groups the unlinked records; ``entity_keys`` are the keys of every live entity."""
    match_on = tuple(match_on)
    uf = _UnionFind()
    by_key: dict[str, str] = {}
    record_nodes: dict[str, Record] = {}
    for rec in unlinked:
        node = f"R\x00{rec.system}\x00{rec.remote_id}"
        record_nodes[node] = rec
        uf.find(node)
        for key in record_keys(rec, match_on):
            if key in by_key:
                uf.union(by_key[key], node)
            else:
                by_key[key] = node
    for entity_id, ekeys in entity_keys.items():
        node = f"E\x00{entity_id}"
        for key in ekeys:
            if key in by_key:
                uf.union(by_key[key], node)
    components: dict[str, tuple[list[Record], set[str]]] = defaultdict(lambda: ([], set()))
    for node, rec in record_nodes.items():
        components[uf.find(node)][0].append(rec)
    for entity_id in entity_keys:
        node = f"E\x00{entity_id}"
        if node in uf.parent and uf.find(node) in components:
            components[uf.find(node)][1].add(entity_id)
    groups: list[Group] = []
    for records, entities in components.values():
        records.sort(key=lambda r: (r.system, r.remote_id))
        g = Group(entity_id=next(iter(entities)) if len(entities) == 1 else None, records=records)
        per_system: dict[str, list[str]] = defaultdict(list)
        for rec in records:
            per_system[rec.system].append(rec.remote_id)
        if len(entities) > 1:
            g.ambiguous = f"matches {len(entities)} known people at once (shared phone or e-mail)"
        else:
            for system, ids in per_system.items():
                if len(ids) > 1:
                    g.ambiguous = f"{len(ids)} {system} records share a phone or e-mail: {', '.join(ids)}"
                    break
                if g.entity_id is not None and system in linked_systems.get(g.entity_id, set()):
                    g.ambiguous = f"the person already has a {system} record; this looks like a duplicate"
                    break
        groups.append(g)
    return groups
