"""The README's promises: its examples work as written, its tables list what the code has."""

import re
import subprocess
import sys
from pathlib import Path

import httpx

from app.config import Settings
from app.control.fidelity import markdown_table

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
DEMO_URL = "http://127.0.0.1:8080"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_quick_start_has_exactly_the_two_commands():
    quick_start = README.split("## Quick start")[1].split("###")[0]
    commands = re.findall(r"```bash\n(.*?)```", quick_start, flags=re.S)
    assert [c.strip().endswith(("lse-emulator serve", "pytest")) for c in commands] == [True, True]


def test_ci_runs_the_readme_test_command():
    test_command = blocks("bash")[1].strip()
    assert test_command in (ROOT / ".ci" / "run").read_text()


def test_curl_example_creates_a_run_as_written(lse_url):
    curl = next(b for b in blocks("bash") if b.startswith("curl"))
    command = curl.replace("\\\n", " ").replace(DEMO_URL, lse_url)
    output = subprocess.run(command, shell=True, capture_output=True, text=True, check=True)
    run = httpx.Response(200, content=output.stdout).json()
    assert (run["status"], run["project"], run["project_subset"]) == ("Pending", 1, "All")


def test_sdk_example_runs_to_completion_as_written(lse_url):
    example = next(b for b in blocks("python") if "LabelStudio(" in b)
    result = subprocess.run(
        [sys.executable, "-c", example.replace(DEMO_URL, lse_url)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    status, total, predictions, correct = result.stdout.split()
    assert status in ("Completed", "Failed")
    assert int(total) == 90 and 0 <= int(correct) <= int(predictions) <= int(total)


def test_settings_table_lists_every_setting_with_its_default():
    for name, field in Settings.model_fields.items():
        row = next((line for line in README.splitlines() if line.startswith(f"| `{name}` |")), None)
        assert row is not None, f"setting {name} missing from the README"
        if field.default not in (None, "") and name != "data_dir":
            shown = (
                str(field.default).lower()
                if isinstance(field.default, bool)
                else str(field.default)
            )
            assert f"`{shown}`" in row, f"default of {name} not shown"


def test_fidelity_section_renders_the_served_list():
    assert markdown_table() in README


def test_fidelity_section_holds_the_whole_table_and_nothing_else():
    section = README.split("\n## Fidelity\n")[1].split("\n## ")[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    assert rows == markdown_table().splitlines()
    assert rows[:2] == ["| area | fidelity | note |", "| --- | --- | --- |"]


def test_readme_fixture_is_the_one_the_tests_use():
    fixture = next(b for b in blocks("python") if "def lse_url" in b)
    assert fixture in (ROOT / "tests" / "conftest.py").read_text()
