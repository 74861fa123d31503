"""Progress bars: INFO lines at start, every interval and at the end (with ETA), nested bars do
not log, the terminal bar is drawn only when asked, and the lines reach the ``sieve`` logger
when no sink is given."""

import io
import logging

from ops import progress


def test_top_level_bar_logs_start_progress_with_eta_and_end(monkeypatch):
    monkeypatch.setenv("SIEVE_PROGRESS_LOG_S", "0")  # a line on every update
    lines: list[str] = []
    with progress.reporting(lines.append):
        with progress.bar("rater training", total=4, unit="epoch") as b:
            b.update(note="loss 0.5")
            b.update(2)
    assert lines[0] == "rater training: started, 4 epochs"
    assert lines[1].startswith("rater training: 1/4 epochs (25%)") and "ETA" in lines[1]
    assert lines[1].endswith("- loss 0.5")
    assert lines[2].startswith("rater training: 3/4 epochs (75%)")
    assert lines[-1].startswith("rater training: done, 3/4 epochs in ")


def test_nested_bars_draw_but_only_the_outer_one_logs(monkeypatch):
    monkeypatch.setenv("SIEVE_PROGRESS_LOG_S", "0")
    lines: list[str] = []
    with progress.reporting(lines.append):
        with progress.bar("out-of-fold training", total=2, unit="fold") as outer:
            for _ in range(2):
                with progress.bar("fold", total=3, unit="epoch"):
                    for _ in range(3):
                        progress.advance()  # moves the innermost bar
                outer.update()
    assert lines and all(line.startswith("out-of-fold training") for line in lines)
    assert lines[-1].startswith("out-of-fold training: done, 2/2 folds")


def test_start_close_pushes_and_pops_the_stack():
    lines: list[str] = []
    with progress.reporting(lines.append):
        b = progress.start("judging", total=10, unit="pair")
        progress.advance(4)
        assert b.n == 4
        b.close()
        progress.advance()  # no bar open any more: a no-op
    assert b.n == 4 and lines[-1].startswith("judging: done, 4/10 pairs")


def test_terminal_bar_only_when_asked(monkeypatch):
    stream = io.StringIO()  # not a tty
    with progress.bar("quiet", total=3, stream=stream) as b:
        b.update(3)
    assert stream.getvalue() == ""
    monkeypatch.setenv("SIEVE_PROGRESS", "1")
    with progress.bar("drawn", total=3, stream=stream) as b:
        b.update(3)
    assert "drawn" in stream.getvalue()


def test_lines_go_to_the_sieve_logger_without_a_sink(caplog):
    with caplog.at_level(logging.INFO, logger="sieve.progress"):
        with progress.bar("encoding", total=1) as b:
            b.update()
    assert [r.name for r in caplog.records] == ["sieve.progress", "sieve.progress"]
    assert caplog.records[-1].getMessage().startswith("encoding: done, 1/1 steps")


def test_fmt_seconds():
    assert progress.fmt_seconds(9.24) == "9.2s"
    assert progress.fmt_seconds(75.3) == "1m15s"
    assert progress.fmt_seconds(3725) == "1h02m"
