import json, time, os
def test_hold(berthd, pushed):
    ref = pushed.ref("it/busybox")
    berthd.docker("pull", "-q", ref).check()
    with open("/tmp/berth-hold.env", "w") as f:
        f.write(" ".join(f"{k}={v}" for k, v in berthd.env.items() if k.startswith("DOCKER")) + f" IMG={ref}\n")
    while not os.path.exists("/tmp/berth-hold.stop"):
        time.sleep(1)
