"""A bandwidth-limited TCP forwarder on 127.0.0.1 (to make pulls slow enough to interrupt)."""
from __future__ import annotations

import socket
import threading
import time


class SlowProxy:
    """Forwards 127.0.0.1:<port> -> target, server->client throttled to `rate` bytes/s per connection."""

    def __init__(self, target_port: int, rate: int = 1 << 20, target_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self.rate = rate
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(64)
        self.port = self.ls.getsockname()[1]
        self._stop = threading.Event()
        self._socks: list[socket.socket] = []
        self.bytes_down = 0
        threading.Thread(target=self._accept, daemon=True, name="slow-proxy").start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self):
        while not self._stop.is_set():
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(self.target, timeout=10)
            except OSError:
                c.close()
                continue
            self._socks += [c, u]
            threading.Thread(target=self._pump, args=(c, u, None), daemon=True).start()
            threading.Thread(target=self._pump, args=(u, c, self.rate), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, rate: int | None):
        chunk = 16384 if rate is None else max(1024, min(65536, rate // 20))
        t0, sent = time.monotonic(), 0
        try:
            while not self._stop.is_set():
                data = src.recv(chunk)
                if not data:
                    break
                dst.sendall(data)
                if rate:
                    self.bytes_down += len(data)
                    sent += len(data)
                    ahead = sent / rate - (time.monotonic() - t0)
                    if ahead > 0:
                        time.sleep(ahead)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self):
        self._stop.set()
        self.ls.close()
        for s in self._socks:
            try:
                s.close()
            except OSError:
                pass
