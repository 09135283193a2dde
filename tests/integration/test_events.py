"""/events: image pull, tag, untag and delete events (docker-py streaming and since/until)."""
from __future__ import annotations

import threading
import time

import pytest

from helpers import images as I


def _collect(client, done, out: list, **kw):
    """Read the event stream into `out` until `done(event)` or the stream ends (`until`)."""
    gen = client.events(decode=True, **kw)
    try:
        for ev in gen:
            out.append(ev)
            if done(ev):
                break
    except Exception as e:  # noqa: BLE001 - stream closed
        out.append({"error": repr(e)})
    finally:
        gen.close()


def test_events_stream_image_lifecycle(berthd, reg_http, uniq):
    im = I.busybox_image(labels={"ev": uniq})
    repo = f"ev/{uniq}"
    reg_http.push_image(repo, im)
    ref = reg_http.ref(repo)
    local = f"local/ev-{uniq}:t"
    client = berthd.new_client(version="auto")
    got: list[dict] = []
    done = lambda e: e.get("Action") == "delete" and e.get("Actor", {}).get("ID") == im.id  # noqa: E731
    # `until` bounds the stream: it ends by itself after 45 s even if the delete event never comes
    th = threading.Thread(target=_collect, args=(client, done, got),
                          kwargs={"filters": {"type": "image"}, "until": int(time.time()) + 45}, daemon=True)
    th.start()
    time.sleep(0.5)
    berthd.docker("pull", "-q", ref).check()
    berthd.docker("tag", ref, local).check()
    berthd.docker("rmi", local).check()
    berthd.docker("rmi", ref).check()

    def seen(action, pred=lambda e: True):
        return [e for e in got if e.get("Action") == action and pred(e)]

    th.join(50)
    client.close()
    assert not th.is_alive(), "event stream neither delivered the delete event nor ended at `until`"
    assert all(e.get("Type") == "image" for e in got if "error" not in e), got
    pull = seen("pull", lambda e: e["Actor"]["ID"] == ref)
    assert pull, got
    assert pull[0]["status"] == "pull" and pull[0]["id"] == ref and pull[0]["scope"] == "local"
    assert isinstance(pull[0]["time"], int) and isinstance(pull[0]["timeNano"], int)
    assert seen("tag", lambda e: e["Actor"]["ID"] == im.id and e["Actor"]["Attributes"].get("name") == local), got
    assert seen("untag", lambda e: e["Actor"]["ID"] == im.id), got
    assert seen("delete", lambda e: e["Actor"]["ID"] == im.id), got
    order = [e["Action"] for e in got if e.get("Action") in ("pull", "tag", "untag", "delete")]
    assert order.index("pull") < order.index("tag") < order.index("untag") < order.index("delete"), order


def test_events_since_until_replay(berthd, reg_http, uniq):
    im = I.busybox_image(labels={"ev2": uniq})
    repo = f"ev/replay-{uniq}"
    reg_http.push_image(repo, im)
    ref = reg_http.ref(repo)
    t0 = int(time.time()) - 1
    berthd.docker("pull", "-q", ref).check()
    berthd.docker("tag", ref, f"local/ev2-{uniq}").check()
    time.sleep(1.1)
    t1 = int(time.time()) + 1
    evs = list(berthd.client.events(since=t0, until=t1, decode=True, filters={"type": "image"}))
    acts = [(e["Action"], e["Actor"]["ID"]) for e in evs]
    assert ("pull", ref) in acts and ("tag", im.id) in acts, acts
    # the CLI too
    r = berthd.docker("events", "--since", str(t0), "--until", str(t1), "--filter", "type=image",
                      "--format", "{{.Type}} {{.Action}}", timeout=30)
    assert r.rc == 0, r
    assert "image pull" in r.lines() and "image tag" in r.lines()


def test_exec_events_text_as_dockerd(berthd, pushed, uniq):
    """dockerd writes "exec_create: " + entrypoint + " " + args: a one-word command keeps its trailing space."""
    berthd.docker("pull", "-q", pushed.ref("it/busybox")).check()
    name = f"exev-{uniq}"
    since = int(time.time())
    berthd.docker("run", "-d", "--name", name, pushed.ref("it/busybox"), "sleep", "60").check()
    try:
        berthd.docker("exec", name, "true").check()
        berthd.docker("exec", name, "echo", "a", "b").check()
        evs = berthd.client.events(since=since, until=int(time.time()) + 1, decode=True,
                                   filters={"container": name})
        actions = [e["Action"] for e in evs]
        for a in ("exec_create: true ", "exec_start: true ", "exec_create: echo a b", "exec_start: echo a b"):
            assert a in actions, actions
    finally:
        berthd.docker("rm", "-f", name)
