"""A detached tmux session as a real terminal for `-it` tests: type a command, read the screen."""
from __future__ import annotations

import subprocess
import time


class TmuxSession:
    def __init__(self, name: str, width: int = 100, height: int = 30):
        self.name = name
        subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", str(width), "-y", str(height)], check=True)

    def send(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def pane(self) -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", self.name], capture_output=True, text=True).stdout

    def wait_for(self, text: str, timeout: float, interval: float = 0.3) -> str:
        """The screen once it shows `text`, or as it is after `timeout` seconds."""
        deadline = time.time() + timeout
        screen = self.pane()
        while time.time() < deadline and text not in screen:
            time.sleep(interval)
            screen = self.pane()
        return screen

    def wait_for_shell_prompt(self) -> None:
        # ash discards input typed before it sets up its line editor: type only once "/ #" shows.
        self.wait_for("/ #", 20, 0.2)
        time.sleep(0.5)

    def kill(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name])
