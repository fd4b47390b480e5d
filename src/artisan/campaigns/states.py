"""The campaign lifecycle as data: which actions move a campaign from which status to which.

draft -> scheduled -> active <-> paused -> completed -> archived, and draft -> active. A schedule
moves campaigns too: a scheduled campaign starts at its start time, an active or paused one
completes at its end time.
"""

from __future__ import annotations

from artisan.models.campaign import CampaignStatus

S = CampaignStatus

TRANSITIONS: dict[CampaignStatus, set[CampaignStatus]] = {
    S.draft: {S.scheduled, S.active},
    S.scheduled: {S.active},
    S.active: {S.paused, S.completed},
    S.paused: {S.active, S.completed},
    S.completed: {S.archived},
    S.archived: set(),
}
# Each action names the statuses it may start from and where it leads.
ACTIONS: dict[str, dict[CampaignStatus, CampaignStatus]] = {
    "launch": {S.draft: S.active, S.scheduled: S.active},
    "pause": {S.active: S.paused},
    "resume": {S.paused: S.active},
    "complete": {S.active: S.completed, S.paused: S.completed},
    "archive": {S.completed: S.archived},
}
AUDIT_ACTIONS = {
    "launch": "campaign.launched",
    "pause": "campaign.paused",
    "resume": "campaign.resumed",
    "complete": "campaign.completed",
    "archive": "campaign.archived",
}
EDITABLE = frozenset({S.draft, S.scheduled, S.active, S.paused})
# Campaigns that take no new leads.
CLOSED = frozenset({S.completed, S.archived})
# What the schedule job does: (from statuses, the schedule's time reached, to, audit action).
SCHEDULED_MOVES: tuple[tuple[frozenset[CampaignStatus], str, CampaignStatus, str], ...] = (
    (frozenset({S.scheduled}), "start_at", S.active, "campaign.started"),
    (frozenset({S.active, S.paused}), "end_at", S.completed, "campaign.completed"),
)


def allowed_actions(status: CampaignStatus) -> list[str]:
    """The lifecycle actions a campaign in `status` accepts."""
    return [action for action, moves in ACTIONS.items() if status in moves]
