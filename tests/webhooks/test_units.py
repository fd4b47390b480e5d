"""Small pure pieces: Retry-After parsing, jitter, subscriptions, SSRF address rules, settings."""

from __future__ import annotations

import ipaddress
import json
import os
import random
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from artisan.config import Settings
from artisan.core.ids import utcnow
from artisan.webhooks.attempts import jittered, parse_retry_after
from artisan.webhooks.catalogue import matches
from artisan.webhooks.events import EVENTS
from artisan.webhooks.ssrf import address_blocked, parse_networks


def test_retry_after_forms_and_bounds() -> None:
    assert parse_retry_after("7", maximum=60) == 7
    assert parse_retry_after("0", maximum=60) == 1  # never hammer
    assert parse_retry_after("99999", maximum=60) == 60
    future = (utcnow() + timedelta(seconds=30)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert 25 <= (parse_retry_after(future, maximum=60) or 0) <= 31
    assert parse_retry_after("soon", maximum=60) is None
    assert parse_retry_after(None, maximum=60) is None


def test_jitter_stays_within_twenty_percent() -> None:
    rng = random.Random(5)
    samples = [jittered(300, rng) for _ in range(2000)]
    assert min(samples) >= 240
    assert max(samples) <= 360
    assert max(samples) - min(samples) > 100  # it does vary
    assert jittered(0, rng) == 0


def test_subscription_patterns() -> None:
    assert matches([], "lead.replied")
    assert matches(["*"], "lead.replied")
    assert matches(["campaign.*"], "campaign.launched")
    assert not matches(["campaign.*"], "campaigns.launched")
    assert not matches(["campaign.launched"], "campaign.paused")
    assert matches(["compliance.*"], "compliance.request.completed")
    assert EVENTS.pattern_is_known("workflow.*")
    assert not EVENTS.pattern_is_known("workflows.*")


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "fe80::1",
        "fd00::1",
        "::ffff:10.0.0.1",
        "ff02::1",
    ],
)
def test_blocked_addresses(address: str) -> None:
    assert address_blocked(ipaddress.ip_address(address), ())


def test_public_and_allowed_addresses() -> None:
    assert not address_blocked(ipaddress.ip_address("93.184.216.34"), ())
    assert not address_blocked(ipaddress.ip_address("2606:4700::1111"), ())
    allowed = parse_networks("127.0.0.0/8, ::1/128")
    assert not address_blocked(ipaddress.ip_address("127.0.0.5"), allowed)
    assert not address_blocked(ipaddress.ip_address("::1"), allowed)
    assert address_blocked(ipaddress.ip_address("10.0.0.1"), allowed)


def test_settings_validation() -> None:
    settings = Settings(webhook_retry_schedule=" 0, 5 ,300")
    assert settings.webhook_retry_delays == [0, 5, 300]
    with pytest.raises(ValidationError):
        Settings(webhook_retry_schedule="0,-5")
    with pytest.raises(ValidationError):
        Settings(webhook_retry_schedule="")
    with pytest.raises(ValidationError):
        Settings(webhook_allow_private_networks="127.0.0.0/8,not-a-cidr")
    assert Settings(environment="test").webhook_https_required is False
    assert Settings(webhook_require_https=True).webhook_https_required is True


def test_worker_settles_its_heap_and_still_collects_new_garbage() -> None:
    # In a child process: freezing the heap of the test runner itself would change other tests.
    code = """
import gc, weakref
from artisan.core.heap import settle_heap
from artisan.webhooks.tasks import GC_YOUNG_THRESHOLD
class Node: pass
settle_heap(GC_YOUNG_THRESHOLD)
assert gc.get_freeze_count() > 1000, gc.get_freeze_count()
assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD
a, b = Node(), Node()
a.other, b.other = b, a
probe = weakref.ref(a)
del a, b
gc.collect()
assert probe() is None
print("ok")
"""
    src = str(Path(__file__).resolve().parents[2] / "src")
    done = subprocess.run(  # noqa: S603 - our own interpreter and a constant script
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONPATH": src},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_the_webhooks_guide_lists_the_whole_catalogue() -> None:
    guide = (Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text()
    catalogue = guide[guide.index("Today's catalogue") : guide.index("The tenant's `webhooks`")]
    listed = set(re.findall(r"`([a-z_]+(?:\.[a-z_]+)+)`", catalogue))
    assert listed == {event.name for event in EVENTS.all()}


def test_webhook_bodies_write_times_like_the_api() -> None:
    from datetime import UTC, datetime

    from artisan.core.ids import iso_utc
    from artisan.webhooks.attempts import message_body

    at = datetime(2026, 11, 25, 12, 0, 0, 123456, tzinfo=UTC)
    body = json.loads(message_body("webhook.test", at, {"endpoint_id": "x"}))
    assert body["timestamp"] == "2026-11-25T12:00:00.123456Z" == iso_utc(at)
    assert iso_utc(at.replace(microsecond=0)) == "2026-11-25T12:00:00Z"
