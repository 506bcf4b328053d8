"""What the command line itself takes and prints: every command's --help (click does not
%-format help text, so a `%%` written to escape a percent sign shows doubled), and arguments past
what the store can hold."""
import click
import pytest

from mbv3bench.cli import main


def _commands(group: click.Group, path: tuple = ()):
    for name, command in group.commands.items():
        yield path + (name,)
        if isinstance(command, click.Group):
            yield from _commands(command, path + (name,))


def test_no_help_prints_a_doubled_percent_sign(cli):
    paths = [(), *_commands(main)]
    assert ("lut", "predict") in paths and len(paths) > 20
    for path in paths:
        code, out, err = cli(*path, "--help")
        assert code == 0 and "--help" in out, (path, err)
        assert "%%" not in out, (path, [line for line in out.splitlines() if "%%" in line])
    code, out, _ = cli("run", "--help")
    assert "95% interval" in " ".join(out.split())   # the one that printed 95%%


@pytest.mark.parametrize("measurement_id, says", [
    ("99999999999999999999999999", "1<=x<=9223372036854775807"),   # was: OverflowError
    ("9223372036854775808", "1<=x<=9223372036854775807"),
    ("9" * 5000, "5,056 characters"),   # click quotes it whole; the message is cut
])
def test_a_measurement_id_past_sqlite_integers_is_one_short_line(cli, tmp_path, measurement_id, says):
    code, out, err = cli("show", measurement_id, "--db", str(tmp_path / "s.sqlite"))
    assert code == 2 and err.startswith("error: mbv3bench show: ") and err.count("\n") == 1, err
    assert says in err and len(err) < 500
    assert not (tmp_path / "s.sqlite").exists()


def test_a_missing_option_with_choices_is_one_line_naming_them(cli, tmp_path):
    code, out, err = cli("table", "--db", str(tmp_path / "s.sqlite"))
    assert code == 2 and err.count("\n") == 1, err
    assert "Missing option '--paper-table'. Choose from: 3, 4, 5, 6, 7" in err
    assert not (tmp_path / "s.sqlite").exists()


def test_the_largest_sqlite_integer_is_an_id_the_store_is_asked_for(cli, tmp_path):
    code, out, err = cli("show", str(2**63 - 1), "--db", str(tmp_path / "s.sqlite"))
    assert code == 2 and "no measurement 9223372036854775807" in err
