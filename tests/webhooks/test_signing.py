"""Standard Webhooks signatures interoperate with the reference and Svix verifiers."""

from __future__ import annotations

import base64
import json
import time

import pytest
import standardwebhooks
import svix.webhooks

from artisan.webhooks.signing import (
    SecretBox,
    generate_secret,
    secret_key_bytes,
    sign,
    webhook_headers,
)


def test_published_test_vector() -> None:
    # The vector published with the Standard Webhooks reference libraries.
    key = secret_key_bytes("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    signature = sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_secret_format() -> None:
    secret = generate_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert generate_secret() != secret
    with pytest.raises(ValueError, match="24 to 64"):
        generate_secret(16)


def _signed(secrets: list[str]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"type": "campaign.launched", "data": {"x": 1}}).encode()
    headers = webhook_headers(
        [secret_key_bytes(s) for s in secrets], "msg_abc123", int(time.time()), body
    )
    return body, headers


def test_verifies_with_standardwebhooks_and_svix() -> None:
    secret = generate_secret()
    body, headers = _signed([secret])
    assert standardwebhooks.Webhook(secret).verify(body, headers) == json.loads(body)
    # svix's verifier raises on a bad signature and returns nothing useful otherwise.
    svix.webhooks.Webhook(secret).verify(body, headers)


def test_wrong_secret_fails_both_verifiers() -> None:
    body, headers = _signed([generate_secret()])
    other = generate_secret()
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(other).verify(body, headers)
    with pytest.raises(svix.webhooks.WebhookVerificationError):
        svix.webhooks.Webhook(other).verify(body, headers)


def test_rotation_signs_with_both_secrets() -> None:
    new, old = generate_secret(), generate_secret()
    body, headers = _signed([new, old])
    entries = headers["webhook-signature"].split(" ")
    assert len(entries) == 2
    assert all(e.startswith("v1,") for e in entries)
    for secret in (new, old):
        standardwebhooks.Webhook(secret).verify(body, headers)
        svix.webhooks.Webhook(secret).verify(body, headers)


def test_secret_box_round_trip() -> None:
    box = SecretBox("a-secret-key-that-is-long-enough-for-tests")
    secret = generate_secret()
    sealed = box.seal(secret)
    assert secret.encode() not in sealed
    assert box.open(sealed) == secret
