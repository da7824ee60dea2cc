"""A realistic sandbox sample: leads in Callyzer and Callsavvy with overlaps, formatting differences
(Callyzer's "91-…" against Callsavvy's "+91 …", e-mails in other case) and a few invalid records."""

from __future__ import annotations

import random
from typing import Any

FIRST = ["Aarav", "Priya", "Rohan", "Ananya", "Vikram", "Meera", "Arjun", "Kavya", "Rahul", "Sneha", "Karan",
         "Divya", "Nikhil", "Pooja", "Siddharth", "Isha", "Aditya", "Neha", "Varun", "Tanvi"]  # fmt: skip
LAST = ["Sharma", "Patel", "Iyer", "Reddy", "Gupta", "Nair", "Singh", "Mehta", "Joshi", "Kapoor", "Rao", "Das"]
COMPANIES = ["Acme Traders", "Zenith Labs", "Sunrise Realty", "Bluewave Tech", "Orbit Logistics", ""]
STATUSES = ["Potential", "Qualified", "Interested", "Converted", "Not Interested", "Bad Fit"]
CZ_STATUS = {"Potential": "NewInquiry", "Qualified": "Positive", "Interested": "Interested",
             "Converted": "Converted", "Not Interested": "Not Interested", "Bad Fit": "Negative"}  # fmt: skip


def _person(rng: random.Random, i: int) -> dict[str, Any]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    national = f"9{rng.randrange(100000000, 999999999)}"
    return {
        "first": first,
        "last": last,
        "national": national,
        "email": f"{first}.{last}{i}@example.in".lower(),
        "company": rng.choice(COMPANIES),
        "status": rng.choice(STATUSES),
    }


def callyzer_lead(p: dict[str, Any], *, email_case: bool = False) -> dict[str, Any]:
    email = p["email"].upper() if email_case else p["email"]
    return {
        "details": {
            "first_name": p["first"], "last_name": p["last"], "email": email, "company_name": p["company"],
            "contact_numbers": [f"91-{p['national']}"],
        },
        "status": {"lead_status": CZ_STATUS[p["status"]]},
        "lead_tags": ["sample"],
    }  # fmt: skip


def callsavvy_lead(p: dict[str, Any]) -> dict[str, Any]:
    n = p["national"]
    return {
        "name": f"{p['first']} {p['last']}", "email": p["email"], "phone": f"+91 {n[:5]} {n[5:]}",
        "status": p["status"], "priority": "Warm", "summary": "Sample lead", "organization": p["company"],
    }  # fmt: skip


def sample(total: int = 300, seed: int = 7) -> dict[str, list[dict[str, Any]]]:
    """``total`` people: a fifth in both systems, the rest in one, and a handful Callyzer will refuse."""
    rng = random.Random(seed)
    callyzer: list[dict[str, Any]] = []
    callsavvy: list[dict[str, Any]] = []
    for i in range(total):
        p = _person(rng, i)
        where = rng.random()
        if where < 0.2:
            callyzer.append(callyzer_lead(p, email_case=rng.random() < 0.5))
            callsavvy.append(callsavvy_lead(p))
        elif where < 0.6:
            callyzer.append(callyzer_lead(p))
        else:
            callsavvy.append(callsavvy_lead(p))
    # records Callyzer refuses: a two-letter first name, a number that is not one
    bad = _person(rng, total)
    callsavvy.append({**callsavvy_lead(bad), "name": f"Al {bad['last']}"})
    bad2 = _person(rng, total + 1)
    callsavvy.append({**callsavvy_lead(bad2), "phone": "+91 12345"})
    return {"callyzer": callyzer, "callsavvy": callsavvy}


def sample_all(total: int = 300, seed: int = 7) -> dict[str, dict[str, Any]]:
    """The four-system sandbox: leads as above, plus an Apps API custom list that shares some of them,
    CallPage call-backs (some from known numbers, some repeated), and contacts in Callsavvy's Customers
    group and the Apps API global list. Keyed by system, each value is that simulator's seed body."""
    rng = random.Random(seed + 1)
    leads = sample(total, seed)
    people = [_person(rng, 10_000 + i) for i in range(total)]
    known = [lead["details"]["contact_numbers"][0].split("-", 1)[1] for lead in leads["callyzer"]]
    entries = []
    for p in people[: total // 4]:  # a custom list of new people ...
        entries.append({"name": f"{p['first']} {p['last']}", "phone_number": f"+91{p['national']}",
                        "email": p["email"]})  # fmt: skip
    for national in known[:15]:  # ... and some already in Callyzer, written with a dash
        entries.append({"name": "Known Caller", "phone_number": f"+91-{national[:5]}-{national[5:]}"})
    calls: list[dict[str, Any]] = []
    for p in people[total // 4 : total // 4 + 30]:  # web call-backs from new people, some twice
        call = {"to": f"+91{p['national']}", "name": f"{p['first']} {p['last']}", "email": p["email"]}
        calls.append(call)
        if rng.random() < 0.3:
            calls.append({"to": call["to"], "name": call["name"]})
    for national in known[20:30]:  # and from people Callyzer knows, under another format
        calls.append({"to": f"+91{national}", "name": "Web Visitor"})
    contacts = [_person(rng, 20_000 + i) for i in range(total // 3)]
    savvy_contacts = [{"name": f"{p['first']} {p['last']}", "phone": f"+91{p['national']}", "email": p["email"]}
                      for p in contacts[: len(contacts) * 2 // 3]]  # fmt: skip
    global_list = [{"name": f"{p['first']} {p['last']}", "phone_number": f"+91{p['national']}"}
                   for p in contacts[len(contacts) // 3 :]]  # fmt: skip
    return {
        "callyzer": {"leads": leads["callyzer"]},
        "callsavvy": {"leads": leads["callsavvy"], "contacts": savvy_contacts},
        "appsapi": {"contacts": {"2": entries, "1": global_list}},
        "callpage": {"calls": calls},
    }
