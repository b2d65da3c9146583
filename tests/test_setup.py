"""The kit's set-up: conda and pip agree on every pin, and the README's commands are the real ones."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def pyproject_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return sorted(project["dependencies"])


def environment_pins():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return sorted(p for p in pip_section if not p.startswith("-e")), pip_section, env


def test_environment_yml_and_pyproject_pin_the_same_versions():
    pins, pip_section, env = environment_pins()
    assert pins == pyproject_pins()
    assert "-e ." in pip_section
    assert "python=3.11" in env["dependencies"]


def test_numpy_is_held_below_2_and_mindspore_is_pinned():
    pins = pyproject_pins()
    assert "numpy>=1.26,<2" in pins
    assert "mindspore==2.10.0" in pins
    assert all(re.search(r"==|<", p) for p in pins), "every dependency is pinned"


def test_readme_opens_with_the_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    head = readme[:800]
    assert "make demo" in head and "make test" in head
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert re.search(r"^lab:", makefile, re.M)


def test_a_wrong_python_gets_one_line_naming_the_versions_that_work():
    # Run only the version check of the install recipe, with a Python that reports 3.13.
    check = re.search(r"@\$\(PYTHON\) -c '(.+)'\n", (ROOT / "Makefile").read_text()).group(1)
    code = check.replace("sys.version_info[:2]", "(3, 13)").replace("$(PYTHON)", "python3.13")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip() == ("MiniGPT Lab needs Python 3.10, 3.11 or 3.12 (MindSpore 2.10 has wheels only "
                                     "for those), but python3.13 is 3.13: run make PYTHON=python3.11 ...")
