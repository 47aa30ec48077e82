"""What a person's plan lets their monitors do, explained in one sentence.

Admins run the platform and get the top tier's limits whatever their own subscription says. The
account page and the monitor forms both explain limits with ``describe_limits``, so the two can
never disagree again (one said "Free" while the other said "Business" for the same admin)."""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _

from models import User
from services.formatting import interval as format_interval
from services.labels import tier_label
from services.monitors.rules import effective_tier, minimum_interval


@dataclass(frozen=True)
class PlanLimits:
    """The plan on record and the plan whose limits actually apply."""

    subscription_tier: str  # what the account says (admins may have any)
    tier: str  # whose limits apply
    minimum_interval: int  # seconds
    as_admin: bool  # the limits come from being an admin, not from the subscription


def plan_limits(user: User) -> PlanLimits:
    return PlanLimits(
        subscription_tier=user.subscription_tier,
        tier=effective_tier(user),
        minimum_interval=minimum_interval(user),
        as_admin=bool(user.is_admin),
    )


def describe_limits(user: User, *, own: bool = True) -> str:
    """One sentence on how often ``user``'s monitors may be checked, and why.

    ``own`` is False when someone else (an admin) looks at ``user``'s monitor, so the sentence
    speaks of "the owner" instead of "you"."""
    limits = plan_limits(user)
    tier = tier_label(limits.tier)
    interval = format_interval(limits.minimum_interval)
    if limits.as_admin and own:
        return _(
            "As an admin you get the limits of the %(tier)s plan, whatever your subscription: "
            "checks as often as every %(interval)s.",
            tier=tier, interval=interval,
        )
    if limits.as_admin:
        return _(
            "The owner is an admin and gets the limits of the %(tier)s plan: checks as often as every %(interval)s.",
            tier=tier, interval=interval,
        )
    if own:
        return _("Your %(tier)s plan checks as often as every %(interval)s.", tier=tier, interval=interval)
    return _("The owner's %(tier)s plan checks as often as every %(interval)s.", tier=tier, interval=interval)
