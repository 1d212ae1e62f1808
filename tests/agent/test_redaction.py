"""Secret-looking values never survive redaction; ordinary diagnostic text does."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from smart_sre.api.debugpolicy import Redaction
from smart_sre.investigation.evidence import learn_secret_values
from smart_sre.investigation.redaction import Redactor, SecretEnvRef, secret_env_refs

from .fakes import FakeCluster


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("db login failed: password=hunter2hunter2", "hunter2hunter2"),
        ('{"user": "app", "password": "p@ss w0rd"}', "p@ss w0rd"),
        ("API_KEY=abcd1234efgh5678", "abcd1234efgh5678"),
        ("--client-secret='xyz-very-secret'", "xyz-very-secret"),
        ("token: 0123456789abcdef", "0123456789abcdef"),
        ("connecting to postgres://app:Sup3rS3cret@db:5432/shop", "Sup3rS3cret"),
        ("Authorization: Bearer abc.def-ghi_jkl012345", "abc.def-ghi_jkl012345"),
        ("aws key AKIAIOSFODNN7EXAMPLE in use", "AKIAIOSFODNN7EXAMPLE"),
        (
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "dozjgNryP4J3jVmNHl0w5N",
        ),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
            "MIIEowIBAAKCAQEA",
        ),
        ("github ghp_abcdefghijklmnopqrstuvwxyz0123456789", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
        ("starting with --db-password=hunter2 --port 8080", "hunter2"),
        ("X-Api-Key: 9c1dQ2eRf3Tg", "9c1dQ2eRf3Tg"),
    ],
)
def test_secret_looking_values_are_redacted(text: str, secret: str) -> None:
    assert secret not in Redactor().redact(text)


def test_diagnostic_text_survives() -> None:
    text = "ERROR Connection refused to redis:6379\n0/3 nodes are available: 3 Insufficient memory."
    assert Redactor().redact(text) == text


def test_values_from_secrets_are_replaced_with_their_origin() -> None:
    redactor = Redactor()
    redactor.add_secret_value("s3cr3t-from-the-vault", secret="checkout-db", key="password")
    assert (
        redactor.redact("using s3cr3t-from-the-vault now")
        == "using <redacted: from secret checkout-db key password> now"
    )


def test_policy_patterns_are_applied() -> None:
    redactor = Redactor(extra_patterns=[r"acct-[0-9]{6}"])
    assert redactor.redact("billing acct-123456 failed") == "billing <redacted> failed"


def test_markers_are_not_redacted_twice() -> None:
    text = "DB_PASSWORD=<redacted: from secret checkout-db key password>"
    assert Redactor().redact(text) == text


def test_secret_env_references_are_found() -> None:
    pod = {
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}],
                    "envFrom": [{"secretRef": {"name": "all-keys"}, "prefix": "APP_"}],
                }
            ]
        }
    }
    assert secret_env_refs(pod) == [
        SecretEnvRef(secret="db", key="password", env="P"),
        SecretEnvRef(secret="all-keys", key=None, env=None, prefix="APP_"),
    ]


@pytest.mark.parametrize(
    "line",
    [
        "config: SMTP_LOGIN=mailer-prod SMTP_HOST=mail.internal",
        'env {"SMTP_LOGIN": "mailer-prod", "SMTP_HOST": "mail.internal"}',
        "SMTP_LOGIN: mailer-prod\nSMTP_HOST: mail.internal",
    ],
)
def test_values_of_secret_backed_env_names_are_masked_without_knowing_the_value(line: str) -> None:
    redactor = Redactor()
    redactor.add_secret_env("SMTP_LOGIN", secret="smtp", key="login")
    text = redactor.redact(line)
    assert "mailer-prod" not in text
    assert "SMTP_LOGIN" in text
    assert "<redacted: from secret smtp key login>" in text
    assert "mail.internal" in text  # the other env var is not a secret


def test_an_env_name_inside_a_longer_name_is_not_masked() -> None:
    redactor = Redactor()
    redactor.add_secret_env("LOGIN", secret="smtp", key="login")
    assert redactor.redact("SMTP_LOGIN=mailer-prod") == "SMTP_LOGIN=mailer-prod"


def test_redaction_is_idempotent() -> None:
    redactor = Redactor()
    redactor.add_secret_env("SMTP_LOGIN", secret="smtp", key="login")
    once = redactor.redact(
        "SMTP_LOGIN=x1 password=hunter2 Authorization: Bearer abc.DEF-123456 "
        "key=Zk9vQmFyQmF6UXV4MTIzNDU2Nzg5MGFiY2RlZg postgres://u:p4ss@db/x"
    )
    assert redactor.redact(once) == once


def test_policy_patterns_that_re2_cannot_run_are_refused() -> None:
    with pytest.raises(ValueError, match="not valid RE2 syntax"):
        Redactor(extra_patterns=[r"(?<=acct-)[0-9]{6}"])
    with pytest.raises(ValidationError, match=r"redaction pattern '\(\?<=acct-\)\[0-9\]\{6\}'"):
        Redaction(patterns=[r"(?<=acct-)[0-9]{6}"])  # the policy says so before any report


def test_a_policy_pattern_matching_nothing_does_not_scatter_markers() -> None:
    assert Redactor(extra_patterns=[r"x*"]).redact("ab xx cd") == "ab <redacted> cd"


def test_harmless_values_of_secret_named_keys_stay() -> None:
    text = "tls.insecure=false password: null DB_PASSWORD=$(DB_PASSWORD_FILE)"
    assert Redactor().redact(text) == text


async def test_env_from_a_readable_secret_masks_every_key_under_its_prefix() -> None:
    pod = {
        "metadata": {"name": "billing-0", "namespace": "shop"},
        "spec": {
            "containers": [{"name": "app", "envFrom": [{"secretRef": {"name": "vendor"}, "prefix": "ACME_"}]}]
        },
    }
    secret = {
        "kind": "Secret",
        "metadata": {"name": "vendor", "namespace": "shop"},
        "data": {"LICENSE": "c2VhdHMtNDA="},
    }
    redactor = Redactor()
    await learn_secret_values(FakeCluster([secret]), pod, redactor)
    assert redactor.redact("license: ACME_LICENSE=plan-b seats-40") == (
        "license: ACME_LICENSE=<redacted: from secret vendor key LICENSE>"
    )


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        ("DB_PASSWORD=correct horse battery", ""),
        ("starting with DB_PASSWORD=correct horse battery DB_HOST=pg.internal", "DB_HOST=pg.internal"),
        ("DB_PASSWORD: correct horse battery\nDB_HOST: pg.internal", "DB_HOST: pg.internal"),
        ('{"DB_PASSWORD": "correct horse battery", "DB_HOST": "pg.internal"}', '"DB_HOST": "pg.internal"'),
        ("DB_PASSWORD=" + "correct horse " * 60, ""),
    ],
)
def test_a_secret_backed_value_with_spaces_is_masked_whole(line: str, kept: str) -> None:
    """Without read access to the Secret the value is unknown: every word of it goes, not the first."""
    redactor = Redactor()
    redactor.add_secret_env("DB_PASSWORD", secret="db", key="password")
    text = redactor.redact(line)
    assert "horse" not in text
    assert "battery" not in text
    assert "<redacted: from secret db key password>" in text
    assert kept in text
