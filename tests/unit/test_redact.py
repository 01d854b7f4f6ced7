"""Secrets a test marks are shown as [secret] in results and transcripts."""

from __future__ import annotations

from harness.result import REDACTED, CommandResult, redact
from harness.ssh import Transcript


def test_redact_replaces_every_secret_and_the_longest_first() -> None:
    assert redact("pw=abc abcdef", ["abc", "abcdef"]) == f"pw={REDACTED} {REDACTED}"
    assert redact("nothing to hide", ["", "absent"]) == "nothing to hide"


def test_a_result_is_redacted_in_its_command_and_output() -> None:
    result = CommandResult("login -p hunter2", 1, "ok hunter2\n", "bad hunter2\n", 0.1)
    shown = result.redacted(["hunter2"])
    assert (shown.command, shown.stdout, shown.stderr) == (
        "login -p [secret]",
        "ok [secret]\n",
        "bad [secret]\n",
    )
    assert result.redacted([]) is result


def test_a_transcript_renders_what_was_recorded_before_the_secret_was_known_redacted() -> None:
    transcript = Transcript()
    transcript.results.append(CommandResult("echo hunter2", 2, "", "no hunter2 here\n", 0.1))
    transcript.secrets.add("hunter2")
    assert "hunter2" not in transcript.render()
    assert "$ echo [secret]" in transcript.render() and "! no [secret] here" in transcript.render()
