"""`cmake --install` puts an importable package in <prefix>/lib/python3/dist-packages."""

import os
import shutil
import subprocess

import pytest

BUILD = os.environ.get("FRUGAL_BUILD_DIR")


@pytest.mark.skipif(not BUILD or not shutil.which("cmake"), reason="needs FRUGAL_BUILD_DIR (set by ctest)")
def test_installed_package_imports_with_no_further_setup(tmp_path):
    subprocess.run(["cmake", "--install", BUILD, "--prefix", str(tmp_path)], check=True, capture_output=True)
    site = tmp_path / "lib" / "python3" / "dist-packages"
    assert (site / "frugal" / "__init__.py").is_file() and not (site / "frugal" / "__init__.py").is_symlink()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)
    code = ("import frugal, torch; assert frugal.__file__.startswith(%r); "
            "print(frugal.InfoBatch(list(range(10)), 2).sampler.__len__())" % str(site))
    out = subprocess.run(["/usr/bin/python3", "-c", code], env=env, check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "10"
