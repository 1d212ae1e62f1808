"""A container's filesystem as its processes see it: the image's files, and the pod's volumes mounted where
the container spec says.

The kubelet (Kubelet._start) builds one per container start with `mount`; the shell (shell.py) and the
image programs (images.py) read and write through it. So `cat` prints a mounted ConfigMap key, `ls` of
the mount lists the keys, a write outside the writable volumes fails on a read-only root filesystem, and
bytes written to an emptyDir of `medium: Memory` (a tmpfs) count toward the container's memory limit.
Writable volumes belong to the pod, not the container: `Filesystem.volumes` hands their contents to the
next start (an init container's output is there for the app container). Only sizes and text are kept,
never real files.

Every change is stamped with `Filesystem.clock`, the writing script's time (seconds after the container
started), so that `as_of` gives the files as they were at any moment of the run: what an exec probe finds
then (`touch /tmp/healthy; sleep 30; rm /tmp/healthy`), or what a sibling container sees in a shared
volume. `fresh` gives the files as they were before the run, for the kubelet to run the script again
when the cluster it waits on changed; `put` is such a change made by another container, and `reads`
the paths a process looked at (what a polling loop waits on, which changes matter to an exec probe).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from . import envvars
from .quantity import parse

DEFAULT_MODE = 0o644  # ConfigMap, Secret and downwardAPI files unless defaultMode or an item's mode says
# Directories every image has, so that `test -d /tmp` or `ls /` answer as on a real container.
STANDARD_DIRS = frozenset(
    {"/", "/bin", "/dev", "/etc", "/home", "/lib", "/mnt", "/opt", "/proc", "/root", "/run", "/sbin", "/srv"}
    | {"/sys", "/tmp", "/usr", "/usr/bin", "/usr/local", "/usr/local/bin", "/usr/sbin", "/var", "/var/log"}
    | {"/var/run", "/var/tmp", "/var/cache", "/var/lib"}
)
DEVICES = frozenset({"/dev/null", "/dev/zero", "/dev/random", "/dev/urandom", "/dev/stdout", "/dev/stderr"})
SERVICE_ACCOUNT_TOKEN = "eyJhbGciOiJSUzI1NiIsImtpZCI6InNhbmRib3gifQ.eyJzdWIiOiJzYW5kYm94In0.c2lnbmF0dXJl"

# Directories of every image's root filesystem that any user may write to (mode 1777); the rest of the
# image belongs to root, so a process running as another uid cannot create files there (EACCES).
WORLD_WRITABLE = ("/tmp", "/var/tmp", "/dev/shm")

# errno names a write can fail with; the programs word them (shell.py STRERROR).
EROFS, ENOENT, ENOSPC, EISDIR, ENOTDIR = "EROFS", "ENOENT", "ENOSPC", "EISDIR", "ENOTDIR"
EACCES = "EACCES"
STRERROR = {
    EROFS: "Read-only file system",
    ENOENT: "No such file or directory",
    ENOSPC: "No space left on device",
    EISDIR: "Is a directory",
    ENOTDIR: "Not a directory",
    EACCES: "Permission denied",
}
ERRNO = {EACCES: 13, ENOENT: 2, EISDIR: 21, ENOTDIR: 20, ENOSPC: 28, EROFS: 30}  # Linux's numbers


@dataclass(frozen=True)
class File:
    content: str = ""
    size: int = 0  # bytes; `dd` writes sizes without content
    mode: int = DEFAULT_MODE

    @classmethod
    def text(cls, content: str, mode: int = DEFAULT_MODE) -> File:
        return cls(content, len(content.encode()), mode)

    @property
    def executable(self) -> bool:
        return bool(self.mode & 0o111)


@dataclass(frozen=True)
class Change:
    """One change to a container's files at `at` (seconds after its start): `path` in the volume named
    `volume` (None: the image's root) became `file`, was removed (None), or was made a `directory`."""

    at: float
    volume: str | None
    path: str
    file: File | None
    directory: bool = False


@dataclass
class Volume:
    """One pod volume: its files by path inside it, and whether and where its writes go."""

    name: str
    files: dict[str, File] = field(default_factory=dict)
    dirs: set[str] = field(default_factory=set)  # directories made inside it (`mkdir`)
    writable: bool = False
    memory: bool = False  # a tmpfs: written pages are charged to the writing container
    size_limit: int | None = None

    def used(self) -> int:
        return sum(f.size for f in self.files.values())

    def is_dir(self, inner: str) -> bool:
        return inner == "" or inner in self.dirs or any(key.startswith(inner + "/") for key in self.files)


@dataclass(frozen=True)
class Mount:
    path: str  # absolute mount point
    volume: Volume
    sub: str = ""  # subPath inside the volume
    read_only: bool = False


class Filesystem:
    """What `open`, `stat` and `readdir` find: mounts first (deepest wins), then the image's root.

    `uid` is the user the processes run as: root (0) writes anywhere on a writable root filesystem, any
    other user only under WORLD_WRITABLE and the directories the image gave to that user (`owned`);
    volumes are writable by all (an emptyDir is mode 0777)."""

    def __init__(
        self,
        image_files: Iterable[str] = (),
        mounts: Iterable[Mount] = (),
        read_only_root: bool = False,
        uid: int | None = 0,
        owned: Iterable[str] = (),
    ) -> None:
        self.root: dict[str, File] = {posixpath.normpath(p): File() for p in image_files}
        self.root_dirs: set[str] = set(STANDARD_DIRS)
        self.mounts = sorted(mounts, key=lambda m: -len(m.path))
        self.read_only_root = read_only_root
        self.uid = uid
        self.owned = tuple(posixpath.normpath(path) for path in owned)
        self.charged = 0  # bytes this start wrote to memory-backed volumes
        self.clock = 0.0  # the writer's time, stamped on each change
        self.changes: list[Change] = []
        self.reads: set[tuple[str | None, str]] = set()  # (volume or None: the root, path) looked up
        self._initial = (
            dict(self.root),
            set(self.root_dirs),
            {m.volume.name: (dict(m.volume.files), set(m.volume.dirs)) for m in self.mounts},
        )

    # -- lookups -----------------------------------------------------------------------------------

    def _locate(self, path: str) -> tuple[Mount | None, str]:
        path = posixpath.normpath(path)
        for mount in self.mounts:
            if path == mount.path or path.startswith(mount.path.rstrip("/") + "/"):
                rest = path[len(mount.path) :].strip("/")
                inner = posixpath.normpath(posixpath.join(mount.sub, rest)) if mount.sub or rest else ""
                return mount, "" if inner == "." else inner
        return None, path

    def _seen(self, mount: Mount | None, inner: str) -> None:
        self.reads.add((mount.volume.name if mount is not None else None, inner))

    def file(self, path: str) -> File | None:
        mount, inner = self._locate(path)
        self._seen(mount, inner)
        if mount is not None:
            return mount.volume.files.get(inner)
        return self.root.get(inner)

    def is_dir(self, path: str) -> bool:
        mount, inner = self._locate(path)
        self._seen(mount, inner)
        if mount is not None:
            return mount.volume.is_dir(inner)
        prefix = inner.rstrip("/") + "/"
        return (
            inner in self.root_dirs
            or any(key.startswith(prefix) for key in self.root)
            or any(m.path.startswith(prefix) for m in self.mounts)
        )

    def exists(self, path: str) -> bool:
        return posixpath.normpath(path) in DEVICES or self.file(path) is not None or self.is_dir(path)

    def listdir(self, path: str) -> list[str]:
        """The names in a directory (hidden `..data` links of projected volumes left out, like `ls`)."""
        mount, inner = self._locate(path)
        self._seen(mount, inner)
        if mount is not None:
            volume = mount.volume
            keys: Iterable[str] = [*volume.files, *volume.dirs]
            prefix = inner + "/" if inner else ""
        else:
            keys = [*self.root, *self.root_dirs, *(m.path for m in self.mounts)]
            prefix = inner.rstrip("/") + "/"
        names = {key[len(prefix) :].split("/")[0] for key in keys if key.startswith(prefix) and key != prefix}
        return sorted(name for name in names if name)

    # -- writes ------------------------------------------------------------------------------------

    def _writable(self, path: str) -> tuple[Mount | None, str, str | None]:
        mount, inner = self._locate(path)
        if mount is None:
            if self.read_only_root:
                return None, inner, EROFS
            return None, inner, None if self._permitted(inner) else EACCES
        if mount.read_only or not mount.volume.writable:
            return mount, inner, EROFS
        return mount, inner, None

    def _permitted(self, path: str) -> bool:
        """Whether the container's user may create `path` on the image's root filesystem."""
        if self.uid == 0:
            return True
        return any(path == top or path.startswith(top + "/") for top in (*WORLD_WRITABLE, *self.owned))

    def write_error(self, path: str) -> str | None:
        """Why a program cannot create files under `path` (a directory it writes to at start): the errno
        name, or None when it can."""
        return None if posixpath.normpath(path) in DEVICES else self._writable(path)[2]

    def writable(self, path: str) -> bool:
        """Whether a program may create files under `path`."""
        return self.write_error(path) is None

    def write(
        self, path: str, content: str = "", size: int | None = None, append: bool = False
    ) -> str | None:
        """Create, truncate or append to a file: None, or the errno name it fails with."""
        if posixpath.normpath(path) in DEVICES:
            return None
        if self.is_dir(path):
            return EISDIR
        mount, inner, error = self._writable(path)
        if error is not None:
            return error
        if mount is not None and not mount.volume.is_dir(posixpath.dirname(inner)):
            return ENOENT
        files = mount.volume.files if mount is not None else self.root
        old = files.get(inner)
        added = len(content.encode()) if size is None else size
        new = File(
            (old.content if append and old else "") + content,
            (old.size if append and old else 0) + added,
            old.mode if old else DEFAULT_MODE,
        )
        error = None
        if mount is not None:
            volume = mount.volume
            free = (
                None
                if volume.size_limit is None
                else volume.size_limit - volume.used() + (old.size if old else 0)
            )
            if free is not None and new.size > free:  # it fills the volume, then fails
                new, error = replace(new, size=max(free, 0)), ENOSPC
            if volume.memory:
                self.charged += max(0, new.size - (old.size if old else 0))
        files[inner] = new
        self._record(mount, inner, new)
        return error

    def mkdir(self, path: str) -> str | None:
        if self.exists(path):
            return None
        mount, inner, error = self._writable(path)
        if error is not None:
            return error
        if mount is None:
            self.root_dirs.add(inner)
        else:
            mount.volume.dirs.add(inner)
        self._record(mount, inner, None, directory=True)
        return None

    def remove(self, path: str) -> str | None:
        mount, inner, error = self._writable(path)
        files = mount.volume.files if mount is not None else self.root
        if inner not in files:
            return ENOENT
        if error is not None:
            return error
        del files[inner]
        self._record(mount, inner, None)
        return None

    def put(self, change: Change) -> None:
        """Another container of the pod changed a volume this one mounts (now, whatever `change.at` says)."""
        if any(m.volume.name == change.volume for m in self.mounts):
            change = replace(change, at=self.clock)
            self._apply(change)
            self.changes.append(change)

    def volumes(self) -> dict[str, dict[str, File]]:
        """The contents of the pod's writable volumes, for the next container that mounts them."""
        return {m.volume.name: dict(m.volume.files) for m in self.mounts if m.volume.writable}

    # -- over time ---------------------------------------------------------------------------------

    def _record(self, mount: Mount | None, inner: str, file: File | None, directory: bool = False) -> None:
        self.changes.append(Change(self.clock, mount.volume.name if mount else None, inner, file, directory))

    def _apply(self, change: Change) -> None:
        volume = next((m.volume for m in self.mounts if m.volume.name == change.volume), None)
        files, dirs = (self.root, self.root_dirs) if volume is None else (volume.files, volume.dirs)
        if change.directory:
            dirs.add(change.path)
        elif change.file is None:
            files.pop(change.path, None)
        else:
            files[change.path] = change.file

    def fresh(self) -> Filesystem:
        """The files as they were before any process of this start changed them."""
        root, root_dirs, contents = self._initial
        volumes = {
            m.volume.name: replace(
                m.volume, files=dict(contents[m.volume.name][0]), dirs=set(contents[m.volume.name][1])
            )
            for m in self.mounts
        }
        copy = Filesystem(
            (),
            [replace(m, volume=volumes[m.volume.name]) for m in self.mounts],
            self.read_only_root,
            self.uid,
            self.owned,
        )
        copy.root, copy.root_dirs = dict(root), set(root_dirs)
        copy._initial = self._initial
        return copy

    def as_of(self, moment: float) -> Filesystem:
        """The files as they were at `moment` (seconds after the start): the changes made until then."""
        copy = self.fresh()
        for change in sorted(self.changes, key=lambda c: c.at):
            if change.at <= moment:
                copy._apply(change)
        return copy


def mount(
    pod: dict,
    container: dict,
    image_files: Iterable[str],
    config_maps: envvars.Lookup,
    secrets: envvars.Lookup,
    earlier: Iterable[dict[str, dict[str, File]]] = (),
    uid: int | None = 0,
    owned: Iterable[str] = (),
) -> Filesystem:
    """The filesystem of one start of `container`: its volumeMounts over the image's files. `earlier`: the
    writable volumes as earlier starts of the pod's containers left them, oldest first; `uid` the user its
    processes run as, `owned` the directories of the image that user owns."""
    carried: dict[str, dict[str, File]] = {}
    for volumes in earlier:
        carried.update(volumes)
    volumes = {
        spec["name"]: _volume(spec, pod, config_maps, secrets, carried)
        for spec in pod["spec"].get("volumes") or []
    }
    mounts = [
        Mount(
            posixpath.normpath(m["mountPath"]),
            volumes[m["name"]],
            m.get("subPath", "").strip("/"),
            bool(m.get("readOnly")),
        )
        for m in container.get("volumeMounts") or []
        if m.get("name") in volumes and m.get("mountPath", "").startswith("/")
    ]
    for m in mounts:
        # The kubelet creates a missing subPath as a directory, in a ConfigMap or Secret volume too: a
        # subPath naming a key the object lacks mounts an empty directory where a file was meant to be.
        if m.sub and m.sub not in m.volume.files and not m.volume.is_dir(m.sub):
            m.volume.dirs.add(m.sub)
    read_only = bool((container.get("securityContext") or {}).get("readOnlyRootFilesystem"))
    return Filesystem(image_files, mounts, read_only_root=read_only, uid=uid, owned=owned)


def _volume(
    spec: dict, pod: dict, config_maps: envvars.Lookup, secrets: envvars.Lookup, carried: dict
) -> Volume:
    name = spec["name"]
    if "emptyDir" in spec:
        source = spec["emptyDir"] or {}
        limit = source.get("sizeLimit")
        return Volume(
            name,
            dict(carried.get(name, {})),
            writable=True,
            memory=source.get("medium") == "Memory",
            size_limit=int(parse(str(limit))) if limit else None,
        )
    projections = {key: spec[key] for key in ("configMap", "secret", "downwardAPI") if key in spec}
    if not projections and "projected" not in spec:
        return Volume(name, dict(carried.get(name, {})), writable=True)  # a disk: PVC, hostPath ...
    sources = (spec.get("projected") or {}).get("sources") or [projections]
    default = int(
        (spec.get("projected") or next(iter(projections.values()), {})).get("defaultMode", DEFAULT_MODE)
    )
    volume = Volume(name)
    namespace = pod["metadata"].get("namespace", "default")
    for source in sources:
        if "configMap" in source or "secret" in source:
            is_map = "configMap" in source
            ref = source["configMap" if is_map else "secret"]
            found = (config_maps if is_map else secrets).get(
                (namespace, ref.get("name" if is_map else "secretName", ref.get("name", "")))
            )
            data = (
                {} if found is None else (envvars.config_map_data if is_map else envvars.secret_data)(found)
            )
            items = ref.get("items") or [{"key": key, "path": key} for key in sorted(data)]
            for item in items:
                if item["key"] in data:
                    volume.files[item["path"]] = File.text(data[item["key"]], int(item.get("mode", default)))
        for item in (source.get("downwardAPI") or {}).get("items") or []:
            volume.files[item["path"]] = File.text(_downward(pod, item), int(item.get("mode", default)))
        if "serviceAccountToken" in source:
            volume.files[source["serviceAccountToken"].get("path", "token")] = File.text(
                SERVICE_ACCOUNT_TOKEN
            )
    return volume


def _downward(pod: dict, item: dict) -> str:
    """A downwardAPI file: labels and annotations as `key="value"` lines, other fields as their value."""
    if "resourceFieldRef" in item:
        ref = item["resourceFieldRef"]
        named = [c for c in pod["spec"].get("containers") or [] if c.get("name") == ref.get("containerName")]
        return envvars.resource_value(named[0] if named else {}, ref)
    path = (item.get("fieldRef") or {}).get("fieldPath", "")
    if path in ("metadata.labels", "metadata.annotations"):
        values = pod["metadata"].get(path.split(".")[1]) or {}
        return "\n".join(f'{key}="{value}"' for key, value in sorted(values.items()))
    return envvars.field_value(pod, path)
