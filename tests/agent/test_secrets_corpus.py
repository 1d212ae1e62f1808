"""Secrets an app logs never reach the evidence, even when the operator may not read Secrets.

Each format is embedded in realistic log lines of a crash-looping pod and goes through the evidence
path (`learn_secret_values` gets 403, then `gather`), as in a cluster with the shipped RBAC. The
negative cases must come through untouched: the analyzers need image refs, names, addresses,
quantities and stack traces.
"""

from __future__ import annotations

import copy

import pytest

from smart_sre.api.common import Trigger
from smart_sre.investigation.evidence import Evidence, gather, learn_secret_values
from smart_sre.investigation.redaction import Redactor
from smart_sre.investigation.tools.base import ToolContext
from smart_sre.k8s.owners import owner_chain

from .fakes import FakeCluster
from .scenarios import NS, redis_client_cluster

GITHUB = "ghp_R8x2kLq9ZtW4vB7nM1cY5pD3fH6jS0aE2uGi"
JWT = (
    "eyJhbGciOiJSUzI1NiIsImtpZCI6IjFhMmIifQ."
    "eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlLmNvbSIsInN1YiI6IjQyIn0."
    "TJVA95OrM7E2cBab30RMHrHDcEfxjoYZgeFONFh7HgQ"
)
RSA_BODY = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0"
HEX_KEY = "7f3a9c2e1b8d4f6a0e5c7b9d2a4f6e8c1d3b5a7f9e2c4a6b8d0f1e3a5c7b9d2e"

# (format, log lines, the secret that must not survive)
FORMATS = [
    (
        "RSA private key (PEM)",
        f"loading TLS key\n-----BEGIN RSA PRIVATE KEY-----\n{RSA_BODY}\nxQ9lT3kVh2\n-----END RSA PRIVATE KEY-----",
        RSA_BODY,
    ),
    (
        "OpenSSH private key",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAAB\n-----END OPENSSH PRIVATE KEY-----",
        "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAAB",
    ),
    (
        "AWS access key id",
        'level=info msg="s3 client ready" access_key_id=AKIAZ7QW3RT5YU2IOP4L',
        "AKIAZ7QW3RT5YU2IOP4L",
    ),
    (
        "AWS secret access key",
        "export AWS_SECRET_ACCESS_KEY=q8Rz/Xk2+Lm9vT4wNp7sY1aB3cD5eF6gH0iJ2kL4",
        "q8Rz/Xk2+Lm9vT4wNp7sY1aB3cD5eF6gH0iJ2kL4",
    ),
    (
        "GCP service account JSON",
        '{"type":"service_account","project_id":"shop-prod",'
        f'"private_key_id":"{HEX_KEY[:40]}","private_key":"-----BEGIN PRIVATE KEY-----\\n{RSA_BODY}\\n'
        '-----END PRIVATE KEY-----\\n","client_email":"orders@shop-prod.iam.gserviceaccount.com"}',
        RSA_BODY,
    ),
    ("GCP private key id", f'{{"type":"service_account","private_key_id":"{HEX_KEY[:40]}"}}', HEX_KEY[:40]),
    (
        "Google API key",
        "geocoder: GET /maps/api?key=AIzaSyD3x9Qm2Lk7Vt1Rw8Zp4Nc6Bh0Jf5Eg2Ys",
        "AIzaSyD3x9Qm2Lk7Vt1Rw8Zp4Nc6Bh0Jf5Eg2Ys",
    ),
    (
        "Azure storage connection string",
        "blob: DefaultEndpointsProtocol=https;AccountName=shopimg;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;EndpointSuffix=core.windows.net",
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq",
    ),
    (
        "Azure AD client secret",
        "msal: acquiring token with client secret Xk38Q~vT2pL9mW4nR7sZ1qY6cB0dF3gH5jK8lN2o",
        "Xk38Q~vT2pL9mW4nR7sZ1qY6cB0dF3gH5jK8lN2o",
    ),
    ("GitHub classic token", f"git clone https://{GITHUB}@github.com/shop/deploy.git", GITHUB),
    (
        "GitHub fine-grained token",
        "gh: using github_pat_11ABCDEFG0aBcDeFgHiJkL_MnOpQrStUvWxYz0123456789AbCdEfGhIjKlMnOpQrSt",
        "github_pat_11ABCDEFG0aBcDeFgHiJkL",
    ),
    ("GitLab token", "runner: registering with glpat-x7Yq2Lk9Vt3Rw8Zp4Nc6", "glpat-x7Yq2Lk9Vt3Rw8Zp4Nc6"),
    (
        "Slack bot token",
        'slack: {"ok":false,"error":"invalid_auth","token":"xoxb-2048-1234567890-aBcDeFgHiJkLmNoPqRsTuVwX"}',
        "xoxb-2048-1234567890-aBcDeFgHiJkLmNoPqRsTuVwX",
    ),
    (
        "Slack webhook",
        "notify: POST https://hooks.slack.com/services/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 failed: 404",
        "k3Lq9ZtW4vB7nM1cY5pD3fH6",
    ),
    (
        "Stripe secret key",
        "payments: stripe.api_key set to sk_live_51H8xYzAbCdEfGhIjKlMnOpQr",
        "sk_live_51H8xYzAbCdEfGhIjKlMnOpQr",
    ),
    ("JWT", f"auth: rejected id_token {JWT}: token expired", JWT.split(".")[2]),
    (
        "bearer token header",
        "> GET /v1/orders HTTP/1.1\n> Authorization: Bearer 8f2Kq9Lm3Vx7Tz1Rw5Yp0Nc4Bh6Jf2Eg",
        "8f2Kq9Lm3Vx7Tz1Rw5Yp0Nc4Bh6Jf2Eg",
    ),
    (
        "basic auth header",
        "proxy: Proxy-Authorization: Basic b3JkZXJzOlRyMHViNGRvcg==",
        "b3JkZXJzOlRyMHViNGRvcg",
    ),
    (
        "credentials in a URL",
        "db: connecting to postgres://orders:Tr0ub4dor@orders-db.shop.svc:5432/orders?sslmode=disable",
        "Tr0ub4dor",
    ),
    (
        "password= pair",
        "2026-01-05 10:00:01 ERROR [main] login failed for user=orders password=correcthorse",
        "correcthorse",
    ),
    (
        "JSON secret field",
        '{"level":"debug","msg":"loaded config","db":{"user":"orders","secret":"swordfish"}}',
        "swordfish",
    ),
    (
        "YAML token line",
        "config dump:\n  redis:\n    host: redis-master\n    token: opensesame",
        "opensesame",
    ),
    ("token in a query string", "GET /callback?state=ok&access_token=letmein42&page=2 200", "letmein42"),
    ("password flag", "exec: /app/server --listen :8080 --db-password=trustno1", "trustno1"),
    (
        "high-entropy base64",
        "session: handshake key Zk9vQmFyQmF6UXV4MTIzNDU2Nzg5MGFiY2RlZg accepted",
        "Zk9vQmFyQmF6UXV4",
    ),
    ("high-entropy hex", f"webhook: signing with {HEX_KEY}", HEX_KEY),
    (
        "npm token",
        "npm: //registry.npmjs.org/:_authToken=npm_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
        "npm_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
    ),
    (
        "Vault token",
        "vault: login ok, token hvs.CAESIJx8Lq2ZtW4vB7nM1cY5pD3f",
        "hvs.CAESIJx8Lq2ZtW4vB7nM1cY5pD3f",
    ),
    ("Secret-backed env by name", "startup: SMTP_LOGIN=mailer-prod SMTP_HOST=mail.internal", "mailer-prod"),
]

NEGATIVES = [
    (
        "image ref with digest",
        'Pulling image "registry.example.com/shop/checkout:2.3@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"',
    ),
    (
        "container id",
        "containerID: containerd://4bf92f3577b34da6a3ce929d0e0e47364bf92f3577b34da6a3ce929d0e0e4736",
    ),
    (
        "pod and owner names",
        "Back-off restarting failed container app in pod checkout-7d4b9-x2x9q owned by ReplicaSet/checkout-7d4b9",
    ),
    (
        "node names",
        "Successfully assigned shop/checkout-7d4b9-x2x9q to gke-prod-pool-1-3f2a9c1d-x7kq (ip-10-0-1-23.ec2.internal)",
    ),
    (
        "IPs and ports",
        "dial tcp 10.96.0.12:6379: connect: connection refused; also tried [fd00::12]:6379 and redis-master:26379",
    ),
    ("UUIDs", "pod uid 123e4567-e89b-12d3-a456-426614174000 request_id=7C9E6679-7425-40DE-944B-E07FC1F90AE7"),
    (
        "Kubernetes quantities",
        "Container app exceeded its memory limit 512Mi (used 530Mi); requests cpu=1500m memory=256Mi, 0/3 nodes: 3 Insufficient memory",
    ),
    (
        "normal words",
        "token bucket refilled; secret rotation scheduled; password policy unchanged; bearer of bad news",
    ),
    (
        "Go stack trace",
        "panic: runtime error: invalid memory address or nil pointer dereference\n"
        "[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x6f2c1d]\n\n"
        "goroutine 1 [running]:\n"
        "main.(*OrderService).Checkout(0xc0000a6000, {0x7f8e4c1d2a40, 0xc0001b4000})\n"
        "\t/go/src/github.com/shop/orders/internal/service/order_service.go:112 +0x2a5\n"
        "github.com/shop/orders/internal/httpapi.(*Handler).ServeHTTP(0xc000122a80, {0xa4d2e8, 0xc0002ca1c0}, 0xc000210300)\n"
        "\t/go/src/github.com/shop/orders/internal/httpapi/handler.go:58 +0x1f4\n"
        "exit status 2",
    ),
    (
        "Java stack trace",
        "ERROR [main] o.s.boot.SpringApplication : Application run failed\n"
        "org.springframework.beans.factory.BeanCreationException: Error creating bean with name 'dataSourceScriptDatabaseInitializer'\n"
        "\tat org.springframework.beans.factory.support.AbstractAutowireCapableBeanFactory.initializeBean(AbstractAutowireCapableBeanFactory.java:1786)\n"
        "\tat java.base/sun.nio.ch.Net.connect0(Native Method)\n"
        "Caused by: java.net.ConnectException: Connection refused (orders-db:5432)",
    ),
    (
        "Python traceback",
        "Traceback (most recent call last):\n"
        '  File "/usr/local/lib/python3.11/site-packages/redis/connection.py", line 699, in connect\n'
        "redis.exceptions.ConnectionError: Error 111 connecting to redis:6379. Connection refused.\n"
        "KeyError: 'DB_PASSWORD'",
    ),
    (
        "structured log",
        '2026-01-05T10:00:00.123456Z level=info msg="http server listening" addr=:8080 version=v1.28.3-eks-1234567 '
        "handler=HandleRequestV2Controller path=/api/v1/namespaces/shop/pods",
    ),
    (
        "OOM kill",
        "Memory cgroup out of memory: Killed process 4127 (java) total-vm:8123456kB, anon-rss:2097152kB",
    ),
    (
        "usage text of flags",
        "flag provided but not defined: -db-pass\nUsage of gateway:\n  -db-password string\n    \tdb password\n"
        "usage: gateway [-h] [--db-password DB_PASSWORD] [--api-token API_TOKEN]",
    ),
    (
        "Python source line in a traceback",
        '  File "/app/settings.py", line 8, in <module>\n    db_password = os.environ["DB_PASSWORD"]',
    ),
    (
        "Secret references as JSON",
        '{"volumes":[{"name":"db","secret":{"secretName":"db-creds"}}],"env":[{"name":"DB_PASSWORD",'
        '"valueFrom":{"secretKeyRef":{"key":"password","name":"checkout-db"}}}]}',
    ),
    (
        "Secret reference text",
        "Error: couldn't find key password in Secret shop/checkout-db; secretKeyRef DB_PASSWORD",
    ),
]


async def _evidence_for(log: str) -> Evidence:
    """The crash-looping checkout pod of the seed, logging `log`, investigated without Secret rights."""
    objects, pod, _ = redis_client_cluster()
    pod = copy.deepcopy(pod)
    pod["spec"]["containers"][0]["env"].append(
        {"name": "SMTP_LOGIN", "valueFrom": {"secretKeyRef": {"name": "smtp", "key": "login"}}}
    )
    objects = [pod if o["kind"] == "Pod" else o for o in objects]
    cluster = FakeCluster(
        objects, {(pod["metadata"]["name"], "app", True): log}, forbidden=frozenset({"Secret"})
    )
    ctx = ToolContext(cluster, NS, pod, Redactor())
    await learn_secret_values(cluster, pod, ctx.redactor)
    return await gather(ctx, await owner_chain(cluster, pod), Trigger.CRASH_LOOP_BACK_OFF)


def test_the_corpus_covers_at_least_fifteen_formats() -> None:
    assert len(FORMATS) >= 15


@pytest.mark.parametrize(
    ("log", "secret"), [(log, secret) for _, log, secret in FORMATS], ids=[f[0] for f in FORMATS]
)
async def test_a_logged_secret_never_reaches_the_evidence(log: str, secret: str) -> None:
    log = f"starting orders v2.3\n{log}\nfatal: cannot start, exiting"
    evidence = await _evidence_for(log)
    assert secret not in evidence.logs["app"]
    assert secret not in evidence.observation
    assert "<redacted" in evidence.logs["app"]
    assert "fatal: cannot start, exiting" in evidence.logs["app"]  # the rest of the log is still evidence


@pytest.mark.parametrize("log", [log for _, log in NEGATIVES], ids=[n[0] for n in NEGATIVES])
async def test_diagnostic_log_lines_come_through_untouched(log: str) -> None:
    evidence = await _evidence_for(log)
    assert evidence.logs["app"] == log


async def test_the_redacted_secret_line_keeps_its_diagnosis() -> None:
    evidence = await _evidence_for(
        "db: connecting to postgres://orders:Tr0ub4dor@orders-db.shop.svc:5432/orders\n"
        "FATAL: password authentication failed for user orders"
    )
    assert "postgres://orders:<redacted>@orders-db.shop.svc:5432/orders" in evidence.logs["app"]
    assert "password authentication failed for user orders" in evidence.logs["app"]
