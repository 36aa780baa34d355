"""Relay: calls posted from worker threads run on the relay's thread, in order."""

from __future__ import annotations

import threading

import shiboken6
from PySide6.QtCore import QObject
from pytestqt.qtbot import QtBot

from app.workers import Relay


def post_from_a_thread(relay: Relay, fn: object, count: int) -> None:
    thread = threading.Thread(target=lambda: [relay.post(fn, i) for i in range(count)])
    thread.start()
    thread.join()


def test_posted_calls_arrive_on_the_gui_thread_in_order(qtbot: QtBot) -> None:
    relay = Relay()
    seen: list[tuple[int, str]] = []
    post_from_a_thread(relay, lambda i: seen.append((i, threading.current_thread().name)), 5)
    assert seen == []  # queued, never run on the posting thread
    qtbot.waitUntil(lambda: len(seen) == 5, timeout=5_000)
    assert seen == [(i, threading.main_thread().name) for i in range(5)]


def test_flush_delivers_now(qapp: object) -> None:
    relay = Relay()
    seen: list[int] = []
    post_from_a_thread(relay, seen.append, 3)
    relay.flush()
    assert seen == [0, 1, 2]


def test_calls_to_a_deleted_qt_object_are_dropped(qapp: object) -> None:
    class Target(QObject):
        def __init__(self) -> None:
            super().__init__()
            self.calls = 0

        def hit(self, _i: int) -> None:
            self.calls += 1

    relay, target = Relay(), Target()
    post_from_a_thread(relay, target.hit, 2)
    shiboken6.delete(target)
    relay.flush()
    assert target.calls == 0
