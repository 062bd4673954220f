from batch_job import stages


def test_timed_records_only_when_enabled():
    stages.enable(False)
    with stages.timed("decode"):
        pass
    assert stages.snapshot() == {}
    stages.enable()
    try:
        for _ in range(3):
            with stages.timed("decode"):
                sum(range(1000))
        seconds, calls = stages.snapshot()["decode"]
        assert calls == 3 and seconds > 0
    finally:
        stages.enable(False)


def test_nested_marks_count_their_time_once(monkeypatch):
    clock = iter([0.0, 1.0, 3.0, 7.0])  # survey starts, decode starts, decode ends, survey ends
    monkeypatch.setattr(stages.time, "perf_counter", lambda: next(clock))
    stages.enable()
    try:
        with stages.timed("survey"), stages.timed("decode"):
            pass
        # The survey's own 5 s, the decode's 2 s: together the 7 s that passed, not 9.
        assert stages.snapshot() == {"decode": (2.0, 1), "survey": (5.0, 1)}
    finally:
        stages.enable(False)


def test_current_names_the_innermost_open_mark():
    stages.enable()
    try:
        assert stages.current() is None
        with stages.timed("detect"):
            with stages.timed("windows"):
                assert stages.current() == "windows"
            assert stages.current() == "detect"
        assert stages.current() is None
    finally:
        stages.enable(False)
