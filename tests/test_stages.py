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
