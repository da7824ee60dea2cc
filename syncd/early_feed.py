"""What the early planner (``syncd.early_writes``) is told, from the listings and the state, as the slow listing
comes in: everyone at once when the run holds everyone in memory, or, when quiet records are set aside on disk
(``syncd.state.aside``), only the people a listed record changed, looked up as their records come."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Protocol

from syncd.early_writes import EarlyPlanner
from syncd.engine.model import Record
from syncd.state.aside import Placeholder, SetAside
from syncd.state.store import Store


class Feed(Protocol):
    async def start(self, listed: Mapping[str, list[Record | Placeholder]]) -> None: ...

    async def page(self, items: list[Record | Placeholder | None]) -> None: ...


class MemoryFeed:
    """Everyone's links, read once; the records' owners looked up in them."""

    def __init__(
        self, store: Store, job: str, planner: EarlyPlanner, before: Mapping[str, Record] | None = None
    ) -> None:
        """``before``: the slow system's last listing, by remote id (a daemon's memo), whose values its links
        may share (``Store.load_entities``): a page of the slow listing holds mostly those very Records again,
        and a record whose values are its link's is unchanged at a glance, without comparing the two dicts."""
        self.store, self.job, self.planner, self.before = store, job, planner, before

    async def start(self, listed: Mapping[str, list[Record | Placeholder]]) -> None:
        planner = self.planner
        records = {name: [r for r in items if isinstance(r, Record)] for name, items in listed.items()}
        by_id: dict[str, Mapping[str, Record]] = {
            name: {r.remote_id: r for r in recs} for name, recs in records.items()
        }
        if self.before is not None:
            by_id[planner.slow] = self.before
        planner.know(await asyncio.to_thread(self.store.load_entities, self.job, by_id))
        for name, recs in records.items():
            planner.add(name, recs)

    async def page(self, items: list[Record | Placeholder | None]) -> None:
        self.planner.add(self.planner.slow, [r for r in items if isinstance(r, Record)])


class AsideFeed:
    """Only the people a listed record changed (a record not set aside: the others hold what was last synced),
    with their links and their set-aside records put back; a record no link holds, for its keys."""

    def __init__(
        self,
        store: Store,
        job: str,
        planner: EarlyPlanner,
        aside: SetAside,
        rebuild: Callable[[str, bytes], Record | None],
    ) -> None:
        self.store, self.job, self.planner, self.aside, self.rebuild = store, job, planner, aside, rebuild
        self.taken: set[int] = set()  # the slow listing's set-aside records already handed to the planner

    async def start(self, listed: Mapping[str, list[Record | Placeholder]]) -> None:
        for name, items in listed.items():
            await self._changed(name, [r for r in items if isinstance(r, Record)])

    async def page(self, items: list[Record | Placeholder | None]) -> None:
        planner, slow = self.planner, self.planner.slow
        # the people known so far (those met below get all their set-aside records at once)
        seqs = [item for item in items if isinstance(item, int) and item not in self.taken]
        mine = [(seq, eid, packed) for seq, eid, packed in self.aside.at(seqs) if eid in planner.entities]
        self.taken.update(seq for seq, _, _ in mine)
        owners: dict[str, str] = {}
        records: list[Record] = []
        for _, eid, packed in mine:
            if (rec := self.rebuild(slow, packed)) is not None:
                owners[rec.remote_id] = eid
                records.append(rec)
        planner.add(slow, records, owners)
        await self._changed(slow, [r for r in items if isinstance(r, Record)])

    async def _changed(self, system: str, records: list[Record]) -> None:
        """Records not set aside: their owners are met, the rest are unlinked."""
        if not records:
            return
        rows = await asyncio.to_thread(self.store.links_by_remote, self.job, system, [r.remote_id for r in records])
        owners = {rid: eid for rid, eid, _, _ in rows}
        await self._meet({eid for eid in owners.values() if eid not in self.planner.entities})
        self.planner.add(system, records, owners)

    async def _meet(self, people: set[str]) -> None:
        """People a changed record belongs to: their links, and every record of theirs set aside so far."""
        if not people:
            return
        planner = self.planner
        planner.know(await asyncio.to_thread(self.store.load_entities, self.job, None, people))
        for seq, system, eid, packed in self.aside.of_people(people):
            if system == planner.slow:
                self.taken.add(seq)
            if system in planner.present and (rec := self.rebuild(system, packed)) is not None:
                planner.add(system, [rec], {rec.remote_id: eid})
