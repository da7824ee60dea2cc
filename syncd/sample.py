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
