"""How a plan and a run report look to a person (and as JSON to a script)."""

from __future__ import annotations

from typing import Any

from syncd import canonical
from syncd.engine.model import Action, Plan
from syncd.runner import RunReport

_VERB = {"create": "CREATE", "update": "UPDATE", "merge": "MERGE", "delete": "DELETE", "fallback": "MARK-DELETED"}


def action_json(action: Action) -> dict[str, Any]:
    return {
        "action": action.kind,
        "system": action.system,
        "entity": action.entity_id,
        "remote_id": action.remote_id,
        "who": action.label,
        "reason": action.reason,
        "changes": [
            {"field": c.field, "before": c.before, "after": c.after, "reason": c.reason} for c in action.changes
        ],
        "invalid": action.problems,
    }


def plan_json(plan: Plan) -> dict[str, Any]:
    return {
        "job": plan.job,
        "counts": plan.counts(),
        "actions": [action_json(a) for a in plan.actions],
        "conflicts": [c.as_json() for c in plan.conflicts],
        "problems": [
            {"system": p.system, "remote_id": p.remote_id, "who": p.label, "reason": p.reason, "kind": p.kind}
            for p in plan.problems
        ],
        "guard": plan.guard,
    }


def plan_text(plan: Plan) -> str:
    lines = [f"Plan for job {plan.job!r}"]
    if not plan.actions and not plan.conflicts and not plan.problems:
        lines.append("  nothing to do: every system is in step")
    for action in plan.actions:
        target = f"{action.system}" + (f" {action.remote_id}" if action.remote_id else "")
        head = f"  {_VERB[action.kind]:<12} {target:<28} {action.label}"
        lines.append(head)
        lines.append(f"      why: {action.reason}")
        for change in action.changes:
            before, after = canonical.display(change.before), canonical.display(change.after)
            extra = f"   ({change.reason})" if change.reason != action.reason else ""
            lines.append(f"      {change.field:<11} {before} → {after}{extra}")
        for problem in action.problems:
            lines.append(f"      INVALID: {problem} (kept in failures, not sent)")
    for conflict in plan.conflicts:
        values = ", ".join(f"{s}={canonical.display(v)}" for s, v in conflict.values.items())
        note = f" ({conflict.note})" if conflict.note else ""
        lines.append(
            f"  CONFLICT     {conflict.label}: {conflict.field} changed on several systems ({values}); "
            f"{conflict.policy} → {conflict.decision}{note}"
        )
    for skipped in plan.problems:
        lines.append(f"  SKIP         {skipped.system} {skipped.remote_id} {skipped.label}: {skipped.reason}")
    if plan.guard:
        lines.append(f"  STOP         {plan.guard}")
    counts = ", ".join(f"{k} {v}" for k, v in sorted(plan.counts().items()) if v)
    lines.append(f"  totals: {counts or 'none'}")
    return "\n".join(lines)


def report_text(report: RunReport) -> str:
    ran = f" run {report.run_id}" if report.run_id else ""  # (a busy job's run never started)
    lines = [f"Job {report.job!r}{ran}: {report.status} (exit {report.exit_code}) in {report.seconds:.1f}s"]
    if report.fetched:
        lines.append("  fetched: " + ", ".join(f"{s} {n}" for s, n in report.fetched.items()))
    if report.plan is not None:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(report.plan.counts().items()) if v)
        lines.append(f"  planned: {counts or 'nothing'}")
        early = f", {report.early} of them before the last listing was in" if report.early else ""
        lines.append(f"  people: {report.plan.quiet} unchanged, {report.loaded} planned in memory{early}")
    calls = ", ".join(f"{s} {a['calls']} calls" + (f" ({a['rate_limited']}×429)" if a["rate_limited"] else "")
                      for s, a in report.api.items())  # fmt: skip
    lines.append(f"  api: {calls}")
    for failure in report.failed:
        lines.append(f"  FAILED {failure['system']} {failure['action']} {failure['who']}: {failure['reason']}")
    for error in report.errors:
        lines.append(f"  ERROR {error}")
    for warning in report.warnings:
        lines.append(f"  WARNING {warning}")
    for conflict in report.plan.conflicts if report.plan else []:
        values = ", ".join(f"{s}={canonical.display(v)}" for s, v in conflict.values.items())
        lines.append(
            f"  CONFLICT {conflict.label} {conflict.field}: {values} → {conflict.decision} ({conflict.policy})"
        )
    return "\n".join(lines)
