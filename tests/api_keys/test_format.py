"""The key format: prefix, randomness, checksum, and the published scanner pattern."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from artisan.api_keys import keys

SECRET = keys.derive_hmac_secret("a-server-secret-for-format-tests-0123456789")
DOCS = Path(__file__).resolve().parents[2] / "docs" / "api-keys.md"


def test_generated_keys_are_well_formed_and_distinct() -> None:
    minted = [keys.generate(SECRET) for _ in range(200)]
    assert len({m.secret for m in minted}) == 200
    for m in minted:
        assert m.secret.startswith("art_sk_")
        assert len(m.secret) == keys.KEY_LENGTH == 45
        assert keys.well_formed(m.secret)
        assert m.display_prefix == m.secret[:12]
        assert m.last_four == m.secret[-4:]
        assert m.digest == keys.digest(SECRET, m.secret)
        assert m.secret not in m.digest


def test_digest_is_keyed_by_the_server_secret() -> None:
    minted = keys.generate(SECRET)
    other = keys.derive_hmac_secret("another-server-secret-0123456789abcdef")
    assert keys.digest(other, minted.secret) != minted.digest
    # Not a plain hash of the key either.
    import hashlib

    assert hashlib.sha256(minted.secret.encode()).hexdigest() != minted.digest


@given(position=st.integers(min_value=0, max_value=44), replacement=st.sampled_from(keys.BASE62))
def test_any_single_character_change_fails_the_checksum(position: int, replacement: str) -> None:
    secret = keys.generate(SECRET).secret
    if position < len(keys.KEY_KIND_PREFIX) or secret[position] == replacement:
        replacement = "Z" if secret[position] != "Z" else "Y"
    mutated = secret[:position] + replacement + secret[position + 1 :]
    assert not keys.well_formed(mutated)


def test_truncated_padded_and_foreign_strings_are_malformed() -> None:
    secret = keys.generate(SECRET).secret
    for candidate in (secret[:-1], secret + "a", "", "art_sk_", secret.upper(), f" {secret}"):
        assert not keys.well_formed(candidate)
    assert not keys.well_formed("art_pk_" + secret[7:])


def test_documented_pattern_finds_keys_in_text() -> None:
    text = DOCS.read_text()
    documented = re.search(r"```regex\n(.+?)\n```", text, re.S)
    assert documented is not None, "docs/api-keys.md must publish the pattern in a regex block"
    pattern = re.compile(documented.group(1).strip())
    assert pattern.pattern == keys.KEY_PATTERN.pattern
    secret = keys.generate(SECRET).secret
    leaked = f'config = {{"token": "{secret}"}}\nother=art_sk_short'
    assert pattern.findall(leaked) == [secret]
