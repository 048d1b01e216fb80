"""The set-up script says clearly what is missing when it cannot install Debian packages."""

import os
import subprocess

from conftest import ROOT


def _stub(bin_dir, name, body):
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def test_missing_packages_without_root_give_the_command_to_run(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _stub(bin_dir, "dpkg-query", 'case "$3" in libzbar0) echo "install ok installed";; *) exit 1;; esac')
    _stub(bin_dir, "id", "echo 1000")
    _stub(bin_dir, "sudo", "exit 1")
    env = {**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin"}
    result = subprocess.run(["sh", str(ROOT / "tools" / "install-system-deps.sh")], env=env, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 1
    assert "missing Debian packages: libpcsclite-dev swig espeak-ng" in result.stderr
    assert "sudo apt-get install libpcsclite-dev swig espeak-ng" in result.stderr


def test_nothing_to_do_when_everything_is_installed(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _stub(bin_dir, "dpkg-query", 'echo "install ok installed"')
    _stub(bin_dir, "apt-get", "echo apt-get must not run >&2; exit 9")
    env = {**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin"}
    result = subprocess.run(["sh", str(ROOT / "tools" / "install-system-deps.sh")], env=env, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0 and result.stderr == ""
