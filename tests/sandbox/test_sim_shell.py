"""What a container's command does in the sandbox: shell scripts, tools, interpreters and the container's
files, worded like busybox, dash, bash and the real runtimes (sim/shell.py, sim/files.py)."""

from __future__ import annotations

import base64

import pytest

from smart_sre_sandbox.sim import envvars, files
from smart_sre_sandbox.sim.images import Catalogue, Container, Epoch, ImageSpec, Run
from smart_sre_sandbox.sim.network import Network, Outcome, cluster_first
from smart_sre_sandbox.sim.shell import exec_in, first_changed, run

CATALOGUE = Catalogue()
MIB = 2**20
CONFIG = {
    ("shop", "app-config"): {
        "data": {
            "app.conf": "port=8080\nmode=fast\n",
            "run.sh": "#!/bin/sh\necho from script\nmigrate\nexit 4\n",
        }
    }
}
SECRETS = {("shop", "db"): {"data": {"password": base64.b64encode(b"s3cret").decode()}}}


def pod(*volumes: dict, uid: str = "u1") -> dict:
    return {
        "metadata": {"name": "api-0", "namespace": "shop", "uid": uid, "labels": {"app": "api"}},
        "spec": {"volumes": list(volumes), "containers": []},
    }


def start(
    image: str,
    command: list[str] | None = None,
    *,
    args: list[str] | None = None,
    env: dict[str, str] | None = None,
    memory_mib: int | None = None,
    pod_spec: dict | None = None,
    container: dict | None = None,
    earlier: list | None = None,
    network: Network | None = None,
    later: list[Epoch] | None = None,
) -> Run:
    spec = CATALOGUE.lookup(image)
    assert spec is not None, image
    filesystem = files.mount(pod_spec or pod(), container or {}, spec.files, CONFIG, SECRETS, earlier or [])
    started = Container(
        "app",
        image,
        command or [],
        args or [],
        env or {},
        memory_mib * MIB if memory_mib else None,
        "shop",
        "10.244.1.4",
        files=filesystem,
        hostname="api-0",
    )
    return run(spec, started, network or Network([], [], {}), later or [])


def output(result: Run) -> list[str]:
    return result.logs + result.exit_logs


def test_lists_run_in_order_with_and_or_and_exit_codes() -> None:
    result = start(
        "busybox:1.36", ["sh", "-c", "true && echo yes || echo no; false && echo yes || echo no; exit 3"]
    )
    assert (output(result), result.exit_code) == (["yes", "no"], 3)


def test_variables_expand_from_the_container_env_and_quoting_is_honoured() -> None:
    script = "echo $GREETING ${GREETING}! ${UNSET:-fallback} [$UNSET] '$GREETING' \"a  b\" $HOSTNAME"
    result = start("busybox:1.36", ["sh", "-c", script], env={"GREETING": "hello"})
    assert output(result) == ["hello hello! fallback [] $GREETING a  b api-0"]


def test_kubernetes_expands_var_references_in_command_before_the_shell_sees_them() -> None:
    env = {"NAME": "world"}
    assert (
        envvars.expand("echo $(NAME) $(MISSING) $$(NAME) $$HOME", env)
        == "echo world $(MISSING) $(NAME) $HOME"
    )


@pytest.mark.parametrize(
    ("image", "command", "message"),
    [
        ("busybox:1.36", ["sh", "-c", "python3 app.py"], "sh: python3: not found"),
        ("debian:12", ["/bin/sh", "-c", "python3 app.py"], "/bin/sh: 1: python3: not found"),  # dash
        ("debian:12", ["bash", "-c", "python3 app.py"], "bash: line 1: python3: command not found"),
    ],
)
def test_a_command_the_image_lacks_fails_at_once_with_127_in_the_shells_wording(
    image: str, command: list[str], message: str
) -> None:
    result = start(image, command)
    assert (result.logs, result.exit_code, result.exit_after) == ([message], 127, 0.1)


def test_a_command_that_is_no_program_of_the_image_fails_to_start_like_runc_says() -> None:
    assert "executable file not found in $PATH" in (
        start("busybox:1.36", ["python3", "app.py"]).start_error or ""
    )
    missing = start("busybox:1.36", ["/app/run.sh"]).start_error or ""
    assert 'exec: "/app/run.sh": stat /app/run.sh: no such file or directory' in missing


def test_sleep_infinity_tail_f_and_loops_that_never_change_keep_the_container_running() -> None:
    for command in (
        ["sleep", "infinity"],
        ["tail", "-f", "/dev/null"],
        ["sh", "-c", "while true; do echo tick; sleep 5; done"],
    ):
        assert start("busybox:1.36", command).exit_after is None
    assert output(start("busybox:1.36", ["sh", "-c", "while true; do echo tick; sleep 5; done"])) == ["tick"]
    counted = start(
        "busybox:1.36", ["sh", "-c", "i=0; while [ $i -lt 3 ]; do echo $i; i=$((i+1)); sleep 1; done"]
    )
    assert (counted.logs, counted.exit_logs, counted.exit_after, counted.exit_code) == (
        ["0"],
        ["1", "2"],
        3.1,
        0,
    )


def test_substitution_pipes_loops_and_parameter_operators() -> None:
    script = (
        'name=$(hostname); echo "pod $name"; for f in a b; do echo $f; done | grep -c .; '
        "path=/etc/app/app.conf; echo ${path##*/} ${path%/*} ${#path}; echo $((6 * 7))"
    )
    assert output(start("busybox:1.36", ["sh", "-c", script])) == [
        "pod api-0",
        "2",
        "app.conf /etc/app 17",
        "42",
    ]


def test_background_jobs_run_alongside_and_wait_waits_for_them() -> None:
    finite = start("busybox:1.36", ["sh", "-c", "sleep 2 & echo started; wait; echo done"])
    assert (finite.logs, finite.exit_logs, finite.exit_after) == (["started"], ["done"], 2.1)
    ended = start("busybox:1.36", ["sh", "-c", "sleep infinity & echo started"])
    assert ended.exit_after == 0.1  # the shell exits: the container ends and takes the job with it
    server = start("nginx:1.27", ["sh", "-c", "nginx -g 'daemon off;' & echo started; wait"])
    assert (server.exit_after, set(server.ports)) == (None, {80})


def test_nginx_started_without_daemon_off_forks_and_its_process_exits_0() -> None:
    assert start("nginx:1.27", ["nginx", "-g", "daemon off;"]).exit_after is None
    forked = start("nginx:1.27", ["nginx"])
    assert (forked.exit_code, forked.exit_after) == (0, 0.1)
    kept = start("nginx:1.27", ["sh", "-c", "nginx; sleep infinity"])
    assert (kept.exit_after, set(kept.ports)) == (None, {80})


def test_env_and_printenv_print_the_containers_environment() -> None:
    result = start(
        "busybox:1.36",
        ["sh", "-c", "env | grep ^MODE=; printenv MODE; printenv NOPE || echo unset"],
        env={"MODE": "fast"},
    )
    assert output(result) == ["MODE=fast", "fast", "unset"]
    listed = output(start("busybox:1.36", ["env"], env={"MODE": "fast"}))
    assert {"MODE=fast", "HOSTNAME=api-0", "HOME=/root"} <= set(listed)
    assert any(line.startswith("PATH=") for line in listed)


@pytest.mark.parametrize(
    ("image", "command", "lines", "code"),
    [
        (
            "python:3.12-slim",
            ["python", "/app/main.py"],
            ["python: can't open file '/app/main.py': [Errno 2] No such file or directory"],
            2,
        ),
        (
            "python:3.12-slim",
            ["python3", "main.py"],
            ["python3: can't open file '/main.py': [Errno 2] No such file or directory"],
            2,
        ),
        (
            "eclipse-temurin:21",
            ["java", "-jar", "/app/x.jar"],
            ["Error: Unable to access jarfile /app/x.jar"],
            1,
        ),
        ("busybox:1.36", ["sh", "/script.sh"], ["sh: can't open '/script.sh': No such file or directory"], 2),
        ("debian:12", ["bash", "/script.sh"], ["bash: /script.sh: No such file or directory"], 127),
    ],
)
def test_an_interpreter_given_a_missing_file_fails_with_its_own_message(
    image: str, command: list[str], lines: list[str], code: int
) -> None:
    result = start(image, command)
    assert (output(result), result.exit_code) == (lines, code)


def test_node_prints_its_module_not_found_block() -> None:
    result = start("node:20-alpine", ["node", "/app/x.js"])
    assert "Error: Cannot find module '/app/x.js'" in result.logs
    assert "  code: 'MODULE_NOT_FOUND'," in result.logs
    assert result.exit_code == 1


CONFIG_VOLUME = {"name": "config", "configMap": {"name": "app-config"}}
CONFIG_MOUNT = {"volumeMounts": [{"name": "config", "mountPath": "/etc/app"}]}


def test_config_map_keys_are_files_cat_ls_and_test_see() -> None:
    script = "cat /etc/app/app.conf; ls /etc/app; test -f /etc/app/app.conf && echo file; [ -d /etc/app ] && echo dir"
    result = start("busybox:1.36", ["sh", "-c", script], pod_spec=pod(CONFIG_VOLUME), container=CONFIG_MOUNT)
    assert output(result) == ["port=8080", "mode=fast", "app.conf", "run.sh", "file", "dir"]
    missing = start("busybox:1.36", ["cat", "/etc/app/app.conf"])
    assert output(missing) == ["cat: can't open '/etc/app/app.conf': No such file or directory"]
    assert missing.exit_code == 1


def test_items_sub_paths_and_secrets_place_files_where_the_spec_says() -> None:
    volumes = (
        {
            "name": "config",
            "configMap": {"name": "app-config", "items": [{"key": "app.conf", "path": "conf/app.ini"}]},
        },
        {"name": "db", "secret": {"secretName": "db"}},
    )
    mounts = {
        "volumeMounts": [
            {"name": "config", "mountPath": "/etc/app"},
            {"name": "config", "mountPath": "/srv/app.ini", "subPath": "conf/app.ini"},
            {"name": "db", "mountPath": "/var/run/secrets/db", "readOnly": True},
        ]
    }
    script = "ls /etc/app/conf; head -n 1 /srv/app.ini; cat /var/run/secrets/db/password; echo"
    result = start("busybox:1.36", ["sh", "-c", script], pod_spec=pod(*volumes), container=mounts)
    assert output(result) == ["app.ini", "port=8080", "s3cret"]  # the secret has no final newline


def test_a_script_from_a_config_map_is_interpreted_and_needs_its_mode_to_run_directly() -> None:
    spec, mount = pod(CONFIG_VOLUME), CONFIG_MOUNT
    result = start("busybox:1.36", ["sh", "/etc/app/run.sh"], pod_spec=spec, container=mount)
    assert (output(result), result.exit_code) == (
        ["from script", "/etc/app/run.sh: line 3: migrate: not found"],
        4,
    )
    denied = start("busybox:1.36", ["/etc/app/run.sh"], pod_spec=spec, container=mount)
    assert 'exec: "/etc/app/run.sh": permission denied' in (denied.start_error or "")
    executable = pod({"name": "config", "configMap": {"name": "app-config", "defaultMode": 0o755}})
    direct = start("busybox:1.36", ["/etc/app/run.sh"], pod_spec=executable, container=mount)
    assert direct.exit_code == 4


def test_an_interpreter_given_a_mounted_file_runs_it_as_an_app_that_keeps_running() -> None:
    spec = pod(CONFIG_VOLUME)
    assert (
        start(
            "python:3.12", ["python", "/etc/app/app.conf"], pod_spec=spec, container=CONFIG_MOUNT
        ).exit_after
        is None
    )


READ_ONLY = {"securityContext": {"readOnlyRootFilesystem": True}}


@pytest.mark.parametrize(
    ("image", "lines"),
    [
        (
            "busybox:1.36",
            [
                "sh: can't create /data.txt: Read-only file system",
                "touch: /ready: Read-only file system",
                "dd: can't open '/fill': Read-only file system",
            ],
        ),
        (
            "debian:12",
            [
                "sh: 1: cannot create /data.txt: Read-only file system",
                "touch: cannot touch '/ready': Read-only file system",
                "dd: failed to open '/fill': Read-only file system",
            ],
        ),
    ],
)
def test_a_read_only_root_filesystem_refuses_writes_outside_volumes(image: str, lines: list[str]) -> None:
    script = "echo x > /data.txt; touch /ready; dd if=/dev/zero of=/fill bs=1M count=1; echo x > /tmp/ok && echo written"
    volume = {"name": "tmp", "emptyDir": {}}
    container = {**READ_ONLY, "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}]}
    result = start(image, ["sh", "-c", script], pod_spec=pod(volume), container=container)
    assert output(result) == [*lines, "written"]


def test_nginx_crashes_on_a_read_only_root_unless_its_paths_are_volumes() -> None:
    crashed = start("nginx:1.27", container=READ_ONLY)
    assert crashed.exit_code == 1
    assert (
        'nginx: [emerg] mkdir() "/var/cache/nginx/client_temp" failed (30: Read-only file system)'
        in crashed.exit_logs
    )
    assert (
        "10-listen-on-ipv6-by-default.sh: info: can not modify /etc/nginx/conf.d/default.conf "
        "(read-only file system?)" in crashed.logs
    )
    volumes = ({"name": "cache", "emptyDir": {}}, {"name": "run", "emptyDir": {}})
    cache_only = {**READ_ONLY, "volumeMounts": [{"name": "cache", "mountPath": "/var/cache/nginx"}]}
    no_pid = start("nginx:1.27", pod_spec=pod(*volumes), container=cache_only)
    assert 'nginx: [emerg] open() "/var/run/nginx.pid" failed (30: Read-only file system)' in no_pid.exit_logs
    both = {
        **cache_only,
        "volumeMounts": [*cache_only["volumeMounts"], {"name": "run", "mountPath": "/var/run"}],
    }
    served = start("nginx:1.27", pod_spec=pod(*volumes), container=both)
    assert (served.exit_after, set(served.ports)) == (None, {80})


FILL = ["sh", "-c", "dd if=/dev/zero of=/cache/fill bs=1M count=100 && echo filled; sleep infinity"]
CACHE_MOUNT = {"volumeMounts": [{"name": "cache", "mountPath": "/cache"}]}


def test_bytes_written_to_a_memory_empty_dir_count_toward_the_memory_limit() -> None:
    memory = pod({"name": "cache", "emptyDir": {"medium": "Memory"}})
    killed = start("busybox:1.36", FILL, pod_spec=memory, container=CACHE_MOUNT, memory_mib=64)
    assert (killed.exit_code, killed.oom_killed) == (137, True)
    roomy = start("busybox:1.36", FILL, pod_spec=memory, container=CACHE_MOUNT, memory_mib=256)
    assert roomy.exit_after is None
    assert "104857600 bytes (100.0MB) copied" in output(roomy)[2]
    disk = start(
        "busybox:1.36",
        FILL,
        pod_spec=pod({"name": "cache", "emptyDir": {}}),
        container=CACHE_MOUNT,
        memory_mib=64,
    )
    assert disk.exit_after is None  # the page cache of a disk is reclaimed, never OOM-killed


def test_a_size_limited_memory_empty_dir_fills_up_before_the_limit() -> None:
    limited = pod({"name": "cache", "emptyDir": {"medium": "Memory", "sizeLimit": "10Mi"}})
    full = start("busybox:1.36", FILL, pod_spec=limited, container=CACHE_MOUNT, memory_mib=256)
    assert "dd: error writing '/cache/fill': No space left on device" in output(full)
    assert "filled" not in output(full)


def test_empty_dir_contents_outlive_the_container_that_wrote_them() -> None:
    shared = pod({"name": "work", "emptyDir": {}})
    mount = {"volumeMounts": [{"name": "work", "mountPath": "/work"}]}
    init = start("busybox:1.36", ["sh", "-c", "echo ready > /work/flag"], pod_spec=shared, container=mount)
    app = start(
        "busybox:1.36",
        ["cat", "/work/flag"],
        pod_spec=shared,
        container=mount,
        earlier=[init.volumes_at(1.0)],
    )
    assert output(app) == ["ready"]


def test_missing_config_map_keys_block_the_mount_with_the_kubelets_wording() -> None:
    items = {"name": "config", "configMap": {"name": "app-config", "items": [{"key": "nope", "path": "x"}]}}
    assert envvars.missing_volume(pod(items), CONFIG, SECRETS) == (
        "config",
        "configmap references non-existent config key: nope",
    )


@pytest.mark.parametrize(
    ("security", "message"),
    [
        (
            {"runAsNonRoot": True},
            'container has runAsNonRoot and image will run as root (pod: "api-0_shop(u1)", container: app)',
        ),
        (
            {"runAsNonRoot": True, "runAsUser": 0},
            'container\'s runAsUser breaks non-root policy (pod: "api-0_shop(u1)", container: app)',
        ),
        ({"runAsNonRoot": True, "runAsUser": 1000}, None),
        ({}, None),
    ],
)
def test_run_as_non_root_refuses_an_image_that_runs_as_root(security: dict, message: str | None) -> None:
    container = {"name": "app", "securityContext": security}
    if message is None:
        envvars.check_non_root(pod(), container, "", "api-0_shop(u1)")
        return
    with pytest.raises(envvars.ConfigError) as refused:
        envvars.check_non_root(pod(), container, "", "api-0_shop(u1)")
    assert str(refused.value) == message


def test_a_pod_level_run_as_non_root_applies_and_a_named_image_user_cannot_be_verified() -> None:
    spec = {**pod(), "spec": {"securityContext": {"runAsNonRoot": True}, "containers": []}}
    with pytest.raises(envvars.ConfigError, match="image has non-numeric user \\(nginx\\), cannot verify"):
        envvars.check_non_root(spec, {"name": "app"}, "nginx", "api-0_shop(u1)")
    envvars.check_non_root(spec, {"name": "app"}, "101", "api-0_shop(u1)")


def test_syntax_errors_are_worded_by_each_shell() -> None:
    assert output(start("busybox:1.36", ["sh", "-c", "echo 'open"])) == [
        "sh: syntax error: unterminated quoted string"
    ]
    assert output(start("debian:12", ["sh", "-c", "fi"])) == ['sh: 1: Syntax error: "fi" unexpected']
    assert start("debian:12", ["sh", "-c", "fi"]).exit_code == 2


def test_downward_api_files_hold_the_pods_labels_and_fields() -> None:
    volume = {
        "name": "podinfo",
        "downwardAPI": {
            "items": [
                {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
            ]
        },
    }
    mounts = {"volumeMounts": [{"name": "podinfo", "mountPath": "/etc/podinfo"}]}
    script = "cat /etc/podinfo/labels; echo; cat /etc/podinfo/name"
    assert output(start("busybox:1.36", ["sh", "-c", script], pod_spec=pod(volume), container=mounts)) == [
        'app="api"',
        "api-0",
    ]


# -- scripts over time ------------------------------------------------------------------------------

DB_SERVICE = {
    "metadata": {"namespace": "shop", "name": "db"},
    "spec": {"clusterIP": "10.96.7.7", "ports": [{"port": 5432}]},
}
DB_ENDPOINTS = {
    "metadata": {"namespace": "shop", "name": "db"},
    "subsets": [{"addresses": [{"ip": "10.244.2.5"}], "ports": [{"port": 5432}]}],
}
DB_UP = Network([DB_SERVICE], [DB_ENDPOINTS], {"10.244.2.5": {5432}})


def test_lines_carry_the_time_the_script_printed_them() -> None:
    result = start("busybox:1.36", ["sh", "-c", "echo a; sleep 5; echo b; sleep 2.5; echo c; sleep infinity"])
    assert (result.logs, result.timed, result.exit_after) == (["a"], [(5.0, "b"), (7.5, "c")], None)
    assert result.lines_between(0.0, 6.0) == ["b"]
    assert result.next_line(5.0) == 7.5
    background = start("busybox:1.36", ["sh", "-c", "(sleep 10; echo late) & echo main"])
    assert (output(background), background.exit_after) == (["main"], 0.1)  # the job dies with the shell


def test_a_loop_that_changes_nothing_repeats_its_round_for_ever() -> None:
    beat = start("busybox:1.36", ["sh", "-c", "echo up; while true; do echo tick; sleep 5; done"])
    assert (output(beat), beat.exit_after) == (["up", "tick"], None)
    [cycle] = beat.cycles
    assert (cycle.first, cycle.period, cycle.lines, cycle.watches) == (5.0, 5.0, ((0.0, "tick"),), ())
    assert beat.lines_between(0.0, 20.0) == ["tick"] * 4  # at 5, 10, 15 and 20 s
    assert beat.next_line(20.0) == 25.0


def test_a_polling_loop_records_what_it_waits_on_and_notices_the_change_when_run_again() -> None:
    wait = "until nc -z db 5432; do echo waiting for db; sleep 2; done; echo connected"
    waiting = start("busybox:1.36", ["sh", "-c", wait])
    assert waiting.exit_after is None
    [cycle] = waiting.cycles
    assert (cycle.first, cycle.period, cycle.lines) == (
        2.0,
        2.0,
        ((0.0, "nc: bad address 'db'"), (0.0, "waiting for db")),
    )
    [(question, answer)] = cycle.watches
    assert (question, answer.outcome) == (
        ("dial", cluster_first("shop"), "db", 5432, "10.244.1.4"),
        Outcome.NO_SUCH_HOST,
    )
    expected = waiting.expected(7.0)  # from its round at 8 s on, it counts on the database being absent
    assert {at for at, _, _ in expected} == {8.0}
    assert first_changed(expected, Network([], [], {}), (), set) is None
    assert first_changed(expected, DB_UP, (), set) == 8.0
    assert waiting.next_question(8.0) == 10.0
    # Run again with the database up from the round at 10 s: the same until then, connected after.
    again = start("busybox:1.36", ["sh", "-c", wait], later=[Epoch(cycle.start_of(4), DB_UP)])
    assert again.logs + again.lines_between(0.0, 9.9) == waiting.logs + waiting.lines_between(0.0, 9.9)
    assert (again.exit_after, again.exit_code, again.exit_logs[-1]) == (10.1, 0, "connected")
    assert again.exit_logs.count("waiting for db") == 4


def test_a_loop_waiting_for_a_file_of_a_shared_volume_watches_it() -> None:
    volume = {"name": "shared", "emptyDir": {}}
    mounts = {"volumeMounts": [{"name": "shared", "mountPath": "/shared"}]}
    wait = ["sh", "-c", "until [ -f /shared/ready ]; do sleep 1; done; cat /shared/ready"]
    waiting = start("busybox:1.36", wait, pod_spec=pod(volume), container=mounts)
    [cycle] = waiting.cycles
    assert (("file", "shared", "ready"), None) in cycle.watches
    expected, quiet = waiting.expected(0.0), Network([], [], {})
    assert first_changed(expected, quiet, (), lambda: {("shared", "ready")}) == 1.0
    assert first_changed(expected, quiet, (), lambda: {("shared", "other")}) is None
    written = files.Change(6.0, "shared", "ready", files.File.text("go\n"))
    done = start(
        "busybox:1.36",
        wait,
        pod_spec=pod(volume),
        container=mounts,
        later=[Epoch(6.0, Network([], [], {}), (written,))],
    )
    assert (done.exit_after, done.exit_logs) == (6.1, ["go"])


def test_the_files_of_a_run_are_known_at_every_moment() -> None:
    demo = start(
        "busybox:1.36", ["/bin/sh", "-c", "touch /tmp/healthy; sleep 30; rm -f /tmp/healthy; sleep 600"]
    )
    assert demo.files is not None
    assert [demo.files.as_of(moment).exists("/tmp/healthy") for moment in (0.0, 29.9, 30.0)] == [
        True,
        True,
        False,
    ]
    assert not demo.files.fresh().exists("/tmp/healthy")


def test_an_exec_in_a_running_container_answers_like_the_runtime() -> None:
    image = CATALOGUE.lookup("busybox:1.36")
    assert image is not None
    inside = Container("app", "busybox:1.36", [], [], {}, None, "shop", "10.244.1.4")
    quiet = Network([], [], {})
    assert exec_in(image, inside, quiet, ["cat", "/tmp/healthy"], 1.0) == (
        1,
        "cat: can't open '/tmp/healthy': No such file or directory",
    )
    assert exec_in(image, inside, quiet, ["sh", "-c", "echo ok; exit 3"], 1.0) == (3, "ok")
    assert exec_in(image, inside, quiet, ["sh", "-c", "sleep 5"], 1.0) == (
        1,
        'command "sh -c sleep 5" timed out',
    )
    missing = exec_in(image, inside, quiet, ["pg_isready"], 1.0)
    assert missing[0] == 126
    assert missing[1].startswith("OCI runtime exec failed: exec failed: unable to start container process: ")
    assert exec_in(image, inside, DB_UP, ["nc", "-z", "db", "5432"], 1.0) == (0, "")


def test_a_slow_starting_program_prints_its_started_line_when_it_serves() -> None:
    slow = ImageSpec(repository="acme/api", tags=["1"], language="go", start_seconds=40)
    started = run(
        slow, Container("app", "acme/api:1", [], [], {}, None, "shop", "10.244.1.4"), Network([], [], {})
    )
    assert started.logs == ['level=info msg="starting api" version=1']
    assert started.timed == [(40.0, 'level=info msg="http server listening" addr=:8080')]
    assert (started.serves_from, started.exit_after) == (40.0, None)
    scripted = run(
        slow,
        Container("app", "acme/api:1", ["sh", "-c", "sleep 5; exec app"], [], {}, None, "shop", "10.244.1.4"),
        Network([], [], {}),
    )
    assert (scripted.serves_from, scripted.timed[-1][0]) == (45.0, 45.0)


def test_a_server_started_after_a_wait_serves_from_when_it_started() -> None:
    wrapper = ["sh", "-c", "until nslookup db; do sleep 2; done; exec nginx -g 'daemon off;'"]
    waiting = start("nginx:1.27", wrapper)
    assert (waiting.exit_after, waiting.ports) == (None, {})
    served = start("nginx:1.27", wrapper, later=[Epoch(7.0, DB_UP)])  # the round at 8 s resolves db
    assert (served.exit_after, set(served.ports), served.serves_from) == (None, {80}, 8.0)


@pytest.mark.parametrize(
    "command",
    [
        "nc -z -w 2 db 5432",
        "nc -w 2 -z db 5432",
        "wget -T 3 -O /dev/null http://db:5432/",
        "wget -q -T 3 -O- http://db:5432/",
    ],
)
def test_an_option_s_value_is_not_taken_for_the_host_or_port(command: str) -> None:
    """`nc -z -w 2 db 5432` dials db:5432, as busybox does; the 2 is the timeout, not the host."""
    [cycle] = start("busybox:1.36", ["sh", "-c", f"until {command}; do sleep 2; done"]).cycles
    [(question, _)] = cycle.watches
    assert question[:4] == ("dial", cluster_first("shop"), "db", 5432)
