"""A run that is stopped (Ctrl-C, a cancelled CI job, a killed process) or cannot finish (a full disk)
leaves the output folder as it was.

Each signal test starts a real `keptn-pagerduty generate` over a fleet large enough for worker processes, waits
until the run has staged files of its own, freezes the whole run (SIGSTOP) so that it cannot finish in
between, sends the signal, and lets it go on (SIGCONT).
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from keptn_pagerduty.generator import _jobs
from keptn_pagerduty.write import LOCK, MANIFEST, STAGING, _signals_held

from .terminal import CONSOLE_SCRIPT, clean_env
from .test_parallel import fleet

SIZE = 400  # profiles: a few seconds of work for two workers, well beyond PARALLEL_PROFILES

needs_workers = pytest.mark.skipif(_jobs(SIZE, None) < 2 or not Path("/proc/self/stat").exists(),
                                   reason="needs two cores (for worker processes) and /proc")


@pytest.fixture(scope="module")
def earlier(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Profiles, and an output folder generated from them; the profiles then change, so that the next run
    would rewrite every webhook.yaml."""
    root = tmp_path_factory.mktemp("fleet")
    profiles = fleet(root / "profiles", SIZE)
    subprocess.run([CONSOLE_SCRIPT, "generate", "--profiles", profiles, "--output", root / "out", "-q"],
                   env=clean_env(), check=True, timeout=300)
    for path in profiles.glob("*.yaml"):
        path.write_text(path.read_text().replace("{fail: critical}", "{fail: warning}"))
    return profiles, root / "out"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def start_and_freeze(profiles: Path, out: Path, tmp: Path) -> tuple[subprocess.Popen, list[int]]:
    """A generate that has staged files and is frozen, with its worker processes; `tmp` is its TMPDIR."""
    run = subprocess.Popen([CONSOLE_SCRIPT, "generate", "--profiles", profiles, "--output", out, "-q"],
                           env=clean_env(TMPDIR=str(tmp)), stderr=subprocess.PIPE, text=True,
                           start_new_session=True)
    deadline = time.monotonic() + 60
    while not any((out / STAGING).glob("p*")):
        assert run.poll() is None, f"the run ended before it staged a file: {run.communicate()[1]}"
        assert time.monotonic() < deadline, "the run staged nothing in 60 s"
        time.sleep(0.005)
    os.killpg(run.pid, signal.SIGSTOP)
    workers = children(run.pid)
    assert len(workers) == _jobs(SIZE, None), workers  # one per core, up to four
    return run, workers


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid`, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return sorted(found)


def go_on(run: subprocess.Popen) -> tuple[int, str]:
    os.killpg(run.pid, signal.SIGCONT)
    try:
        _, stderr = run.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(run.pid, signal.SIGKILL)
        run.communicate()
        pytest.fail("the run did not end within 60 s of the signal")
    return run.returncode, stderr


def gone(pid: int, within: float = 10) -> bool:
    deadline = time.monotonic() + within
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":  # ended; its parent (not this test) has yet to collect it
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


@needs_workers
@pytest.mark.parametrize("how, code, message", [
    ("SIGTERM to the command", 143, "Stopped by SIGTERM."),
    ("SIGHUP to the command", 129, "Stopped by SIGHUP."),
    ("Ctrl-C (SIGINT to every process of the terminal's group)", 1, "Aborted!"),
])
def test_a_stopped_run_changes_nothing_and_leaves_nothing_behind(earlier, tmp_path: Path, how: str, code: int,
                                                                 message: str) -> None:
    profiles, out = earlier
    before = snapshot(out)
    run, workers = start_and_freeze(profiles, out, tmp_path)
    if how.startswith("Ctrl-C"):
        os.killpg(run.pid, signal.SIGINT)
    else:
        run.send_signal(signal.SIGTERM if "SIGTERM" in how else signal.SIGHUP)
    returncode, stderr = go_on(run)
    assert returncode == code, stderr
    assert stderr.strip() == message  # no traceback, from the command or its workers
    assert snapshot(out) == before
    assert not (out / STAGING).exists() and not (out / LOCK).exists()
    assert all(gone(pid, within=0) for pid in workers)  # the command waited for its workers
    assert not list(tmp_path.glob("keptn-pagerduty-proofs-*"))  # nor the folder of the proofs its processes shared


@needs_workers
def test_a_worker_that_is_killed_fails_the_run_instead_of_hanging_it(earlier, tmp_path: Path) -> None:
    profiles, out = earlier
    before = snapshot(out)
    run, workers = start_and_freeze(profiles, out, tmp_path)
    os.kill(workers[0], signal.SIGKILL)  # as the out-of-memory killer would
    returncode, stderr = go_on(run)
    assert returncode == 1
    assert "error: a worker process was stopped by SIGKILL before it was done" in stderr
    assert "Traceback" not in stderr
    assert snapshot(out) == before
    assert not (out / STAGING).exists() and not (out / LOCK).exists()
    assert all(gone(pid, within=0) for pid in workers[1:])
    assert not list(tmp_path.glob("keptn-pagerduty-proofs-*"))


@needs_workers
def test_after_the_command_itself_is_killed_its_workers_stop_and_the_next_run_is_not_locked_out(
        earlier, tmp_path: Path) -> None:
    profiles, out = earlier
    before = snapshot(out)
    run, workers = start_and_freeze(profiles, out, tmp_path)
    run.kill()  # SIGKILL: no clean-up at all
    returncode, stderr = go_on(run)
    assert returncode == -signal.SIGKILL
    assert all(gone(pid) for pid in workers)  # they notice, and end without a word
    assert not list(tmp_path.glob("keptn-pagerduty-proofs-*"))  # after removing the folder of the proofs they shared
    assert stderr == ""
    assert (out / LOCK).exists() and (out / STAGING).exists()  # what a killed run leaves
    left = snapshot(out)
    assert {name: data for name, data in left.items() if not name.startswith((LOCK, STAGING))} == before
    done = subprocess.run([CONSOLE_SCRIPT, "generate", "--profiles", profiles, "--output", out, "-q"],
                          env=clean_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert not (out / STAGING).exists() and not (out / LOCK).exists()
    assert b"warning" in (out / "p001/branches/production/webhook/webhook.yaml").read_bytes()
    check = subprocess.run([CONSOLE_SCRIPT, "check", "--profiles", profiles, "--output", out, "-q"],
                           env=clean_env(), capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, check.stderr
    assert (out / MANIFEST).exists()


def test_signals_wait_for_the_end_of_a_held_block() -> None:
    received: list[int] = []
    before = signal.signal(signal.SIGUSR1, lambda number, _frame: received.append(number))
    held = signal.getsignal(signal.SIGTERM)
    try:
        signal.signal(signal.SIGTERM, lambda number, _frame: received.append(number))
        with _signals_held():
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGUSR1)  # not held: delivered at once
            time.sleep(0.05)
            assert received == [signal.SIGUSR1]
        assert received == [signal.SIGUSR1, signal.SIGTERM]  # once, after the block
    finally:
        signal.signal(signal.SIGUSR1, before)
        signal.signal(signal.SIGTERM, held)


@needs_workers
def test_a_full_disk_is_a_clear_error_and_changes_nothing(tmp_path: Path) -> None:
    """A file size limit (RLIMIT_FSIZE) fails writes as a full disk does, for one process and its workers."""
    examples = Path(__file__).resolve().parent.parent / "profiles"
    small = fleet(tmp_path / "fleet", 150)  # made by workers; every file well under 16 KB, the manifest not
    big = fleet(tmp_path / "big", 150)
    notes = ", ".join(f"note{i}: '{'x' * 1_900}'" for i in range(10))  # at most 2,000 characters each
    (big / "p000.yaml").write_text((big / "p000.yaml").read_text()
                                   + f"event_defaults:\n  '*':\n    custom_details: {{{notes}}}\n")
    cannot_write = (": error: cannot write: File too large\n"
                    "    hint: free some space, or generate into another folder with --output\n")
    cases = [  # a generated file, in one process; the proofs a worker shares; the manifest, before any file moves
        (examples, 8 * 1024, f"{{out}}/legacy-shop/configure-keptn.sh{cannot_write}"),
        (big, 16 * 1024, "{tmp}/keptn-pagerduty-proofs-*: error: cannot write the proofs the run's processes "
                         "share: File too large\n    hint: free some space in the temporary folder, or point "
                         "TMPDIR at another\n"),
        (small, 16 * 1024, f"{{out}}/.keptn-pagerduty-manifest.json{cannot_write}")]
    for profiles, limit, expected in cases:
        out = tmp_path / "out"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        (out / "notes.txt").write_text("a file of the user's\n")
        before = snapshot(out)

        def limited(size: int = limit) -> None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

        run = subprocess.run([CONSOLE_SCRIPT, "generate", "--profiles", profiles, "--output", out, "-q"],
                             env=clean_env(TMPDIR=str(tmp_path)), capture_output=True, text=True, timeout=300,
                             preexec_fn=limited)
        assert run.returncode == 1, run.stderr
        pattern = re.escape(expected.format(out=out, tmp=tmp_path)).replace(r"\*", "[a-z0-9_]+")
        assert re.fullmatch(pattern + "1 problem found; nothing was written.\n", run.stderr), run.stderr
        assert snapshot(out) == before
        assert not list(tmp_path.glob("keptn-pagerduty-proofs-*"))  # the run's temporary folder went too


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_a_worker_whose_main_process_was_killed_does_not_wait_forever_to_send_its_part(monkeypatch,
                                                                                      tmp_path: Path) -> None:
    """The main process dies after the worker last looked (while it made its last projects, or waited for a
    proof), before reading the worker's part: sending must fail at once, not block on a pipe no one reads."""
    import multiprocessing

    from keptn_pagerduty import generator, prove

    started_by: list[int] = []

    def work() -> str:  # stands in for making projects: goes on until the main process is gone
        while os.getppid() == started_by[0]:
            time.sleep(0.01)
        return "x" * 1_000_000  # a large part: more than a pipe holds

    monkeypatch.setattr(generator, "_work", work)
    proofs = tmp_path / "proofs"
    proofs.mkdir()
    monkeypatch.setattr(generator, "_WORK", generator._Work(tmp_path, [], None, 1, None, None,
                                                            prove.ProofStore(proofs), False, None, os.getpid()))
    read_pid, write_pid = os.pipe()
    main = os.fork()
    if main == 0:  # the main process of a run, which starts a worker and dies without reading its part
        try:
            started_by.append(os.getpid())
            context = multiprocessing.get_context("fork")
            receive, send = context.Pipe(duplex=False)
            worker = context.Process(target=generator._worker, args=(send, [receive]), daemon=True)
            worker.start()
            send.close()
            os.write(write_pid, str(worker.pid).encode())
        finally:
            os._exit(0)  # no clean-up, as after SIGKILL
    os.close(write_pid)
    os.waitpid(main, 0)
    worker = int(os.read(read_pid, 64))
    os.close(read_pid)
    try:
        assert gone(worker, within=20), "the worker still waits to send its part"
        assert not proofs.exists()  # no one else would remove the folder of the proofs the processes shared
    finally:
        if not gone(worker, within=0):
            os.kill(worker, signal.SIGKILL)
