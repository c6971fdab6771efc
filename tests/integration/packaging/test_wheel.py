"""The built wheel carries everything a non-editable install needs at run time.

An editable install reads files straight from the checkout, so a missing package-data entry
only shows up for users who ``pip install crowdclean``: build the real wheel and look inside.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def wheel_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[zipfile.ZipFile, str]:
    out = tmp_path_factory.mktemp("wheel")
    build = tmp_path_factory.mktemp("build")
    # Build from a copy so the checkout gets no build/ or egg-info litter.
    subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", "-o", str(build / "src.tar"), "HEAD"],
        check=True,
    )
    src = build / "src"
    src.mkdir()
    subprocess.run(["tar", "xf", str(build / "src.tar"), "-C", str(src)], check=True)
    # Overlay the working tree's packaging inputs so uncommitted edits are what gets tested.
    for rel in ["pyproject.toml", *_tracked_or_new(ROOT / "task_templates")]:
        target = src / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((ROOT / rel).read_bytes())
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-v",  # setuptools' warnings only show verbose
            "-w",
            str(out),
            str(src),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    (whl,) = out.glob("crowdclean-*.whl")
    return zipfile.ZipFile(whl), done.stdout + done.stderr


@pytest.fixture(scope="module")
def wheel(wheel_build: tuple[zipfile.ZipFile, str]) -> zipfile.ZipFile:
    return wheel_build[0]


def test_build_prints_no_setuptools_warning(wheel_build: tuple[zipfile.ZipFile, str]) -> None:
    log = wheel_build[1]
    for needle in ("would be ignored", "SetuptoolsDeprecationWarning", "License classifiers"):
        assert needle not in log, log[log.find(needle) - 500 : log.find(needle) + 500]


def _tracked_or_new(folder: Path) -> list[str]:
    return [
        str(p.relative_to(ROOT))
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    ]


def test_wheel_ships_every_task_template(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    expected = set(_tracked_or_new(ROOT / "task_templates"))
    assert expected, "no templates found in the checkout"
    missing = sorted(expected - names)
    assert not missing, f"task template files missing from the wheel: {missing}"


def test_wheel_ships_migrations(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    versions = ROOT / "orchestrator" / "db" / "migrations" / "versions"
    expected = {str(p.relative_to(ROOT)) for p in versions.glob("*.py")}
    assert expected
    assert not sorted(expected - names)
    assert "orchestrator/db/alembic.ini" in names or any(
        n.endswith("migrations/env.py") for n in names
    )


def test_wheel_ships_api_templates(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    templates = ROOT / "orchestrator" / "api" / "templates"
    expected = {str(p.relative_to(ROOT)) for p in templates.glob("*.html")}
    assert {"orchestrator/api/templates/dashboard.html"} <= expected
    assert not sorted(expected - names), "dashboard templates missing from the wheel"


def test_wheel_ships_the_python_api(wheel: zipfile.ZipFile) -> None:
    # `import crowdclean` (find_label_issues) is a top-level package of its own.
    names = set(wheel.namelist())
    assert {"crowdclean/__init__.py", "crowdclean/label_issues.py", "crowdclean/py.typed"} <= names
    assert "orchestrator/cleaning/crowd_free.py" in names


def test_editable_build_is_a_plain_path_entry_and_warns_nothing(
    wheel_build: tuple[zipfile.ZipFile, str], tmp_path: Path
) -> None:
    """``pip install -e .`` calls setuptools' PEP 660 hook; pip 26 prints every warning it
    raises as a BuildBackendWarning. The hook on the checkout must raise none and produce a
    ``.pth`` path entry, not setuptools' import-hook finder (whose notice is the warning)."""
    out = tmp_path / "editable"
    out.mkdir()
    done = subprocess.run(
        [
            sys.executable,
            "-W",
            "always",
            "-c",
            "import sys; from setuptools import build_meta; "
            "print(build_meta.build_editable(sys.argv[1]))",
            str(out),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    log = done.stdout + done.stderr
    assert "Warning" not in log, log[-3000:]
    (whl,) = out.glob("*.whl")
    names = zipfile.ZipFile(whl).namelist()
    assert not [n for n in names if "__editable__" in n and n.endswith(".py")], names
    (pth,) = [n for n in names if n.endswith(".pth")]
    assert zipfile.ZipFile(whl).read(pth).decode().strip() == str(ROOT)
