"""The reconcile engine: (state, fetched records, policies) → plan. Pure: no I/O, no clock, no randomness
beyond the id factory it is given.

Per entity and field it is a three-way merge: each system's current value against the value last synced
with *that* system. A system whose value differs from its own last-synced value changed it; one changer
wins outright, several with different values are a conflict for the policy. What each system is then
sent is predicted through the system's own write model (``SystemRole.project``), and that prediction
becomes its new last-synced value — so the next run sees no echo of our own write.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass

from syncd import canonical, heap
from syncd.canonical import Canon, Value
from syncd.engine import existing_lead, match
from syncd.engine.model import (
    Action,
    ActionKind,
    Conflict,
    EntityState,
    Fetched,
    FieldChange,
    LinkState,
    LinkUpdate,
    Plan,
    Policies,
    Problem,
    Record,
    SystemRole,
)

_HELD = object()


def label(values: Canon) -> str:
    name = canonical.display_name(values)
    contact = values.get("phone") or values.get("email") or ""
    return f"{name} <{contact}>" if contact else name


@heap.paused()  # (no cycle made: a collection mid-plan walks every input record and link, seconds at 1M)
def plan(
    job: str,
    roles: dict[str, SystemRole],
    policies: Policies,
    entities: dict[str, EntityState],
    fetched: dict[str, Fetched],
    new_id: Callable[[], str],
    *,
    replacing: Mapping[tuple[str, str], str] | None = None,
    resolutions: Mapping[tuple[str, str], str] | None = None,
    echoes: Mapping[tuple[str, str], Canon] | None = None,
    created: Mapping[tuple[str, str], Canon] | None = None,
    fast: bool = True,
    set_aside: int = 0,
    linked: Mapping[str, int] | None = None,
    settled: Collection[str] = (),
) -> Plan:
    """``replacing``: (entity, system) → old remote id of a replace (delete + create, Callsavvy contacts)
    that an earlier run started and did not finish; its new record is adopted, not taken for a duplicate,
    and its missing old record is not taken for a delete. ``echoes``: (entity, system) → what an earlier
    run's unrecorded update left there (no edit); ``created``: (entity, system) → what an earlier run's
    unrecorded create sent (a record holding it is ours, not a source). ``fast=False`` takes every person
    through the full path, quiet ones included (the property tests check that both paths agree).

    ``set_aside``: quiet people the runner decided on without loading them (``syncd.state.aside``): neither
    they nor their records are in ``entities`` and ``fetched``; ``linked`` then counts every live link per
    system, theirs included, for the mass-delete guard.

    ``settled``: people this run planned and wrote already, while the slowest listing was still coming in
    (``syncd.early_writes``): they stay in ``entities`` and ``fetched`` so that their phones and e-mails still
    claim the records that match them, and are not planned again."""
    out = Plan(job, quiet=set_aside)
    replacing = replacing or {}
    # who holds each remote id, per system (the last entity listed wins, as a dict of pairs would)
    by_remote: dict[str, dict[str, str]] = {}
    for eid, ent in entities.items():
        for system, link in ent.links.items():
            owners = by_remote.get(system)
            if owners is None:
                owners = by_remote[system] = {}
            owners[link.remote_id] = eid
    # the records of linked people, per system (in the listings' order) and entity
    present: dict[str, dict[str, Record]] = {}
    unlinked: list[Record] = []
    for system, result in fetched.items():
        owners = by_remote.get(system, {})
        mine: dict[str, Record] = {}
        seen: set[str] = set()  # the unlinked ids; a linked id repeats exactly when its owner has it already
        for rec in result.records:
            remote_id = rec.remote_id
            owner = owners.get(remote_id)
            if owner is None:
                duplicate = remote_id in seen
                seen.add(remote_id)
            else:
                duplicate = owner in mine
            if duplicate:
                out.problems.append(
                    Problem(system, remote_id, label(rec.values), "the listing holds this id twice", "unreadable")
                )
                continue
            if owner is None:
                unlinked.append(rec)
            else:
                mine[owner] = rec
        present[system] = mine
    del by_remote

    arrivals = _match(out, entities, present, unlinked, policies, new_id, replacing, settled)
    planner = _EntityPlanner(out, roles, policies, fetched, replacing, new_id)
    planner.resolutions = resolutions or {}
    planner.echoes = echoes or {}
    planner.created = {  # found again by the person's match keys: the entity id of a killed run is gone
        (system, key): values
        for (_, system), values in (created or {}).items()
        for key in match.keys(values, policies.match_on)
    }
    quiet = planner.quiet_check(present)
    listed = list(present.items())
    # the quiet first, in any order (each is decided on their own), then the rest in the order of their ids: only
    # the few who are not quiet are sorted
    rest: list[str] = []
    for eid, known in entities.items():
        if settled and eid in settled:
            continue
        if fast and eid not in arrivals and quiet(eid, known):
            out.quiet += 1
            continue
        rest.append(eid)
    rest.extend(eid for eid in arrivals if eid not in entities)
    for eid in sorted(rest):
        state = entities.get(eid)
        came = arrivals.get(eid)
        listed_here = {system: found for system, recs in listed if (found := recs.get(eid)) is not None}
        planner.entity(eid, state, listed_here, came or {})
    out.guard = _delete_guard(out, entities, policies, linked)
    return out


def _match(
    out: Plan,
    entities: dict[str, EntityState],
    present: dict[str, dict[str, Record]],
    unlinked: list[Record],
    policies: Policies,
    new_id: Callable[[], str],
    replacing: Mapping[tuple[str, str], str],
    settled: Collection[str] = (),
) -> dict[str, dict[str, Record]]:
    if not unlinked:
        return {}
    match_on = (*policies.match_on, "entity")
    entity_keys: dict[str, set[str]] = {}
    linked_systems: dict[str, set[str]] = {}
    for eid, ent in entities.items():
        live = {s: link for s, link in ent.links.items() if not link.gone}
        if not live:
            continue
        linked_systems[eid] = {s for s in live if (eid, s) not in replacing}
        keys: set[str] = {"entity:" + eid}
        for system, link in live.items():
            keys |= match.keys(link.synced, policies.match_on)
            rec = present.get(system, {}).get(eid)
            if rec is not None:
                keys |= match.keys(rec.values, policies.match_on)
        entity_keys[eid] = keys
    arrivals: dict[str, dict[str, Record]] = defaultdict(dict)
    for group in match.group(unlinked, entity_keys, linked_systems, match_on):
        if group.ambiguous is not None:
            for rec in group.records:
                out.problems.append(Problem(rec.system, rec.remote_id, label(rec.values), group.ambiguous))
            continue
        if group.entity_id is not None and group.entity_id in settled:
            # (cannot happen by syncd.early_writes' rules, which keep such a person for this plan: held, not guessed)
            why = "matches a person this run already wrote to before every listing was in: the next run decides"
            for rec in group.records:
                out.problems.append(Problem(rec.system, rec.remote_id, label(rec.values), why))
            continue
        # a record that carries an entity id we gave it (Apps API external_unique_id) keeps that id
        hints = sorted({r.entity_hint for r in group.records if r.entity_hint and r.entity_hint not in entities})
        eid = group.entity_id or (hints[0] if hints else new_id())
        if group.entity_id is None:
            out.new_entities.append(eid)
        for rec in group.records:
            arrivals[eid][rec.system] = rec
    return arrivals


def _delete_guard(
    out: Plan, entities: dict[str, EntityState], policies: Policies, linked: Mapping[str, int] | None = None
) -> str | None:
    deletes: dict[str, int] = defaultdict(int)
    for action in out.actions:
        if action.kind in ("delete", "fallback"):
            deletes[action.system] += 1
    if not deletes:
        return None  # (the usual run: no need to count every link)
    if linked is None:
        counted: dict[str, int] = defaultdict(int)
        for ent in entities.values():
            for system, link in ent.links.items():
                if not link.gone:
                    counted[system] += 1
        linked = counted
    for system, count in sorted(deletes.items()):
        total = linked.get(system, 0)
        limit = max(policies.min_delete_count, int(policies.max_delete_share * total))
        if count > limit:
            return (
                f"mass-delete guard: this run would delete {count} of {total} {system} records "
                f"(limit {limit}: deletes.max_share {policies.max_delete_share:.0%}, deletes.min_count "
                f"{policies.min_delete_count}); its writes were held back. Check the source system, then run with "
                "--allow-mass-delete if the deletes are intended."
            )
    return None


def quiet_scope(
    roles: Mapping[str, SystemRole], policies: Policies, listed_in_full: Mapping[str, bool]
) -> tuple[dict[str, bool], list[str]]:
    """What a quiet person's links must fit (``_EntityPlanner.quiet_check``, and ``syncd.state.aside`` for the
    people it sets aside unloaded): the job's ranked systems, each with whether its listing is complete, and
    the systems a person must be linked on (else the planner would create a record there). ``listed_in_full``:
    each fetched system's listing, complete or not."""
    complete = {s: listed_in_full.get(s, False) for s in roles if s in policies.priority}
    must_live = [s for s in policies.priority if s in roles and roles[s].can_create and complete.get(s, False)]
    return complete, must_live


@dataclass
class _Entity:
    id: str
    live: dict[str, LinkState]
    present: dict[str, Record]
    arrivals: dict[str, Record]
    label: str


class _EntityPlanner:
    def __init__(
        self,
        out: Plan,
        roles: dict[str, SystemRole],
        policies: Policies,
        fetched: dict[str, Fetched],
        replacing: Mapping[tuple[str, str], str],
        new_id: Callable[[], str] | None = None,
    ):
        self.out = out
        self.new_id = new_id
        self.replacing = replacing
        self.resolutions: Mapping[tuple[str, str], str] = {}  # (entity, field) → system a person chose
        # (entity, system) → what an earlier run's unrecorded write leaves there: finding it is no edit
        self.echoes: Mapping[tuple[str, str], Canon] = {}
        # (system, match key) → what an earlier run's unfinished create sent (see _our_create)
        self.created: Mapping[tuple[str, str], Canon] = {}
        self.roles = roles
        self.policies = policies
        self.fetched = fetched
        self.rank = {s: i for i, s in enumerate(policies.priority)}

    # --- the fast path: a person nobody changed -------------------------------------------------
    def quiet_check(self, present: dict[str, dict[str, Record]]) -> Callable[[str, EntityState], bool]:
        """A check that says whether nothing about a person can lead to a write or a change of state: every
        link live and ranked, no replace pending, every record listed with exactly the values last synced
        (clean ones, none unreadable), none missing from a complete listing, and a record on every system
        that would otherwise get a create; or every link gone (deleted everywhere: the full path returns at
        once, so a state's deleted people cost a run nothing). Such a person's links stay exactly as they are,
        so the plan holds nothing for them (``Plan.quiet`` counts them): a quiet run of 1M people builds no
        2.5M link updates only to skip them when recording (bench/README.md). Anything else returns False and
        takes the full path."""
        replacing = self.replacing
        complete, must_live = quiet_scope(self.roles, self.policies, {s: f.complete for s, f in self.fetched.items()})
        # per ranked system of the job: (its listed records by entity, listing complete)
        info = {s: (present.get(s) or {}, full) for s, full in complete.items()}
        must = frozenset(must_live)

        def quiet(eid: str, state: EntityState) -> bool:
            links = state.links
            if not links:
                return False
            # (loops, not all() over generators: this runs once per person of every run)
            for system, link in links.items():
                if link.gone:
                    # deleted everywhere: nothing can happen to them (``entity`` returns at once); else the full path
                    return all(lk.gone for lk in links.values())
                meta = info.get(system)
                if meta is None or (replacing and (eid, system) in replacing):
                    return False
                recs, complete = meta
                rec = recs.get(eid)
                if rec is None:
                    if complete:  # missing from a complete listing: the delete rules decide
                        return False
                    continue
                if rec.unreadable:  # garbled fields: the full path decides what stands
                    return False
                # equal to a record's values (clean, see Record), the synced values are clean too: what the full
                # path would record for them; a cursor-read source's record is shown over them, to the same effect
                values = rec.values
                if values is not link.synced and values != link.synced:
                    return False
            return links.keys() >= must

        return quiet

    # --- one entity ----------------------------------------------------------------------------
    def entity(
        self, eid: str, state: EntityState | None, present: dict[str, Record], arrivals: dict[str, Record]
    ) -> None:
        links = state.links if state else {}
        live = {s: link for s, link in links.items() if not link.gone and s in self.roles}
        gone = {s for s, link in links.items() if link.gone}
        if links and not live and not arrivals:
            return  # deleted everywhere earlier: nothing left to do
        # a record still listed under a gone link (marked by a delete fallback, or back after deletes=ignore)
        # is left alone: only live links take part
        present = {s: rec for s, rec in present.items() if s in live}
        values = [r.values for r in (*present.values(), *arrivals.values())] + [lk.synced for lk in live.values()]
        ent = _Entity(eid, live, present, arrivals, label(_first_nonblank(values)))
        restore, busy = self._finish_replacements(ent)
        present = ent.present
        missing = [s for s in live if s not in present and self._complete(s) and s not in restore]
        # listing failed or partial (a cursor-read source's unlisted records are merely unchanged)
        unseen = [s for s in live if s not in present and not self._complete(s) and not self._incremental(s)]
        changed = self._changes(ent)
        self._read_only_arrivals(ent, changed)
        if missing:
            if self.policies.deletes == "ignore":
                for system in missing:
                    self._link(eid, system, live[system].remote_id, live[system].synced, gone=True)
                    gone.add(system)
                live = {s: lk for s, lk in live.items() if s not in missing}
                ent.live = live
            elif changed:
                restore = missing  # deleted on one side but edited on another since: the edit wins
            elif unseen:
                return  # an unlisted record may hold an edit: decide the delete when every listing is complete
            else:
                self._propagate_delete(ent, missing)
                if ent.arrivals and self.new_id is not None:
                    # records that matched only this deleted person are a new person of their own
                    new_eid = self.new_id()
                    self.out.new_entities.append(new_eid)
                    self.entity(new_eid, None, {}, dict(ent.arrivals))
                return
        winners, held, reasons = self._resolve(ent, changed)
        golden = self._golden(ent, winners)
        incoming, targets = self._incoming(ent, golden)
        # a change that cannot reach an unlisted record this run keeps its old base on the systems that made
        # it, so the next run sees it again and sends it then (no lost update)
        # (so does a system still finishing an earlier replace: a new replace waits until the old record is gone,
        # so that at most one replace of a record is ever unfinished)
        waiting = (*unseen, *busy)
        deferred = {n for n in winners if any(n in self.roles[s].writes and self.roles[s].can_update for s in waiting)}
        for system in self._ordered(ent.present):
            if system not in restore:
                keep = held | {n for n in deferred if system in changed[n]}
                self._update_linked(ent, system, {} if system in busy else winners, keep, reasons)
        for rec in targets:
            self._merge_arrival(ent, rec, incoming)
        for rec in ent.arrivals.values():
            if rec not in targets:
                self._link(eid, rec.system, rec.remote_id, rec.values, new=True)
        for system in self.policies.priority:
            if system in gone or system in ent.arrivals or (system in live and system not in restore):
                continue
            if system not in self.roles or not self.roles[system].can_create or not self._complete(system):
                continue  # an incomplete listing may hide the record: creating could duplicate it
            if system in restore:
                deleted_from = ", ".join(sorted(changed_systems(changed)))
                why = f"deleted on {system}, but changed on {deleted_from} since the last sync: restored"
            else:
                why = "new person" if not live else f"no {system} record yet"
            self._create(ent, system, golden if live else incoming, why)

    # --- reading the entity ----------------------------------------------------------------------
    def _complete(self, system: str) -> bool:
        result = self.fetched.get(system)
        return result is not None and result.complete

    def _incremental(self, system: str) -> bool:
        result = self.fetched.get(system)
        return result is not None and result.incremental

    def _finish_replacements(self, ent: _Entity) -> tuple[list[str], set[str]]:
        """An earlier run replaced a record (create the new, then delete the old) and stopped half way.
        The new record, if it landed, becomes the link; the old one, if still there, is deleted; if the
        new one never landed it is created now. Returns the systems that still need the create, and those
        where this run deletes an old record (they take no new replace until it is gone)."""
        restore: list[str] = []
        finishing: set[str] = set()
        for system in list(ent.live):
            old_id = self.replacing.get((ent.id, system))
            if old_id is None:
                continue
            new = ent.arrivals.pop(system, None)
            old = ent.present.get(system)
            if ent.live[system].remote_id != old_id:
                # an earlier run already linked the new record (its own writes went through, the delete did
                # not): the linked record is the new one, and what arrives under the old id is the old one
                if new is None:
                    continue
                if new.remote_id == old_id:
                    old = new
                else:  # neither the old nor the new record: nothing says which is meant
                    why = f"a second {system} record of this person, beside {ent.live[system].remote_id}"
                    self.out.problems.append(Problem(system, new.remote_id, label(new.values), why))
                    continue
            elif new is not None:
                ent.present[system] = new
            elif old is None and self._complete(system):
                restore.append(system)
                continue
            kept = ent.present.get(system)  # the record that stays linked
            if old is not None and (kept is None or kept.remote_id != old.remote_id):
                action = self._action("delete", system, ent, old.remote_id, {}, {}, [], old)
                action.reason = "finishing an interrupted replace: the old record goes"
                finishing.add(system)
        return restore, finishing

    def _read_only_arrivals(self, ent: _Entity, changed: dict[str, dict[str, Value | None]]) -> None:
        """A record from a read-only source (CallPage) that meets a known person brings its values in by
        the existing_lead policy, as an incoming record would: they count as that source's changes."""
        if not ent.live:
            return
        readonly = [rec for rec in ent.arrivals.values() if not self.roles[rec.system].can_update]
        if not readonly:
            return
        golden = self._golden(ent, {})
        policy = self.policies.existing_lead
        for rec in readonly:
            for name in sorted(self.roles[rec.system].reads):
                value = rec.values.get(name)
                if value is None or canonical.is_blank(value):
                    continue
                current = golden.get(name)
                base: Canon = {name: current} if isinstance(current, str | list) else {}
                merged = existing_lead.merge(base, {name: value}, policy, [name])
                if not canonical.same(merged.get(name), current):
                    changed[name][rec.system] = merged.get(name)

    def _ordered(self, systems: Iterable[str]) -> list[str]:
        return sorted(systems, key=lambda s: self.rank.get(s, len(self.rank)))

    def _changes(self, ent: _Entity) -> dict[str, dict[str, Value | None]]:
        changed: dict[str, dict[str, Value | None]] = defaultdict(dict)
        for system, rec in ent.present.items():
            base = ent.live[system].synced
            shown = self._shown(system, rec, base)
            echo = self.echoes.get((ent.id, system))
            if echo and all(canonical.same(shown.get(n), v) for n, v in echo.items()):
                # an earlier run's write landed before that run could record it: the fields it wrote are not
                # an edit; every other field still counts against what was last synced
                base = canonical.clean({**base, **echo})
            for name in self.roles[system].reads:
                if not canonical.same(shown.get(name), base.get(name)):
                    changed[name][system] = shown.get(name)
        return changed

    def _shown(self, system: str, rec: Record, synced: Canon) -> Canon:
        """A record's values; from a cursor-read source (CallPage) a new call-back without a name or an
        e-mail says nothing about them, so a blank there keeps what was known."""
        if rec.unreadable:  # garbled on the provider: what syncd knew stands, nothing is cleared elsewhere
            kept = {k: v for k, v in synced.items() if k in rec.unreadable}
            values = {k: v for k, v in rec.values.items() if k not in rec.unreadable}
            return {**synced, **values} if self._incremental(system) else {**values, **kept}
        if self._incremental(system):
            return {**synced, **rec.values}
        return rec.values

    def _resolve(
        self, ent: _Entity, changed: dict[str, dict[str, Value | None]]
    ) -> tuple[dict[str, Value | None], set[str], dict[str, str]]:
        winners: dict[str, Value | None] = {}
        reasons: dict[str, str] = {}
        held: set[str] = set()
        for name, by_system in sorted(changed.items()):
            systems = self._ordered(by_system)
            distinct = {repr(canonical.clean({"v": v}).get("v")) for v in by_system.values()}
            if len(distinct) == 1:
                winners[name] = by_system[systems[0]]
                reasons[name] = f"changed on {', '.join(systems)}"
                continue
            decision, note = self._conflict_winner(ent, systems, name)
            self.out.conflicts.append(
                Conflict(ent.id, ent.label, name, dict(by_system), decision or "held", self.policies.conflict, note)
            )
            if decision is None:
                held.add(name)
                continue
            winners[name] = by_system[decision]
            reasons[name] = f"conflict: changed on {', '.join(systems)}; {self.policies.conflict} chose {decision}"
            if note:
                reasons[name] += f" ({note})"
        return winners, held, reasons

    def _conflict_winner(self, ent: _Entity, systems: list[str], name: str) -> tuple[str | None, str]:
        chosen = self.resolutions.get((ent.id, name))
        if chosen in systems:
            return chosen, "chosen by a person (syncd conflicts resolve)"
        if self.policies.conflict == "hold":
            return None, "held for a person to decide (syncd conflicts)"
        if self.policies.conflict == "newest":
            stamps = {s: (ent.present.get(s) or ent.arrivals[s]).modified for s in systems}
            if all(stamps.values()):
                newest = max(systems, key=lambda s: (stamps[s], -self.rank.get(s, 0)))
                return newest, f"modified {stamps[newest]:%Y-%m-%d %H:%M:%S} UTC"
            lacking = ", ".join(s for s, t in stamps.items() if t is None)
            return systems[0], f"newest unavailable ({lacking} gives no modified time): fell back to prefer"
        return systems[0], ""

    def _golden(self, ent: _Entity, winners: dict[str, Value | None]) -> Canon:
        golden: dict[str, Value | None] = {}
        for system in reversed(self._ordered(ent.live)):
            rec = ent.present.get(system)
            source = rec.values if rec is not None else ent.live[system].synced
            golden.update({k: v for k, v in source.items() if k in self.roles[system].reads})
        golden.update(winners)
        return canonical.clean(golden)

    def _incoming(self, ent: _Entity, golden: Canon) -> tuple[Canon, list[Record]]:
        """What flows into the records that arrive unlinked: the entity as known, or for a new person the
        record of the highest-priority system."""
        # a read-only source's record is always the incoming one: it cannot take anything in
        # and a record an earlier, killed run created (journalled, never recorded) is no source: the record it
        # was created from is, so a restart merges exactly what one uninterrupted run would have
        readonly_first = sorted(
            self._ordered(ent.arrivals),
            key=lambda s: (self.roles[s].can_update, self._our_create(ent.arrivals[s])),
        )
        arrivals = [ent.arrivals[s] for s in readonly_first]
        if ent.live:
            return golden, arrivals
        if not arrivals:
            return golden, []
        return arrivals[0].values, arrivals[1:]

    def _our_create(self, rec: Record) -> bool:
        """The record holds exactly what an unfinished create of an earlier run sent there (same person)."""
        if not self.created:
            return False
        reads = self.roles[rec.system].reads
        for key in match.keys(rec.values, self.policies.match_on):
            sent = self.created.get((rec.system, key))
            if sent is not None and all(canonical.same(rec.values.get(k), v) for k, v in sent.items() if k in reads):
                return True
        return False

    # --- actions -------------------------------------------------------------------------------
    def _current(self, system: str, rec: Record | None, synced: Canon) -> Canon:
        """What the system holds now: what it shows, plus what we last wrote to fields it does not show."""
        role = self.roles[system]
        shown = dict(self._shown(system, rec, synced)) if rec is not None else {}
        for name in role.writes - role.reads:
            if name in synced:
                shown[name] = synced[name]
        return canonical.clean(shown)

    def _update_linked(
        self, ent: _Entity, system: str, winners: dict[str, Value | None], held: set[str], reasons: dict[str, str]
    ) -> None:
        role = self.roles[system]
        rec = ent.present[system]
        link = ent.live[system]
        current = self._current(system, rec, link.synced)
        synced = dict(current)
        for name in held:  # keep the old base, so the conflict is seen again until someone resolves it
            synced.pop(name, None)
            if name in link.synced:
                synced[name] = link.synced[name]
        relevant = {k: v for k, v in winners.items() if k in role.writes} if role.can_update else {}
        desired = canonical.clean({**current, **relevant}) if relevant else current
        if desired == current:
            # nothing it takes won, it takes no update, or it holds every winning value already (the edit came from
            # here, or reached it): nothing to send, as for a quiet person, so no projection
            self._link(ent.id, system, rec.remote_id, canonical.clean(synced))
            return
        expected = role.project(rec, desired)
        changes = _diff(current, expected, role.fields, reasons, f"kept in step on {system}")
        if not changes:
            self._link(ent.id, system, rec.remote_id, canonical.clean(synced))
            return
        for name in held:
            expected = dict(expected)
            expected.pop(name, None)
            if name in link.synced:
                expected[name] = link.synced[name]
        action = self._action("update", system, ent, rec.remote_id, desired, expected, changes, rec)
        action.reason = "; ".join(sorted({c.reason for c in changes}))
        self._link(ent.id, system, rec.remote_id, canonical.clean(expected), action=action)

    def _merge_arrival(self, ent: _Entity, rec: Record, incoming: Canon) -> None:
        role = self.roles[rec.system]
        if not role.can_update:
            self._link(ent.id, rec.system, rec.remote_id, rec.values, new=True)
            return
        policy = self.policies.existing_lead
        merged = existing_lead.merge(rec.values, incoming, policy, role.writes)
        expected = role.project(rec, merged)
        why = (
            f"matched an existing {rec.system} record; existing_lead lead_details={policy.lead_details}, "
            f"lead_tags={policy.lead_tags}, assignee={policy.assignee}"
        )
        changes = _diff(rec.values, expected, role.fields, {}, why)
        if not changes:
            self._link(ent.id, rec.system, rec.remote_id, rec.values, new=True)
            return
        native = role.native_merge and bool(match.keys(rec.values, ("phone",)) & match.keys(incoming, ("phone",)))
        kind: ActionKind = "merge" if native else "update"
        desired = incoming if native else merged
        action = self._action(kind, rec.system, ent, rec.remote_id, desired, expected, changes, rec)
        action.reason = why
        self._link(ent.id, rec.system, rec.remote_id, expected, action=action, new=True)

    def _create(self, ent: _Entity, system: str, golden: Canon, why: str) -> None:
        role = self.roles[system]
        desired = canonical.clean({k: v for k, v in golden.items() if k in role.writes})
        if not desired:
            return
        expected = role.project(None, desired)
        changes = _diff({}, expected, role.fields, {}, why)
        action = self._action("create", system, ent, None, desired, expected, changes, None)
        action.reason = why
        self._link(ent.id, system, None, expected, action=action, new=True)

    def _propagate_delete(self, ent: _Entity, missing: list[str]) -> None:
        why = f"deleted on {', '.join(missing)}"
        for system in missing:
            self._link(ent.id, system, ent.live[system].remote_id, ent.live[system].synced, gone=True)
        for system in self._ordered(ent.present):
            role = self.roles[system]
            rec = ent.present[system]
            link = ent.live[system]
            fallback = self.policies.fallbacks.get(system)
            if role.can_delete:
                action = self._action("delete", system, ent, rec.remote_id, {}, {}, [], rec)
                action.reason = why
                self._link(ent.id, system, rec.remote_id, link.synced, action=action, gone=True)
            elif fallback is not None and role.can_update:
                current = self._current(system, rec, link.synced)
                desired = dict(current)
                if fallback.tag:
                    tags = current.get(canonical.TAG_FIELD, [])
                    tags = list(tags) if isinstance(tags, list) else [tags]
                    desired[canonical.TAG_FIELD] = tags if fallback.tag in tags else [*tags, fallback.tag]
                if fallback.status:
                    desired["status"] = fallback.status
                expected = role.project(rec, canonical.clean(desired))
                changes = _diff(current, expected, role.fields, {}, f"{why}; {system} has no delete")
                if changes:
                    action = self._action("fallback", system, ent, rec.remote_id, desired, expected, changes, rec)
                    action.reason = f"{why}; {system} cannot delete, so the fallback marks it"
                    self._link(ent.id, system, rec.remote_id, expected, action=action, gone=True)
                else:
                    self._link(ent.id, system, rec.remote_id, current, gone=True)
            else:
                self._link(ent.id, system, rec.remote_id, self._current(system, rec, link.synced), gone=True)
        self.out.dropped_entities.append(ent.id)

    def _action(
        self,
        kind: ActionKind,
        system: str,
        ent: _Entity,
        remote_id: str | None,
        desired: Canon,
        expected: Canon,
        changes: list[FieldChange],
        rec: Record | None,
    ) -> Action:
        problems = self.roles[system].validate(desired) if kind in ("create", "update", "merge", "fallback") else []
        action = Action(
            kind, system, ent.id, remote_id, desired, expected, changes, "", ent.label,
            base_raw=rec.raw if rec is not None else None, problems=problems,
        )  # fmt: skip
        self.out.actions.append(action)
        return action

    def _link(
        self,
        eid: str,
        system: str,
        remote_id: str | None,
        synced: Canon,
        *,
        action: Action | None = None,
        new: bool = False,
        gone: bool = False,
    ) -> None:
        self.out.links.append(LinkUpdate(eid, system, remote_id, dict(synced), action, new, gone))


def changed_systems(changed: dict[str, dict[str, Value | None]]) -> set[str]:
    return {s for by_system in changed.values() for s in by_system}


def _diff(
    before: Canon, after: Canon, fields: tuple[str, ...], reasons: dict[str, str], default: str
) -> list[FieldChange]:
    out = []
    for name in fields:
        old, new = before.get(name), after.get(name)
        if old != new and not canonical.same(old, new):
            out.append(FieldChange(name, old, new, reasons.get(name, default)))
    return out


def _first_nonblank(values: list[Canon]) -> Canon:
    merged: dict[str, Value] = {}
    for v in reversed(values):
        merged.update(v)
    return merged
