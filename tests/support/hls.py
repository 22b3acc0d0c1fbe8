"""A real HLS origin for tests: nginx checking signed URLs, and a live ffmpeg stream behind it.

Both come from the project's own scripts, so the tests prove what a developer
and the deployment get: ``deploy/local/hls-origin.sh`` (nginx with
``secure_link``, configuration from ``deploy/local/hls-origin.nginx.conf``)
and ``deploy/local/hls-test-stream.sh`` (ffmpeg's test pattern and tone as
live HLS). Each origin gets its own temporary folder (``ILMO_LOCAL_DIR``),
its own port and its own secret, so it never touches or reuses what a
developer's ``make hls-origin`` started.

nginx and ffmpeg come from Debian (``make hls-tools``, which ``make pytest``
runs). Where they are missing the scripts install them (as root); if they
cannot, the test fails with the script's own explanation, never skips.

The public API:

- ``running_origin()``: a context manager that starts an origin and stops it;
- ``live_stream(origin, name, seconds)``: ffmpeg writing ``name``'s live
  stream into the origin's folder until the block ends, entered once the
  playlist names a segment;
- fixtures ``hls_origin`` and ``hls_stream`` (module scope), registered for every
  test in ``tests/conftest.py``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from ilmo_streaming.playback import SecureLinkSigner
from tests.support.polling import eventually_sync
from tests.support.processes import free_port

REPOSITORY = Path(__file__).resolve().parents[2]
ORIGIN_SCRIPT = REPOSITORY / "deploy" / "local" / "hls-origin.sh"
STREAM_SCRIPT = REPOSITORY / "deploy" / "local" / "hls-test-stream.sh"
# Long enough to install nginx and ffmpeg on a fresh machine.
SCRIPT_TIMEOUT = 600.0
# The test stream runs at most this long; the fixture stops it when its tests end.
STREAM_SECONDS = 120
PLAYLIST = "index.m3u8"


class HlsOriginError(RuntimeError):
    """The origin or the stream could not be started: the script's output says why."""


@dataclass(frozen=True)
class HlsOrigin:
    """A running origin: where it answers, its secret, and the folder it serves."""

    port: int
    secret: str
    local_dir: Path
    key_id: str = "1"
    # During a key rotation: the previous key's id and secret, still accepted.
    previous_key: tuple[str, str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What ``SecureLinkSigner`` takes: the origin with its signed location's prefix."""
        return f"{self.url}/hls"

    @property
    def streams(self) -> Path:
        return self.local_dir / "hls" / "streams"

    def signer(self) -> SecureLinkSigner:
        return SecureLinkSigner(self.base_url, self.secret, self.key_id)

    def environment(self) -> dict[str, str]:
        """The variables that point the scripts at this origin."""
        return {
            **os.environ,
            "ILMO_LOCAL_DIR": str(self.local_dir),
            "ILMO_HLS_ORIGIN_ADDR": f"127.0.0.1:{self.port}",
            "ILMO_PLAYBACK_SECRET": self.secret,
            "ILMO_PLAYBACK_KEY_ID": self.key_id,
            **(
                {
                    "ILMO_PLAYBACK_PREVIOUS_KEY_ID": self.previous_key[0],
                    "ILMO_PLAYBACK_PREVIOUS_SECRET": self.previous_key[1],
                }
                if self.previous_key
                else {}
            ),
        }

    def script(self, *arguments: str) -> str:
        """``hls-origin.sh arguments…`` for this origin; its standard output."""
        done = subprocess.run(
            [str(ORIGIN_SCRIPT), *arguments],
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=SCRIPT_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            raise HlsOriginError(
                f"{ORIGIN_SCRIPT.name} {' '.join(arguments)} failed ({done.returncode}):\n"
                f"{done.stdout}{done.stderr}"
            )
        return done.stdout


@contextmanager
def running_origin(
    *, key_id: str = "1", previous_key: tuple[str, str] | None = None
) -> Iterator[HlsOrigin]:
    """nginx with secure_link on a free port, serving a new temporary folder; stopped after."""
    local_dir = Path(tempfile.mkdtemp(prefix="ilmo-hls-"))
    # Root's nginx serves the files as nobody, who must reach them.
    local_dir.chmod(0o755)
    origin = HlsOrigin(
        port=free_port(),
        secret=secrets.token_hex(32),
        local_dir=local_dir,
        key_id=key_id,
        previous_key=previous_key,
    )
    try:
        origin.script("up")
        try:
            yield origin
        finally:
            origin.script("down")
    finally:
        shutil.rmtree(local_dir, ignore_errors=True)


def _log_of(path: Path) -> str:
    try:
        return f"ffmpeg's output:\n{path.read_text(errors='replace')}"
    except OSError:
        return "ffmpeg wrote nothing"


@contextmanager
def live_stream(origin: HlsOrigin, name: str, seconds: int = STREAM_SECONDS) -> Iterator[Path]:
    """ffmpeg streaming ``name`` live into ``origin``'s folder; yields its playlist's path.

    Entered once the playlist names a segment (polled, however long ffmpeg
    takes to start); ffmpeg is stopped when the block ends.
    """
    log_path = origin.local_dir / f"ffmpeg-{name}.log"
    playlist = origin.streams / name / PLAYLIST
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(STREAM_SCRIPT), name, str(seconds)],
            env=origin.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def segment_listed() -> bool:
        if process.poll() is not None:
            raise HlsOriginError(
                f"{STREAM_SCRIPT.name} exited ({process.returncode}) before a segment was listed:\n"
                f"{_log_of(log_path)}"
            )
        try:
            return "#EXTINF" in playlist.read_text()
        except FileNotFoundError:
            return False

    try:
        eventually_sync(
            segment_listed,
            what=f"a segment in {playlist}",
            timeout=SCRIPT_TIMEOUT,
            interval=0.2,
            detail=lambda: _log_of(log_path),
        )
        yield playlist
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@pytest.fixture(scope="module")
def hls_origin() -> Iterator[HlsOrigin]:
    """An origin of the module's own; a failure to start fails the tests with the reason."""
    problem = None
    try:
        with running_origin() as origin:
            yield origin
    except HlsOriginError as error:
        problem = str(error)
    if problem is not None:
        pytest.fail(problem, pytrace=False)


@pytest.fixture(scope="module")
def hls_stream(hls_origin: HlsOrigin) -> Iterator[str]:
    """The name of a live test stream behind ``hls_origin``, running while the module's tests do."""
    name = "seminar-test"
    problem = None
    try:
        with live_stream(hls_origin, name):
            yield name
    except HlsOriginError as error:
        problem = str(error)
    if problem is not None:
        pytest.fail(problem, pytrace=False)
