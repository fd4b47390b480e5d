"""The campaign lifecycle as data: which actions move a campaign from which status to which.

draft -> scheduled -> active <-> paused -> completed -> archived, and draft -> active. A schedule
moves campaigns too: a scheduled campaign starts at its start time, an active or paused one
completes at its end time.
"""

from __future__ import annotations

from artisan.models.campaign import CampaignStatus

TRANSITIONS: dict[CampaignStatus, set[CampaignStatus]] = {
    CampaignStatus.draft: {CampaignStatus.scheduled, CampaignStatus.active},
    CampaignStatus.scheduled: {CampaignStatus.active},
    CampaignStatus.active: {CampaignStatus.paused, CampaignStatus.completed},
    CampaignStatus.paused: {CampaignStatus.active, CampaignStatus.completed},
    CampaignStatus.completed: {CampaignStatus.archived},
    CampaignStatus.archived: set(),
}
# Each action names the statuses it may start from and where it leads.
ACTIONS: dict[str, dict[CampaignStatus, CampaignStatus]] = {
    "launch": {
        CampaignStatus.draft: CampaignStatus.active,
        CampaignStatus.scheduled: CampaignStatus.active,
    },
    "pause": {CampaignStatus.active: CampaignStatus.paused},
    "resume": {CampaignStatus.paused: CampaignStatus.active},
    "complete": {
        CampaignStatus.active: CampaignStatus.completed,
        CampaignStatus.paused: CampaignStatus.completed,
    },
    "archive": {CampaignStatus.completed: CampaignStatus.archived},
}
AUDIT_ACTIONS = {
    "launch": "campaign.launched",
    "pause": "campaign.paused",
    "resume": "campaign.resumed",
    "complete": "campaign.completed",
    "archive": "campaign.archived",
}
EDITABLE = frozenset(
    {CampaignStatus.draft, CampaignStatus.scheduled, CampaignStatus.active, CampaignStatus.paused}
)
# Campaigns that take no new leads.
CLOSED = frozenset({CampaignStatus.completed, CampaignStatus.archived})
# What the schedule job does: (from statuses, the schedule's time reached, to, audit action).
SCHEDULED_MOVES: tuple[tuple[frozenset[CampaignStatus], str, CampaignStatus, str], ...] = (
    (frozenset({CampaignStatus.scheduled}), "start_at", CampaignStatus.active, "campaign.started"),
    (
        frozenset({CampaignStatus.active, CampaignStatus.paused}),
        "end_at",
        CampaignStatus.completed,
        "campaign.completed",
    ),
)


def allowed_actions(status: CampaignStatus) -> list[str]:
    """The lifecycle actions a campaign in `status` accepts."""
    return [action for action, moves in ACTIONS.items() if status in moves]
