"""yamllint and salt-lint pass on the Salt tree (configs: .yamllint, .salt-lint at the repo root)."""
import subprocess

from tests.support.salt_harness import REPO, venv_bin


def run(argv):
    return subprocess.run(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=300)


def test_yamllint_passes():
    p = run([str(venv_bin() / "yamllint"), "--strict", "salt_states", "pillar", ".yamllint", ".salt-lint"])
    assert p.returncode == 0, p.stdout


def test_salt_lint_passes():
    files = sorted(str(f.relative_to(REPO)) for d in ("salt_states", "pillar") for f in (REPO / d).rglob("*.sls"))
    assert len(files) > 80
    p = run([str(venv_bin() / "salt-lint"), "-c", ".salt-lint", *files])
    assert p.returncode == 0, p.stdout
