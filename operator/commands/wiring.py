"""How the operator is assembled from its settings: flags override environment, which overrides defaults."""

from __future__ import annotations

import logging
import os
import secrets
from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from smart_sre.api.common import Duration, parse_duration
from smart_sre.k8s.writer import ClusterWriter
from smart_sre.lifecycle.analysis import SidecarInvestigator
from smart_sre.lifecycle.approval import MIN_SEAL_KEY_BYTES, SealKey
from smart_sre.lifecycle.controller import Controller, ControllerSettings
from smart_sre.lifecycle.metrics import Metrics
from smart_sre.lifecycle.notifications import NotificationSettings
from smart_sre.lifecycle.policies import PolicyBook
from smart_sre_inference import lock as lockfile
from smart_sre_inference.client import DEFAULT_URL, URL_ENV

logger = logging.getLogger(__name__)

ENV_PREFIX = "SMART_SRE_"


def default_seal_key_file() -> str:
    """The user's state directory (in the operator's image HOME is /tmp, an emptyDir of its pod)."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return str(Path(state) / "smart-sre" / "seal.key")


class OperatorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    inference_url: str = DEFAULT_URL
    kubeconfig: str | None = None
    max_concurrent_analyses: int = Field(default=2, ge=1, le=64)
    verification_window: str = "2m"
    housekeeping_interval: Duration = Field(
        default="10s", description="how often policy status is refreshed and expired reports are deleted"
    )
    metrics_port: int = Field(default=0, ge=0, le=65535, description="0: metrics are not served")
    models_lock: str | None = None
    seal_key_file: str = Field(
        default_factory=default_seal_key_file,
        description="the key that seals suggestions, created when missing; mount a Secret here to keep it",
    )
    audit_file: str | None = Field(
        default=None,
        description="append each closed report's audit record to this JSON-lines file (e.g. on a PVC)",
    )
    notification_secrets_dir: str = Field(
        default=str(NotificationSettings.secrets_dir),
        description="where webhook bearer tokens are mounted, one Secret per folder: <dir>/<secret>/<key>",
    )
    notification_queue_size: int = Field(
        default=NotificationSettings.queue_size,
        ge=1,
        le=100_000,
        description="notifications waiting per webhook",
    )
    notification_max_attempts: int = Field(
        default=NotificationSettings.max_attempts,
        ge=1,
        le=100,
        description="POSTs per notification before giving up",
    )

    @classmethod
    def from_env(cls, **overrides: object) -> OperatorConfig:
        """SMART_SRE_INFERENCE_URL, SMART_SRE_MAX_CONCURRENT_ANALYSES, SMART_SRE_VERIFICATION_WINDOW, ..."""
        values: dict[str, object] = {}
        for name in cls.model_fields:
            raw = os.environ.get(ENV_PREFIX + name.upper())
            if raw is not None:
                values[name] = raw
        if URL_ENV in os.environ:
            values["inference_url"] = os.environ[URL_ENV]
        kubeconfig = os.environ.get("KUBECONFIG", "")
        if kubeconfig and os.pathsep not in kubeconfig:  # read now: the client read it at import time
            values["kubeconfig"] = kubeconfig
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls.model_validate(values)

    @field_validator("housekeeping_interval")
    @classmethod
    def _positive(cls, value: str) -> str:
        if not parse_duration(value):
            raise ValueError(
                f"the housekeeping interval must be above zero, not {value!r}; write it like 10s"
            )
        return value

    @property
    def verification_timedelta(self) -> timedelta:
        return parse_duration(self.verification_window)

    @property
    def housekeeping_timedelta(self) -> timedelta:
        return parse_duration(self.housekeeping_interval)


def known_models(explicit: str | None) -> frozenset[str] | None:
    """Model names in models.lock, or None (policies are then not judged on their model) if unreadable."""
    path = lockfile.lock_path(explicit)
    try:
        return frozenset(entry.name for entry in lockfile.load(path).models)
    except (OSError, ValueError) as error:
        logger.warning(
            "models.lock unreadable; policy models are not checked",
            extra={"path": str(path), "error": str(error)},
        )
        return None


def load_seal_key(path: Path) -> SealKey:
    """The key in `path`, created there when missing; when it can be neither read nor created, a key
    held in memory only.

    The shipped manifests mount the Secret smart-sre-seal-key at `path` as an optional, read-only
    volume: without the Secret the directory is empty and cannot be written. The operator still runs,
    but the suggestions this pod seals are refused after it restarts, hence the warning.
    """
    try:
        return SealKey.load(path)
    except OSError as error:
        if path.exists():
            raise  # a key is there but unreadable: a broken mount, not a missing Secret
        logger.warning(
            "seal key not found and not creatable; sealing with a key held in memory only: suggestions "
            "awaiting approval are refused after the operator restarts. Create the Secret smart-sre-seal-key "
            "(docs/operator.md) and restart the operator",
            extra={"path": str(path), "error": str(error)},
        )
        return SealKey(secrets.token_hex(MIN_SEAL_KEY_BYTES).encode())


def build_controller(config: OperatorConfig) -> Controller:
    writer = ClusterWriter.from_config(config.kubeconfig)
    metrics = Metrics()
    if config.metrics_port:
        metrics.serve(config.metrics_port)
    investigator = SidecarInvestigator(writer, config.inference_url)
    return Controller(
        writer,
        PolicyBook(known_models=known_models(config.models_lock)),
        metrics,
        investigator,
        ControllerSettings(
            max_concurrent_analyses=config.max_concurrent_analyses,
            verification_window=config.verification_timedelta,
            housekeeping_seconds=config.housekeeping_timedelta.total_seconds(),
            audit_file=Path(config.audit_file) if config.audit_file else None,
            notifications=NotificationSettings(
                secrets_dir=Path(config.notification_secrets_dir),
                queue_size=config.notification_queue_size,
                max_attempts=config.notification_max_attempts,
            ),
        ),
        seal_key=load_seal_key(Path(config.seal_key_file)),
    )
