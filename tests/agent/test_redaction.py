"""Secret-looking values never survive redaction; ordinary diagnostic text does."""

from __future__ import annotations

import pytest

from smart_sre.investigation.redaction import Redactor, secret_env_refs


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
                    "envFrom": [{"secretRef": {"name": "all-keys"}}],
                }
            ]
        }
    }
    assert secret_env_refs(pod) == [("db", "password"), ("all-keys", None)]
