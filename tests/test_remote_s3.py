"""A DVC remote over S3 to `rclone serve s3` on 127.0.0.1 (tutorial 04c), each DVC command a fresh `dvc` process:
push, wipe the cache, pull byte-identical; `dvc status -c --json`; keys from `--local` config or the AWS variables;
a wrong secret refused with the server's 403. Every server is started on a free port and stopped, also on an error."""
# pylint: disable=redefined-outer-name  # pytest fixtures are parameters named like the fixture functions
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlops_tutorial.core.servers import answers, group_alive
from mlops_tutorial.beyond.dvc_remote import S3Credentials, serve_s3
from mlops_tutorial.lessons.dvc_scratch import ScratchRepository
from project import ROOT, assert_refused

pytestmark = pytest.mark.timeout(300)
BUCKET = "wine-data"


def sha256(path: Path) -> str:
    "The sha256 of a file's bytes."
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def credentials() -> S3Credentials:
    "A fresh key pair for one test's server."
    return S3Credentials.generate()


@pytest.fixture
def s3(tmp_path, credentials):
    "An S3 server over a temporary folder with one bucket; after the test, no process of it may be left."
    with serve_s3(tmp_path / "store", credentials, buckets=(BUCKET,)) as endpoint:
        yield endpoint
    assert not answers(endpoint.url) and not group_alive(endpoint.server.process.pid)


@pytest.fixture
def repository(red_wine_file, credentials):
    "A scratch git + DVC repository tracking the red wine file as data/red_wine.csv (one commit, tag v1)."
    scratch = ScratchRepository("test-dvc-s3-", secrets_to_mask=(credentials.secret_access_key,), quiet=True)
    scratch.shell("git init --quiet --initial-branch=main && dvc init --quiet && mkdir data")
    shutil.copyfile(red_wine_file, scratch.path / "data/red_wine.csv")
    scratch.shell("dvc add --quiet data/red_wine.csv && git add data && git commit --quiet -m v1 && git tag v1")
    yield scratch
    scratch.remove()


def add_remote(scratch: ScratchRepository, endpoint, local_keys: bool = True) -> None:
    "Make the S3 server the default remote, with the keys in .dvc/config.local (or in no file at all)."
    scratch.shell(f"dvc remote add --default storage s3://{BUCKET}/store && "
                  f"dvc remote modify storage endpointurl {endpoint.url}")
    if local_keys:
        keys = endpoint.credentials
        scratch.shell(f"dvc remote modify --local storage access_key_id {keys.access_key_id} && "
                      f"dvc remote modify --local storage secret_access_key {keys.secret_access_key}")


def cloud_status(scratch: ScratchRepository, env: dict | None = None) -> dict:
    "`dvc status -c --json`, parsed."
    return json.loads(scratch.shell("dvc status -c --json", env=env) or "{}")


@pytest.mark.slow
def test_push_wipe_pull_is_byte_identical(s3, repository):
    add_remote(repository, s3)
    data = repository.path / "data/red_wine.csv"
    original = sha256(data)
    repository.shell("dvc push")
    stored = [path for path in (s3.root / BUCKET).rglob("*") if path.is_file()]
    assert len(stored) == 1 and sha256(stored[0]) == original, "the object is the file itself"
    shutil.rmtree(repository.path / ".dvc/cache")
    data.unlink()
    repository.shell("dvc pull")
    assert sha256(data) == original
    assert s3.credentials.secret_access_key not in repository.shell("git show HEAD:.dvc/config; git status --short")


@pytest.mark.slow
def test_status_cloud_json_names_what_is_not_pushed(s3, repository):
    add_remote(repository, s3)
    assert cloud_status(repository) == {"data/red_wine.csv": "new"}
    repository.shell("dvc push")
    assert not cloud_status(repository)
    (repository.path / "data/red_wine.csv").write_text("fixed_acidity;quality\n7.4;5\n", encoding="utf-8")
    repository.shell("dvc add --quiet data/red_wine.csv")
    assert cloud_status(repository) == {"data/red_wine.csv": "new"}


@pytest.mark.slow
def test_keys_from_the_aws_variables_and_a_wrong_secret(s3, repository):
    add_remote(repository, s3, local_keys=False)
    assert not (repository.path / ".dvc/config.local").exists()
    repository.shell("dvc push", env=s3.credentials.environment())
    assert not cloud_status(repository, env=s3.credentials.environment())
    wrong = S3Credentials(s3.credentials.access_key_id, s3.credentials.secret_access_key[::-1])
    refused = repository.shell("dvc status -c --json", expect_failure=True, env=wrong.environment())
    assert "403" in refused and "Forbidden" in refused


@pytest.mark.slow
def test_a_pulled_old_version_is_the_published_file(s3, repository, red_wine_file):
    add_remote(repository, s3)
    data = repository.path / "data/red_wine.csv"
    repository.shell("dvc push")
    lines = data.read_text(encoding="utf-8").splitlines(keepends=True)
    data.write_text("".join(dict.fromkeys(lines)), encoding="utf-8")  # v2: duplicate rows removed
    repository.shell("dvc add --quiet data/red_wine.csv && git commit --quiet -am v2 && dvc push")
    shutil.rmtree(repository.path / ".dvc/cache")
    data.unlink()  # a fresh clone: neither cache nor data
    repository.shell("git checkout --quiet v1 -- data/red_wine.csv.dvc && dvc pull")
    assert sha256(data) == sha256(red_wine_file)


def test_server_is_stopped_when_the_block_fails(tmp_path, credentials):
    with pytest.raises(RuntimeError, match="inside the block"):
        with serve_s3(tmp_path, credentials, buckets=(BUCKET,)) as endpoint:
            group = endpoint.server.process.pid
            raise RuntimeError("inside the block")
    assert not answers(endpoint.url) and not group_alive(group)


def run_server_command(*arguments: str, env: dict | None = None) -> subprocess.CompletedProcess:
    "`python -m mlops_tutorial.beyond.dvc_remote ARGUMENTS`, which must fail before it serves."
    return subprocess.run([sys.executable, "-m", "mlops_tutorial.beyond.dvc_remote", *arguments], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("arguments, message", [
    (["--root", "{file}"], "--root: {file} is a file"),
    (["--root", "{tmp}/store", "--port", "99999"], "not a whole number from 1024 to 65535"),
    (["--root", "{tmp}/store", "--bucket", "Wine_Data"], "is not an S3 bucket name"),
    (["--bucket", "wine-data"], "the following arguments are required: --root"),
])
def test_server_command_refuses_bad_input(tmp_path, arguments, message):
    (tmp_path / "a-file").write_text("x", encoding="utf-8")
    values = {"file": tmp_path / "a-file", "tmp": tmp_path}
    result = run_server_command(*(part.format(**values) for part in arguments))
    assert_refused(result.returncode, result.stderr, message.format(**values))


def test_server_command_needs_both_aws_variables(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    result = run_server_command("--root", str(tmp_path), env=env | {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE000000000"})
    assert result.returncode == 2 and "$AWS_SECRET_ACCESS_KEY: not set" in result.stderr


def test_server_command_on_a_busy_port_fails_with_one_line(s3, tmp_path):
    port = s3.url.rsplit(":", 1)[1]
    result = run_server_command("--root", str(tmp_path / "other"), "--port", port)
    assert result.returncode == 1 and result.stderr.startswith("error: something already answers")
    assert "try another --port" in result.stderr and "Traceback" not in result.stderr
