"""The Celery executor: a web app and two real ``scriptman worker`` processes on real PostgreSQL and Redis.

Every process shares one SCRIPTMAN_HOME (the shared-storage decision) and one Redis prefix of the
test's own (the session's Redis is shared by the tests).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from backend.config import Settings
from backend.services import logship
from backend.services.executor.celery_executor import POLL_SECONDS, TASK_NAME, heartbeat_bound
from tests.celery_cluster import GRANDCHILD, Cluster, gone, processes_with_cookie, running_cluster, script_pids
from tests.helpers import create_script, execute, log_text, wait_final, wait_for

TWO_GATES = """
import os, time
first, second = os.environ["GATES"].split()
print("started", flush=True)
while not os.path.exists(first):
    time.sleep(0.02)
print("after the restart", flush=True)
while not os.path.exists(second):
    time.sleep(0.02)
"""
# What a reaper pass may take beyond its 1 s poll on this loaded 2-core machine (a run-end commit,
# listeners): the kill -9 test measures from the lost worker's last heartbeat to the run's end.
REAP_SLACK_SECONDS = 3.0


@pytest.fixture(scope="module")
def cluster(postgres_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One web app and two workers for the module (starting workers costs seconds): its tests share them."""
    with running_cluster(postgres_url, redis_url, tmp_path_factory.mktemp("celery")) as built:
        yield built


def test_celery_without_a_redis_url_is_a_startup_error() -> None:
    with pytest.raises(ValidationError, match="SCRIPTMAN_REDIS_URL"):
        Settings(executor="celery")


def test_python_node_and_bash_runs_succeed_on_the_workers_with_their_output(cluster: Cluster) -> None:
    client, settings = cluster.client, cluster.settings
    health = cluster.health()
    assert health["executor"] == "celery"
    assert {w["name"] for w in health["workers"] if w["alive"]} == {"w1", "w2"}
    params = [{"name": "WHO", "type": "string", "required": True}]
    python = create_script(client, "py", "import os\nprint('hello', os.environ['WHO'])", parameters=params)
    node = create_script(client, "js", "console.log('node says', process.env.WHO)", "javascript", parameters=params)
    bash = create_script(client, "sh", 'echo "bash says $WHO"; echo oops >&2', "shell", parameters=params)
    runs = {name: execute(client, s["id"], {"WHO": name}) for name, s in (("py", python), ("js", node), ("sh", bash))}
    done = {name: wait_final(client, run["id"]) for name, run in runs.items()}
    assert all(d["status"] == "succeeded" for d in done.values()), done
    assert "hello py" in log_text(client, runs["py"]["id"], settings)
    assert "node says js" in log_text(client, runs["js"]["id"], settings)
    assert "bash says sh" in log_text(client, runs["sh"]["id"], settings)
    assert " err oops" in log_text(client, runs["sh"]["id"], settings)
    assert {cluster.row(r["id"]).worker for r in runs.values()} <= {"w1", "w2"}
    assert cluster.health()["queue"]["queued"] == 0


def test_a_second_delivery_of_a_run_does_not_run_it_again(cluster: Cluster) -> None:
    client = cluster.client
    script = create_script(client, "once", "print('ran')")
    run = wait_final(client, execute(client, script["id"])["id"])
    assert run["status"] == "succeeded"
    executor = cluster.app.extensions["scriptman.executor"]
    for _ in range(2):
        executor.celery.send_task(TASK_NAME, args=[run["id"]], queue=executor.keys.queue)
    # a later run finishing means both workers went through their queue past the duplicates
    later = execute(client, script["id"])
    assert wait_final(client, later["id"])["status"] == "succeeded"
    wait_for(lambda: cluster.health()["queue"]["redis_messages"] == 0, message="the duplicates to be consumed")
    assert log_text(client, run["id"], cluster.settings).count(f"run {run['id']} of") == 1
    assert client.get(f"/api/executions/{run['id']}").json["status"] == "succeeded"


def test_timeout_and_cancel_kill_the_whole_process_tree_on_the_worker(cluster: Cluster) -> None:
    client, settings = cluster.client, cluster.settings
    slow = create_script(client, "slow", GRANDCHILD, timeout_seconds=2)
    held = create_script(client, "held", GRANDCHILD)
    timed = execute(client, slow["id"])
    cancelled = execute(client, held["id"])
    wait_for(lambda: "spawned" in log_text(client, cancelled["id"], settings), 60, message="the script to start")
    assert client.post(f"/api/executions/{cancelled['id']}/cancel").status_code == 200
    assert wait_final(client, cancelled["id"])["status"] == "cancelled"
    row = cluster.row(cancelled["id"])
    assert row.pid is not None and row.cookie
    for pid in [row.pid, *script_pids(settings, cancelled["id"])]:  # its supervisor, script and grandchild
        wait_for(lambda pid=pid: gone(pid), 10, message=f"process {pid} of the cancelled run to die")
    # and nothing else of its tree: no process on this machine carries the run's cookie (read from /proc)
    wait_for(lambda: not processes_with_cookie(row.cookie), 10, message="the run's processes to end")
    done = wait_final(client, timed["id"])
    assert done["status"] == "timed_out"
    for pid in script_pids(settings, timed["id"]):
        wait_for(lambda pid=pid: gone(pid), 10, message=f"process {pid} of the timed-out run to die")


def test_failed_runs_are_retried_after_their_delay_and_a_rerun_repeats_the_values(cluster: Cluster) -> None:
    client = cluster.client
    flaky = create_script(client, "flaky", "import sys\nsys.exit(1)", max_retries=1, retry_delay_seconds=1)
    first = wait_final(client, execute(client, flaky["id"])["id"])
    assert first["status"] == "failed"
    retry_id = wait_for(lambda: client.get(f"/api/executions/{first['id']}").json.get("next_attempt_id"))
    retry = wait_final(client, retry_id)
    assert retry["status"] == "failed" and retry["attempt"] == 2 and retry["trigger"] == "retry"
    params = [{"name": "N", "type": "number", "required": True}]
    echo = create_script(client, "echo", "import os\nprint('N is', os.environ['N'])", parameters=params)
    original = wait_final(client, execute(client, echo["id"], {"N": 7})["id"])
    rerun = client.post(f"/api/executions/{original['id']}/rerun", json={})
    assert rerun.status_code == 202, rerun.json
    again = wait_final(client, rerun.json["id"])
    assert again["status"] == "succeeded" and again["params"] == {"N": 7}
    assert "N is 7" in log_text(client, again["id"], cluster.settings)


def test_the_global_and_per_script_caps_hold_across_two_workers(cluster: Cluster) -> None:
    client = cluster.client
    cap = cluster.settings.max_concurrency  # 2, while the two workers have 4 slots between them
    nap = create_script(client, "nap", "import time\ntime.sleep(1)")
    serial = create_script(client, "serial", "import time\ntime.sleep(0.5)", max_concurrent=1)
    ids = [execute(client, nap["id"])["id"] for _ in range(cap + 3)]
    ids += [execute(client, serial["id"])["id"] for _ in range(2)]
    peak = 0
    serial_peak = 0

    def sample() -> bool:
        nonlocal peak, serial_peak
        items = client.get("/api/executions?per_page=100").json["items"]
        mine = [e for e in items if e["id"] in ids]
        running = [e for e in mine if e["status"] == "running"]
        peak = max(peak, len(running))
        serial_peak = max(serial_peak, sum(e["script_id"] == serial["id"] for e in running))
        return len(mine) == len(ids) and all(e["status"] == "succeeded" for e in mine)

    wait_for(sample, 120, interval=0.02, message="every run to finish")
    assert 1 <= peak <= cap
    assert serial_peak == 1
    assert {cluster.row(i).worker for i in ids} <= {"w1", "w2"}


def test_a_worker_killed_mid_run_leaves_it_interrupted_within_the_bound(cluster: Cluster) -> None:
    client, settings = cluster.client, cluster.settings
    executor = cluster.app.extensions["scriptman.executor"]
    script = create_script(client, "long", GRANDCHILD)
    run = execute(client, script["id"])
    wait_for(lambda: "spawned" in log_text(client, run["id"], settings), 60, message="the script to start")
    holder = cluster.row(run["id"]).worker
    assert holder in ("w1", "w2")
    cluster.kill_worker(holder)
    last_beat = float(executor.redis.hget(executor.keys.workers, holder))  # the dead worker writes no more
    done = wait_final(client, run["id"], timeout=60)
    assert done["status"] == "interrupted" and holder in done["error"]
    assert done["worker"] == holder  # the run's page names the worker that held it
    # the bound (3 heartbeats) runs from the worker's last heartbeat, and a reaper pass polls every second:
    # measured on the row's own end time, not on this test's polling
    finished = cluster.row(run["id"]).finished_at
    assert finished is not None
    silent = finished.timestamp() - last_beat
    assert heartbeat_bound(settings) <= silent <= heartbeat_bound(settings) + POLL_SECONDS + REAP_SLACK_SECONDS, silent
    # a worker that never comes back leaves nothing running: the run's supervisor saw its lifeline go stale
    for pid in script_pids(settings, run["id"]):
        wait_for(lambda pid=pid: gone(pid), 30, message=f"process {pid} of the lost worker's run to be stopped")
    assert "the worker holding the run stopped answering" in log_text(client, run["id"], settings)
    cluster.start_worker(holder)  # the module's other tests want two workers


def test_a_worker_restarted_within_the_bound_reattaches_its_run_and_ships_its_log_again(
    postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    # a generous bound (3 x 10 s) so the restart comes back in time on a loaded machine (a worker
    # starts in 3-10 s here); the bound costs nothing when the worker does come back
    with running_cluster(postgres_url, redis_url, tmp_path, ("solo",), worker_heartbeat_seconds=10.0) as built:
        client, settings = built.client, built.settings
        executor = built.app.extensions["scriptman.executor"]
        gates = [tmp_path / "gate-1", tmp_path / "gate-2"]
        script = create_script(client, "hold", TWO_GATES, parameters=[{"name": "GATES", "type": "string"}])
        run = execute(client, script["id"], {"GATES": " ".join(map(str, gates))})
        wait_for(lambda: " out started" in log_text(client, run["id"], settings), 60, message="the script to start")
        built.kill_worker("solo")
        built.start_worker("solo")
        gates[0].touch()  # the line printed now reaches Redis only if the returning worker ships again

        def shipped() -> bool:
            got = logship.read(executor.redis, logship.key_for(settings, run["id"]), 0)
            return any(r.text == "after the restart" for r in got.records)

        wait_for(shipped, 30, message="the re-attached run's new line on its Redis stream")
        assert client.get(f"/api/executions/{run['id']}").json["status"] == "running"
        gates[1].touch()
        done = wait_final(client, run["id"], timeout=60)
        assert done["status"] == "succeeded", done
        assert built.row(run["id"]).worker == "solo"
