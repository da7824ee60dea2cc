"""Who can be planned before the slowest listing is in, and their plan.

A run plans once every listing is in, because deletes and new records need them all. In a steady run the
slowest listing comes in long after the others (Callyzer: 100 leads every 2 s, ten thousand leads in over
three minutes), and the other systems' writes then queue behind it. Yet a person whose records are all in
hand, the slow system's included, and whom no record of the run can join, gets the same plan now as at the
end: the planner decides each person from their own records and links (``plan``'s per-person path), and
what is still to come cannot touch them:

- every live link's record is listed (on the slow system: on a page already read; a cursor-read source
  lists only what is new): nothing of theirs is missing, so nothing is deleted, and nothing unlisted may hold
  an edit;
- they are linked on every system the planner would otherwise create a record in;
- no record the run has listed without a link shares a phone, an e-mail or an entity id with them, and a
  record the slow system lists later cannot join them either: they already have a record there, so the
  matcher reports such a record as a likely duplicate and leaves the person alone;
- no earlier run's write is still unfinished for them (its journal, a replace half done), and no record of
  theirs is listed twice so far.

Only people a listed record changed are looked at: anyone else gets no write from the plan (its quiet path),
and checking and planning a quiet run's every person twice cost more than the rest of the run's local work.
Their plan is made with the same function, on their own records, and kept only when it holds no delete and
no matching problem; anyone else waits for the whole plan, which then leaves the settled people out
(``plan(settled=)``) while their phones and e-mails still claim the records that match them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from syncd.engine import match
from syncd.engine.model import EntityState, Fetched, Plan, Policies, Record, SystemRole
from syncd.engine.plan import plan as make_plan


class EarlyPlanner:
    """Plans, round by round as the slow system's pages come, the people whose records are all in hand.

    It is told who may be planned (:meth:`know`: everyone in memory, or on a state set aside on disk only the
    people a record of the run changed) and their listed records with their owners (:meth:`add`: a record no
    link holds keeps everyone sharing its keys for the whole plan)."""

    def __init__(
        self,
        job: str,
        roles: dict[str, SystemRole],
        policies: Policies,
        slow: str,
        kinds: Mapping[str, tuple[bool, bool]],
        busy: Iterable[str],
        resolutions: Mapping[tuple[str, str], str],
        new_id: Callable[[], str],
    ) -> None:
        """``kinds``: each other system's listing, (complete, incremental), all in; ``busy``: people an earlier
        run's unfinished write concerns (they wait for the whole plan, which reads the journal)."""
        self.job, self.roles, self.policies, self.slow = job, roles, policies, slow
        self.busy = set(busy)
        self.resolutions = resolutions
        self.new_id = new_id
        self.match_on = (*policies.match_on, "entity")
        self.kinds = dict(kinds)
        self.kinds[slow] = (True, False)  # (its people are taken only once their record there is read)
        # the systems a person must be linked on, else the whole plan would create a record there
        self.must_live = [
            s for s in policies.priority if s in roles and roles[s].can_create and self.kinds.get(s, (False,))[0]
        ]
        self.entities: dict[str, EntityState] = {}
        self.owners: dict[str, dict[str, str]] = {}  # system → remote id → entity (gone links too, as plan())
        self.present: dict[str, dict[str, Record]] = {s: {} for s in self.kinds}
        self.unlinked_keys: set[str] = set()
        self.doubtful: set[str] = set()  # a record of theirs listed twice: the whole plan reports it
        self.candidates: set[str] = set()
        # people a listed record of theirs changed (values other than their link's last synced): nobody else can
        # get a write from the plan (its quiet path), so nobody else is checked or planned early
        self.touched: set[str] = set()
        self.settled: set[str] = set()

    def know(self, entities: Mapping[str, EntityState]) -> None:
        """People who may be planned early, with their links."""
        known, owners, listed_slow = self.entities, self.owners, self.present[self.slow]
        for eid, ent in entities.items():  # (every person of a run held in memory: no call it can spare)
            if eid in known:
                continue
            known[eid] = ent
            for system, link in ent.links.items():
                by_id = owners.get(system)
                if by_id is None:
                    by_id = owners[system] = {}
                by_id[link.remote_id] = eid
            if eid in listed_slow:
                self.candidates.add(eid)

    def owner(self, system: str, remote_id: str) -> str | None:
        return self.owners.get(system, {}).get(remote_id)

    def add(self, system: str, records: Iterable[Record], owners: Mapping[str, str] | None = None) -> None:
        """Listed records; on the slow system, their people become candidates. ``owners``: remote id → the person
        whose link holds it (a record not in it is unlinked); None: the links :meth:`know` was given."""
        present, touched, entities = self.present[system], self.touched, self.entities
        if owners is None:
            owners = self.owners.get(system, {})
        slow = system == self.slow
        # (one loop, no pairs or generators between it and the listing: it runs once per listed record of a run)
        for rec in records:
            owner = owners.get(rec.remote_id)
            if owner is None:
                self.unlinked_keys |= match.record_keys(rec, self.match_on)
            elif owner in present:
                self.doubtful.add(owner)
            else:
                present[owner] = rec
                if owner not in touched:
                    # changed: values other than the link's last synced (a record listed unchanged usually shares
                    # its values with the link, Store.load_entities); once a person per record, so inline
                    state = entities.get(owner)
                    link = state.links.get(system) if state is not None else None
                    if link is None or (rec.values is not link.synced and rec.values != link.synced):
                        touched.add(owner)
                if slow:
                    self.candidates.add(owner)

    def forget(self) -> None:
        """The slow listing is in: only who was settled still counts (the state and the records go, before the
        whole plan reads its own)."""
        self.entities, self.owners, self.candidates = {}, {}, set()
        self.present = {s: {} for s in self.kinds}
        self.unlinked_keys, self.doubtful, self.touched = set(), set(), set()

    def restart(self) -> None:
        """The slow listing is read again from its first page: what it listed so far does not count (the
        unlinked records' keys still do: keeping someone out is always safe)."""
        self.present[self.slow] = {}
        self.candidates.clear()

    def ready(self, eid: str) -> bool:
        if eid in self.settled or eid in self.busy or eid in self.doubtful:
            return False
        state = self.entities.get(eid)
        if state is None or not state.links:
            return False
        keys = {"entity:" + eid}
        for system, link in state.links.items():
            if link.gone or system not in self.roles or system not in self.policies.priority:
                return False
            complete, _ = self.kinds.get(system, (False, False))
            rec = self.present.get(system, {}).get(eid)
            if rec is None:
                if complete:
                    return False  # not listed (yet): the whole plan decides
                continue  # a cursor-read source: listed only when it has something new
            keys |= match.keys(link.synced, self.policies.match_on)
            keys |= match.keys(rec.values, self.policies.match_on)
        if any(system not in state.links for system in self.must_live):
            return False
        return not (keys & self.unlinked_keys)

    def plan_round(self) -> Plan | None:
        """The plan of the candidates that are ready, restricted to those it gives no delete and no problem
        (they are settled); None when nobody is."""
        touched = self.touched
        ready = sorted(eid for eid in self.candidates if eid in touched and eid in self.entities and self.ready(eid))
        self.candidates.clear()
        if not ready:
            return None
        fetched = {
            system: Fetched(
                [rec for eid in ready if (rec := self.present[system].get(eid)) is not None],
                complete=complete,
                incremental=incremental,
            )
            for system, (complete, incremental) in self.kinds.items()
        }
        part = make_plan(
            self.job,
            self.roles,
            self.policies,
            {eid: self.entities[eid] for eid in ready},
            fetched,
            self.new_id,
            resolutions=self.resolutions,
        )
        out: set[str] = {u.entity_id for u in part.links} | {a.entity_id for a in part.actions}
        refused = {a.entity_id for a in part.actions if a.kind in ("delete", "fallback")}
        refused |= {u.entity_id for u in part.links if u.gone or u.new}
        for problem in part.problems:
            owner = self.owner(problem.system, problem.remote_id)
            refused.add(owner if owner is not None else "")
        if part.new_entities or part.dropped_entities:
            refused |= out  # (cannot happen: nobody here is new or deleted everywhere)
        taken = out - refused
        if not taken:
            return None
        self.settled |= taken
        return Plan(
            self.job,
            actions=[a for a in part.actions if a.entity_id in taken],
            links=[u for u in part.links if u.entity_id in taken],
            conflicts=[c for c in part.conflicts if c.entity_id in taken],
        )
