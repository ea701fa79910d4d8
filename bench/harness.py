#!/usr/bin/env python3
"""flowget benchmark harness: flowget against aria2c, curl and wget2 on a loopback nginx origin.

Contract (called by bench/run.sh, which installs the tools first):

    harness.py [--quick] [--only WORKLOAD...] [--tools TOOL...]

1. Builds (once, idempotently) a deterministic data set outside the repository, under
   $BENCH_DATA, with a manifest of sizes and SHA-256 digests per set.
2. Starts nginx on 127.0.0.1..127.0.0.10 (one port) as the origin and stops it on exit.
3. Measures the loopback ceilings (wrk keep-alive requests/s on one 16 KiB URL; dd of the
   large file from page cache into a file on disk), then runs every workload with each tool
   in alternation (A B C A B C ...): one untimed warm-up round, then $RUNS timed rounds. Each
   run writes into a new empty directory after the previous run's files were deleted and
   `sync` ran (untimed); each command runs under `timeout` and `/usr/bin/time -v`; each
   download is verified afterwards (every file present, no extra file, size and SHA-256).
4. Prints one markdown table and writes it, with all raw measurements (JSON), under
   bench/results/<UTC time>/ (or $BENCH_RESULTS).

Only the Python standard library is used, so a fresh Debian 12 python3 runs it.
"""

import argparse
import fcntl
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
import zipfile
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

KIB = 1024
MIB = 1 << 20
MB = 1_000_000
HOSTS = 10
SMALL_SIZE = 16 * KIB
MEDIUM_SIZE = MIB

PROFILES = {
    "full": {"small_n": 20_000, "medium_n": 1_000, "large_bytes": 1 << 30},
    "quick": {"small_n": 5_000, "medium_n": 200, "large_bytes": 256 << 20},
}
WORKLOADS = ["ceilings", "small", "medium", "large"]
TOOLS = ["flowget", "flowget-daemon", "aria2c", "curl", "wget2"]
# flowget-daemon (runs through a warm `flowget daemon`) only when named with --tools
DEFAULT_TOOLS = ["flowget", "aria2c", "curl", "wget2"]
FLOWGET_TOOLS = ("flowget", "flowget-daemon")
# FLOWGET_ARGS --set keys a run sets per job; the others shape the cluster and go to the daemon too
JOB_LEVEL_PREFIXES = ("flowget.", "execution.", "pipeline.", "state.", "restart-strategy.")
REFERENCES = ["aria2c", "curl", "wget2"]
# keys of flowget's 'flowget memory:' line (--set flowget.run.memory-report=true) shown in the notes, with labels
MEMORY_KEYS = {"rss_mib": "RSS", "heap_used_mib": "heap used", "heap_committed_mib": "heap committed",
               "metaspace_mib": "metaspace", "code_cache_mib": "code cache", "direct_mib": "direct",
               "rss_file_mib": "file-backed (CDS archive, jar, libs)", "native_other_mib": "other native",
               "threads": "threads"}

# Random file contents are an AES-128-CTR keystream (openssl enc over zeros) with a fixed key and
# one IV per set: identical bytes on every machine, and file i of a set is always the same bytes,
# so the quick set is a prefix of the full one.
KEY = "666c6f776765742d62656e6368000001"
IVS = {"small": "00000000000000000000000000000001",
       "medium": "00000000000000000000000000000002",
       "large": "00000000000000000000000000000003"}


class JarPin:
    """The one flowget jar a pass measures (issue 16: a source edit during a pass made the launcher rebuild its jar
    mid-run, and the runs after it measured another build).

    pin() first has the launcher build its jar when it is stale (`flowget --version`, only when FLOWGET_JAR is not
    given), then copies the jar, with its mtime, into $BENCH_WORK/jars/<sha256 prefix>/ as a read-only file, with the
    class-data-sharing archives of that jar (the launcher keys them by the jar's size and mtime, so they stay valid
    for the copy), and points FLOWGET_JAR at the copy: the launcher runs a FLOWGET_JAR as it is, never rebuilding,
    so whatever happens in the working tree the pass measures this copy. check() refuses (raises JarChanged) when the
    copy is not the pinned file any more: before every flowget command (size, mtime, inode) and at the end of the
    pass (SHA-256). describe() says which jar and which commit was measured: the commit the jar's manifest names
    (Flowget-Commit, written at package time), else, for a jar built before that entry, the launcher's working tree.

    Disk: each copy is ~310 MiB. A pass holds a shared lock on its jar's directory (`.in-use`, released when the
    process ends), and each pin keeps the KEEP_JARS most recently pinned directories ($BENCH_KEEP_JARS, default 3,
    the current one included) and deletes the others that no running pass holds."""

    KEEP_JARS = 3

    def __init__(self, launcher, jar, work, explicit_jar):
        self.launcher = Path(launcher)
        self.source = Path(jar)
        self.dir = Path(work) / "jars"
        self.explicit_jar = explicit_jar
        self.copy = None
        self.info = {}
        self.lock = None

    def pin(self, timeout=1800):
        """Returns None when pinned, else why flowget cannot be measured."""
        if not self.explicit_jar and os.access(self.launcher, os.X_OK):
            env = {k: v for k, v in os.environ.items() if k != "FLOWGET_JAR"}
            try:
                proc = subprocess.run([str(self.launcher), "--version"], capture_output=True, text=True, env=env,
                                      timeout=timeout, stdin=subprocess.DEVNULL)
            except (subprocess.SubprocessError, OSError) as e:
                return f"{self.launcher} --version (builds a stale jar) failed: {e}"
            if proc.returncode != 0:
                return f"{self.launcher} --version (builds a stale jar) exited {proc.returncode}: {proc.stderr[-300:]}"
            self.info["version"] = proc.stdout.strip()
        if not self.source.exists():
            return f"{self.source} missing (build: mvn -q -DskipTests package)"
        st = self.source.stat()
        sha = sha256_file(self.source)
        if self.source.stat().st_mtime_ns != st.st_mtime_ns:
            return f"{self.source} changed while it was read (a build is running?)"
        target_dir = self.dir / sha[:16]
        self.hold(target_dir)
        copy = target_dir / "flowget.jar"
        if not (copy.exists() and copy.stat().st_size == st.st_size and sha256_file(copy) == sha):
            tmp = target_dir / f"flowget.jar.{os.getpid()}.tmp"
            shutil.copy2(self.source, tmp)
            if sha256_file(tmp) != sha:
                tmp.unlink()
                return f"{self.source} changed while it was copied (a build is running?)"
            os.chmod(tmp, 0o444)
            os.replace(tmp, copy)
        for archive in [*self.source.parent.glob("flowget-cds-*.jsa"), *self.source.parent.glob("flowget-aot-*.aot")]:
            if archive.stat().st_mtime_ns >= st.st_mtime_ns and not (target_dir / archive.name).exists():
                shutil.copy2(archive, target_dir / archive.name)
        cst = copy.stat()
        self.copy = copy
        self.pinned = (cst.st_size, cst.st_mtime_ns, cst.st_ino)
        self.info.update(jar=str(self.source), copy=str(copy), sha256=sha, size=cst.st_size,
                         built_utc=datetime.fromtimestamp(cst.st_mtime, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                         **self.commit())
        os.environ["FLOWGET_JAR"] = str(copy)
        os.utime(target_dir / ".in-use")  # the directory's last pin: what prune() keeps the newest of
        self.prune(env_int("BENCH_KEEP_JARS", self.KEEP_JARS))
        self.info["runtime"] = self.runtime()
        return None

    def runtime(self):
        """The Java runtime the launcher runs flowget on (FLOWGET_JAVA_HOME, else JAVA_HOME, else the PATH's java), as
        the pinned jar's `--version` names it on its `runtime:` line (`Java 25.0.3+9-LTS (Eclipse Adoptium) at
        /usr/lib/jvm/...`); for a jar whose --version has no such line, the first line of that java's `-version`."""
        out = self.info.get("version")
        if out is None or "runtime: " not in out:
            try:
                proc = subprocess.run([str(self.launcher), "--version"], capture_output=True, text=True,
                                      timeout=300, stdin=subprocess.DEVNULL)
                out = proc.stdout if proc.returncode == 0 else ""
            except (subprocess.SubprocessError, OSError):
                out = ""
        for line in out.splitlines():
            if line.startswith("runtime: "):
                return line[len("runtime: "):].strip()
        home = os.environ.get("FLOWGET_JAVA_HOME") or os.environ.get("JAVA_HOME")
        java = shlex.quote(str(Path(home) / "bin" / "java")) if home else "java"
        return (sh(f"{java} -version 2>&1 | head -1") or "unknown") + " (java -version; the jar's --version names none)"

    def runtime_label(self):
        """`Java 25.0.3+9-LTS`: the runtime's version, for each flowget row of the table."""
        r = self.info.get("runtime") or ""
        return r.split(" (", 1)[0] if r.startswith("Java ") else r

    def hold(self, target_dir):
        """Creates target_dir and holds a shared lock on it for the life of this process (prune() of any pass
        skips a held directory); retries when a prune removed the directory while this pass waited for the lock."""
        for _ in range(5):
            target_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(target_dir / ".in-use", os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(fd, fcntl.LOCK_SH)
            try:
                if os.fstat(fd).st_ino == os.stat(target_dir / ".in-use").st_ino:
                    if self.lock is not None:
                        os.close(self.lock)
                    self.lock = fd
                    return
            except FileNotFoundError:
                pass
            os.close(fd)  # the directory was deleted under us: make it again
        raise OSError(f"cannot hold {target_dir}: deleted again and again")

    def release(self):
        """Lets a prune of another pass delete this pass's jar (the end of the process does the same)."""
        if self.lock is not None:
            os.close(self.lock)
            self.lock = None

    def prune(self, keep):
        """Deletes the pinned-jar directories beyond the `keep` most recently pinned ones, except those a running
        pass holds. Returns the deleted directories."""
        dirs = [d for d in self.dir.iterdir() if d.is_dir()]
        def last_pin(d):
            try:
                return (d / ".in-use").stat().st_mtime_ns
            except OSError:
                return d.stat().st_mtime_ns
        dirs.sort(key=last_pin, reverse=True)
        current = self.copy.parent if self.copy else None
        kept = 1 if current is not None else 0
        deleted = []
        for d in dirs:
            if d == current:
                continue
            if kept < keep:
                kept += 1
                continue
            try:
                fd = os.open(d / ".in-use", os.O_RDWR | os.O_CREAT, 0o644)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)  # a running pass measures this jar
                continue
            try:
                for p in d.rglob("*"):
                    if p.is_file() and not p.is_symlink():
                        os.chmod(p, 0o644)  # the copy is read-only
                shutil.rmtree(d)
                deleted.append(d)
            except OSError as e:
                print(f"bench: could not delete the old pinned jar {d}: {e}", file=sys.stderr)
            finally:
                os.close(fd)
        return deleted

    def commit(self):
        """The commit the jar's manifest names (Flowget-Commit/Flowget-Commit-Dirty, written at package time); for a
        jar without that entry, the commit of the launcher's working tree (a stale-checked launcher builds from it)."""
        manifest = jar_manifest(self.copy or self.source)
        named = manifest.get("Flowget-Commit")
        if named is not None:
            if not named.strip() or "${" in named:
                return {"commit": "unknown (built without git)", "commit_from": "manifest"}
            return {"commit": named.strip(), "uncommitted_changes": manifest.get("Flowget-Commit-Dirty") == "true",
                    "commit_from": "manifest"}
        if self.explicit_jar:
            return {"commit": "unknown (FLOWGET_JAR given)"}
        repo = shlex.quote(str(self.launcher.resolve().parent))
        head = sh(f"git -C {repo} rev-parse --short=12 HEAD")
        dirty = sh(f"git -C {repo} status --porcelain -uno -- udf job pom.xml conf")
        return {"commit": head or "unknown (no git)", "uncommitted_changes": bool(dirty)}

    def check(self, full=False):
        """Raises JarChanged when the pinned copy is not the file it was (full: its SHA-256 too)."""
        if self.copy is None:
            return
        try:
            st = self.copy.stat()
        except OSError as e:
            raise JarChanged(f"the measured jar {self.copy} is gone: {e}")
        if (st.st_size, st.st_mtime_ns, st.st_ino) != self.pinned:
            raise JarChanged(f"the measured jar {self.copy} changed during the pass (size/mtime/inode)")
        if os.environ.get("FLOWGET_JAR") != str(self.copy):
            raise JarChanged(f"FLOWGET_JAR is {os.environ.get('FLOWGET_JAR')}, not the pinned {self.copy}")
        if full and sha256_file(self.copy) != self.info["sha256"]:
            raise JarChanged(f"the measured jar {self.copy} changed during the pass (SHA-256)")

    def describe(self):
        i = self.info
        if not i.get("sha256"):
            return "flowget jar: not pinned"
        tree = i["commit"] + (" + uncommitted changes" if i.get("uncommitted_changes") else "")
        return (f"flowget jar: {i['jar']} (sha256 {i['sha256'][:16]}, {i['size']} bytes, built {i['built_utc']}) "
                f"of commit {tree}, measured as the read-only copy {i['copy']}; runtime {i.get('runtime', 'unknown')}")


def jar_manifest(path):
    """The main attributes of a jar's META-INF/MANIFEST.MF as a dict ({} when it is not a jar or has none)."""
    try:
        with zipfile.ZipFile(path) as z:
            text = z.read("META-INF/MANIFEST.MF").decode("utf-8", "replace")
    except (OSError, KeyError, zipfile.BadZipFile):
        return {}
    attrs, last = {}, None
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line:
            if attrs:
                break  # the main section ends at the first blank line
            continue
        if line.startswith(" ") and last:
            attrs[last] += line[1:]  # continuation line
        elif ":" in line:
            last, value = line.split(":", 1)
            attrs[last] = value.strip()
    return attrs


class JarChanged(Exception):
    """The pinned jar changed during a pass: the figures would mix two builds, so the pass stops."""


def env_int(name, default):
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


def log(msg):
    print(msg, flush=True)


class Interrupted(Exception):
    """Raised from SIGTERM/SIGHUP so that clean-up (origin, inode goal) runs as for Ctrl-C."""


def _raise_interrupted(signum, _frame):
    raise Interrupted(f"signal {signum}")


# ---------------------------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------------------------

class Config:
    """All knobs, from the command line and the environment (documented in bench/README.md)."""

    def __init__(self, args):
        self.profile_name = "quick" if args.quick else "full"
        self.profile = PROFILES[self.profile_name]
        self.workloads = args.only or WORKLOADS
        self.tools = args.tools or DEFAULT_TOOLS
        self.data = Path(os.environ.get("BENCH_DATA", "/var/tmp/flowget-bench/data"))
        self.work = Path(os.environ.get("BENCH_WORK", "/var/tmp/flowget-bench/work"))
        self.stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        self.results = Path(os.environ.get("BENCH_RESULTS", str(HERE / "results" / self.stamp)))
        self.runs = max(1, env_int("RUNS", 3))
        self.warmup = max(0, env_int("WARMUP", 1))
        self.warmup_tool = os.environ.get("WARMUP_TOOL", "curl")
        self.conc = env_int("CONC", 64)
        self.timeout = env_int("BENCH_TIMEOUT", 600)
        self.port = env_int("BENCH_PORT", 18480)
        self.wrk_seconds = env_int("WRK_SECONDS", 10)
        self.inode_goal = env_int("BENCH_INODE_GOAL", 1) == 1
        self.verify = os.environ.get("BENCH_VERIFY", "all")
        self.flowget = Path(os.environ.get("FLOWGET", str(REPO / "flowget")))
        self.flowget_jar_given = bool(os.environ.get("FLOWGET_JAR"))
        self.flowget_jar = Path(os.environ.get("FLOWGET_JAR") or
                                str(self.flowget.resolve().parent / "job" / "target" / "flowget.jar"))
        self.flowget_args = shlex.split(os.environ.get("FLOWGET_ARGS", ""))
        self.logs = self.work / "logs" / self.stamp
        self.runs_dir = self.work / "runs"
        bad = [w for w in self.workloads if w not in WORKLOADS] + [t for t in self.tools if t not in TOOLS]
        if bad:
            raise SystemExit(f"unknown workload/tool: {' '.join(bad)} (workloads: {' '.join(WORKLOADS)}; "
                             f"tools: {' '.join(TOOLS)})")
        if self.verify not in ("all", "sample"):
            raise SystemExit("BENCH_VERIFY must be all or sample")

    def as_json(self):
        return {"profile": self.profile_name, **self.profile, "workloads": self.workloads,
                "tools": self.tools, "data": str(self.data), "work": str(self.work),
                "runs": self.runs, "warmup": self.warmup,
                "warmup_tool": self.warmup_tool, "concurrency": self.conc,
                "timeout_s": self.timeout, "port": self.port, "wrk_seconds": self.wrk_seconds,
                "inode_goal_guard": self.inode_goal, "verify": self.verify,
                "flowget": str(self.flowget), "flowget_args": self.flowget_args}


# ---------------------------------------------------------------------------------------------
# data set
# ---------------------------------------------------------------------------------------------

def small_entries(n):
    # file i belongs to "host" i % 10 and is served from 127.0.0.(1 + i % 10)
    return [(f"small/h{i % HOSTS:02d}/s{i:06d}.bin", SMALL_SIZE) for i in range(n)]


def medium_entries(n):
    return [(f"medium/m{i:04d}.bin", MEDIUM_SIZE) for i in range(n)]


def large_entries(size):
    return [(f"large/large-{size // MIB}m.bin", size)]


class DataSet:
    """Deterministic files under $BENCH_DATA plus manifest-<set>.tsv (path, size, sha256).

    A set is generated only when its manifest lacks an entry or a listed file is missing or has
    the wrong size; the digests are computed while writing, never re-read."""

    def __init__(self, root):
        self.root = root

    def manifest_path(self, name):
        return self.root / f"manifest-{name}.tsv"

    def load(self, name):
        entries = {}
        path = self.manifest_path(name)
        if path.exists():
            for line in path.read_text().splitlines():
                if line and not line.startswith("#"):
                    rel, size, sha = line.split("\t")
                    entries[rel] = (int(size), sha)
        return entries

    def ensure(self, name, wanted):
        """Makes sure every (relpath, size) of `wanted` exists; returns {relpath: (size, sha)}."""
        have = self.load(name)

        def present(rel, size):
            if have.get(rel, (None,))[0] != size:
                return False
            try:
                return (self.root / rel).stat().st_size == size
            except FileNotFoundError:
                return False

        if all(present(rel, size) for rel, size in wanted):
            return {rel: have[rel] for rel, _ in wanted}
        total = sum(size for _, size in wanted)
        log(f"data: generating {name}: {len(wanted)} file(s), {total / MIB:.0f} MiB under {self.root}")
        t0 = time.monotonic()
        made = self._generate(name, wanted)
        have.update(made)
        tmp = self.manifest_path(name).with_suffix(".tmp")
        with open(tmp, "w") as out:
            out.write(f"# flowget bench data, set {name}: aes-128-ctr keystream key={KEY} iv={IVS[name]}\n")
            for rel in sorted(have):
                out.write(f"{rel}\t{have[rel][0]}\t{have[rel][1]}\n")
        os.replace(tmp, self.manifest_path(name))
        log(f"data: {name} done in {time.monotonic() - t0:.1f} s")
        return {rel: have[rel] for rel, _ in wanted}

    def _generate(self, name, wanted):
        # One keystream per set, files cut from it in order: the bytes of file i depend only on
        # its position, so a longer set extends a shorter one with the same leading files.
        proc = subprocess.Popen(["openssl", "enc", "-aes-128-ctr", "-K", KEY, "-iv", IVS[name],
                                 "-nosalt", "-in", "/dev/zero"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        made = {}
        try:
            for rel, size in wanted:
                path = self.root / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                digest = hashlib.sha256()
                with open(path, "wb") as out:
                    left = size
                    while left:
                        chunk = proc.stdout.read(min(left, 4 * MIB))
                        if not chunk:
                            raise RuntimeError("openssl keystream ended early")
                        digest.update(chunk)
                        out.write(chunk)
                        left -= len(chunk)
                made[rel] = (size, digest.hexdigest())
        finally:
            proc.kill()
            proc.wait()
        return made


# ---------------------------------------------------------------------------------------------
# origin
# ---------------------------------------------------------------------------------------------

def no_proxy_opener():
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Origin:
    """nginx bound to 127.0.0.1..127.0.0.10 on one port, serving $BENCH_DATA; started and
    stopped by this process (the pid file also lets bench/run.sh stop it if we die)."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.dir = cfg.work / "origin"
        self.proc = None
        self.opener = no_proxy_opener()

    def host(self, i):
        return f"127.0.0.{1 + i}:{self.cfg.port}"

    def write_conf(self):
        (self.dir / "tmp").mkdir(parents=True, exist_ok=True)
        listens = "\n".join(f"        listen {self.host(i)} backlog=4096;" for i in range(HOSTS))
        tmp = self.dir / "tmp"
        conf = f"""# generated by bench/harness.py
worker_processes 2;
worker_rlimit_nofile 65536;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log warn;

events {{
    worker_connections 8192;
    multi_accept on;
}}

http {{
    # one line per request, unbuffered (so it is complete when a run ends): when it ended ($msec, ms
    # resolution) and how long it took, for the fetch window of each run (Origin.window)
    log_format window "$msec $request_time $status $body_bytes_sent $uri";
    access_log {self.dir}/access.log window;
    # sendfile + tcp_nopush: bodies go from the page cache to the socket without a copy
    sendfile on;
    sendfile_max_chunk 2m;
    tcp_nopush on;
    tcp_nodelay on;
    # clients keep their connections for a whole run; nginx must not close them after 100
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    reset_timedout_connection on;
    server_tokens off;
    types {{ }}
    default_type application/octet-stream;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;

    server {{
{listens}
        root {self.cfg.data};
        location / {{ }}
        location = /_health {{ return 204; }}
        location = /_status {{ stub_status; }}
    }}
}}
"""
        (self.dir / "nginx.conf").write_text(conf)

    def start(self):
        self.write_conf()
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        base = [nginx, "-p", str(self.dir), "-c", str(self.dir / "nginx.conf"), "-e", str(self.dir / "error.log")]
        check = subprocess.run(base + ["-t", "-q"], capture_output=True, text=True)
        if check.returncode != 0:
            raise SystemExit(f"nginx config test failed:\n{check.stderr}")
        self.proc = subprocess.Popen(base + ["-g", "daemon off;"], stdout=subprocess.DEVNULL,
                                     stderr=open(self.dir / "stderr.log", "w"), start_new_session=True)
        deadline = time.monotonic() + 10
        pending = set(range(HOSTS))
        while pending and time.monotonic() < deadline:
            for i in sorted(pending):
                try:
                    self.opener.open(f"http://{self.host(i)}/_health", timeout=1).read()
                    pending.discard(i)
                except OSError:
                    pass
            if pending:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.1)
        if pending:
            self.stop()
            raise SystemExit(f"origin did not come up (see {self.dir}/error.log and stderr.log)")
        log(f"origin: nginx pid {self.proc.pid} on 127.0.0.1..127.0.0.{HOSTS}:{self.cfg.port}, root {self.cfg.data}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)       # graceful: finish, then exit
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def log_offset(self):
        try:
            return (self.dir / "access.log").stat().st_size
        except OSError:
            return 0

    def window(self, offset):
        """The download requests logged since `offset` (200/206 answers; the harness's own /_health
        and /_status probes excluded): dict with count, bytes, first request start and last
        response end (epoch seconds, as nginx saw them), or None when there were none."""
        try:
            with open(self.dir / "access.log", "rb") as f:
                f.seek(offset)
                lines = f.read().decode(errors="replace").splitlines()
        except OSError:
            return None
        starts, ends, nbytes = [], [], 0
        for line in lines:
            parts = line.split()
            if len(parts) != 5 or parts[2] not in ("200", "206") or parts[4].startswith("/_"):
                continue
            end, took = float(parts[0]), float(parts[1])
            starts.append(end - took)
            ends.append(end)
            nbytes += int(parts[3])
        if not starts:
            return None
        return {"requests": len(starts), "bytes": nbytes, "first_start": min(starts), "last_end": max(ends)}

    def counters(self):
        """(accepted connections, requests) from stub_status, or None."""
        try:
            text = self.opener.open(f"http://{self.host(0)}/_status", timeout=2).read().decode()
            accepts, _handled, requests = map(int, text.splitlines()[2].split())
            return accepts, requests
        except (OSError, ValueError, IndexError):
            return None

    def cpu_ticks(self):
        """utime+stime of the worker processes, in clock ticks."""
        if not self.proc:
            return 0
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid:       # ppid
                total += int(fields[11]) + int(fields[12])
        return total


# ---------------------------------------------------------------------------------------------
# ext4 guard
# ---------------------------------------------------------------------------------------------

class InodeGoal:
    """Neutralises the ext4 recently-deleted-inode artefact on journal-less ext4.

    There the inode allocator skips inodes freed within the last 60 s (360 s while their
    inode-table block is dirty), re-checking each on every allocation (recently_deleted() in
    fs/ext4/ialloc.c), so creating 20k files right after deleting 20k files costs several times
    more kernel time. Before each run the knob /sys/fs/ext4/<dev>/inode_goal is pointed at block
    groups without recent deletions (rotating over the upper half of the groups; position kept
    in $BENCH_WORK/inode-goal.slot); the original value is restored at exit (bench/run.sh also
    restores it from inode-goal.restore if this process dies)."""

    def __init__(self, cfg, inodes_per_run):
        self.knob = None
        self.reason = "disabled (BENCH_INODE_GOAL=0)"
        self.slot_file = cfg.work / "inode-goal.slot"
        self.restore_file = cfg.work / "inode-goal.restore"
        if not cfg.inode_goal:
            return
        try:
            src, fstype = subprocess.run(["findmnt", "-n", "-o", "SOURCE,FSTYPE", "-T", str(cfg.work)],
                                         capture_output=True, text=True, check=True).stdout.split()[:2]
        except (subprocess.CalledProcessError, ValueError, FileNotFoundError):
            self.reason = "file system not identified"
            return
        dev = src.replace("/dev/", "")
        knob = Path(f"/sys/fs/ext4/{dev}/inode_goal")
        if fstype != "ext4":
            self.reason = f"not needed ({fstype})"
            return
        if any(Path("/proc/fs/jbd2").glob(f"{dev}-*")):
            self.reason = "not needed (ext4 with journal)"
            return
        if not os.access(knob, os.W_OK):
            self.reason = f"{knob} not writable: figures may carry the artefact"
            return
        try:
            groups = sum(1 for line in open(f"/proc/fs/ext4/{dev}/mb_groups") if re.match(r"#\d", line))
        except OSError:
            groups = 0
        if groups < 64:
            self.reason = f"too few block groups ({groups})"
            return
        self.per_group = os.statvfs(cfg.work).f_files // groups
        self.first = groups // 2
        self.step = max(1, -(-inodes_per_run // self.per_group))
        self.slots = (groups - self.first) // self.step
        self.knob = knob
        self.original = knob.read_text().strip() or "0"
        self.restore_file.write_text(f"{knob} {self.original}\n")
        self.reason = (f"on: {dev} is ext4 without journal; goal rotates over groups {self.first}..{groups - 1}, "
                       f"{self.step} per run ({self.per_group} inodes/group)")

    def next_run(self):
        if not self.knob:
            return
        try:
            slot = int(self.slot_file.read_text())
        except (OSError, ValueError):
            slot = 0
        self.slot_file.write_text(str((slot + 1) % self.slots))
        self.knob.write_text(str((self.first + (slot % self.slots) * self.step) * self.per_group + 1))

    def reset(self):
        if self.knob:
            try:
                self.knob.write_text(self.original)
                self.restore_file.unlink(missing_ok=True)
            except OSError as e:
                log(f"warning: could not reset {self.knob}: {e}")
            self.knob = None


# ---------------------------------------------------------------------------------------------
# running and measuring one command
# ---------------------------------------------------------------------------------------------

TIME_FIELDS = {
    "user_s": r"User time \(seconds\): ([\d.]+)",
    "sys_s": r"System time \(seconds\): ([\d.]+)",
    "max_rss_kb": r"Maximum resident set size \(kbytes\): (\d+)",
    "exit_status": r"Exit status: (\d+)",
}


def run_measured(cmd, name, cfg, cwd=None, timeout=None):
    """Runs cmd as `timeout -k 10 T /usr/bin/time -v -o F cmd` in its own session.

    timeout is the outer process so that on expiry it signals the whole process group (a
    launcher script and its JVM included); /usr/bin/time then reports the rusage of the command
    and its descendants only. Returns a dict with wall_s, rc, user_s, sys_s, max_rss_kb and the
    paths of stdout/stderr."""
    timeout = timeout or cfg.timeout
    time_file = cfg.logs / f"{name}.time"
    out_file = cfg.logs / f"{name}.out"
    err_file = cfg.logs / f"{name}.err"
    full = ["timeout", "-k", "10", str(timeout), "/usr/bin/time", "-v", "-o", str(time_file)] + [str(c) for c in cmd]
    with open(out_file, "w") as out, open(err_file, "w") as err:
        epoch0 = time.time()
        t0 = time.perf_counter()
        proc = subprocess.Popen(full, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                cwd=cwd, start_new_session=True)
        try:
            rc = proc.wait()
        except BaseException:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            raise
        wall = time.perf_counter() - t0
        epoch1 = time.time()
    res = {"wall_s": wall, "rc": rc, "t_start": epoch0, "t_end": epoch1, "stdout": str(out_file), "stderr": str(err_file),
           "command": shlex.join(str(c) for c in cmd)}
    try:
        text = time_file.read_text()
        for key, rx in TIME_FIELDS.items():
            m = re.search(rx, text)
            if m:
                res[key] = float(m.group(1)) if key.endswith("_s") else int(m.group(1))
    except OSError:
        pass                       # killed by timeout: no rusage
    if "user_s" in res:
        res["cpu_s"] = res["user_s"] + res["sys_s"]
    if rc == 124:
        res["error"] = f"timed out after {timeout} s"
    elif rc != 0:
        res["error"] = f"exit {rc}: " + tail(err_file)
    return res


def tail(path, n=3):
    try:
        lines = [l for l in Path(path).read_text(errors="replace").splitlines() if l.strip()]
        return " | ".join(lines[-n:])[:300]
    except OSError:
        return ""


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 * MIB):
            digest.update(chunk)
    return digest.hexdigest()


def verify_dir(out, expected, mode):
    """Checks a download folder: every expected file present exactly once (matched by base
    name, so flat and host/path layouts both work), no other file, sizes and SHA-256 equal to
    the manifest (mode sample: sizes of all, digests of every 16th file)."""
    found, extra, bad = {}, [], []
    for root, _dirs, files in os.walk(out):
        for f in files:
            p = os.path.join(root, f)
            if f in expected and f not in found:
                found[f] = p
            else:
                extra.append(os.path.relpath(p, out))
    missing = sorted(set(expected) - set(found))
    for i, (name, p) in enumerate(sorted(found.items())):
        size, sha = expected[name]
        if os.path.getsize(p) != size:
            bad.append(f"{name}: size {os.path.getsize(p)} != {size}")
        elif (mode == "all" or i % 16 == 0) and sha256_file(p) != sha:
            bad.append(f"{name}: sha256 differs")
    ok = not (missing or extra or bad)
    res = {"ok": ok, "files": len(found), "expected": len(expected)}
    if not ok:
        res.update(missing=len(missing), extra=len(extra), bad=len(bad),
                   examples=(missing[:3] + extra[:3] + bad[:3]))
    return res


def proc_cpu_ticks(pid):
    """utime + stime of a process (clock ticks), or None when it is gone."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None


def proc_status_kb(pid, key):
    try:
        m = re.search(rf"^{key}:\s+(\d+) kB", open(f"/proc/{pid}/status").read(), re.M)
        return int(m.group(1)) if m else None
    except OSError:
        return None


def reset_peak_rss(pid):
    """Sets a process's VmHWM (peak RSS) to its current RSS (Linux 4.0+: "5" to /proc/PID/clear_refs), so that the
    peak read after a run is that run's, not the daemon's warm-up's. Returns False where that is not possible."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def cpu_snapshot():
    with open("/proc/stat") as f:
        return [int(x) for x in f.readline().split()[1:]]


def host_cpu(a, b):
    """Share of the whole machine's CPU time during a run: busy and steal, in %."""
    d = [y - x for x, y in zip(a, b)]
    total = sum(d[:8]) or 1
    return {"busy_ticks": total - d[3] - d[4], "busy_pct": round(100 * (total - d[3] - d[4]) / total, 1),
            "iowait_pct": round(100 * d[4] / total, 1), "steal_pct": round(100 * d[7] / total, 1)}


# ---------------------------------------------------------------------------------------------
# the benchmark
# ---------------------------------------------------------------------------------------------

class Bench:
    """One pass: ceilings, then the workloads; all runs are appended to self.runs (raw data)."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.origin = Origin(cfg)
        self.data = DataSet(cfg.data)
        self.runs = []
        self.skipped = {}
        self.env = {}
        self.hz = os.sysconf("SC_CLK_TCK")
        self.inode_goal = None
        self.run_seq = 0
        self.jar = JarPin(cfg.flowget, cfg.flowget_jar, cfg.work, cfg.flowget_jar_given)

    # ----- set-up -----
    def prepare_data(self):
        p = self.cfg.profile
        self.small = self.data.ensure("small", small_entries(p["small_n"]))
        self.medium = self.data.ensure("medium", medium_entries(p["medium_n"]))
        self.large = self.data.ensure("large", large_entries(p["large_bytes"]))
        lists = self.cfg.work / "lists"
        lists.mkdir(parents=True, exist_ok=True)
        self.lists = {}
        self.expected = {}
        self.amount = {}
        for name, entries in (("small", self.small), ("medium", self.medium), ("large", self.large)):
            urls = []
            for rel in entries:
                host = int(rel.split("/")[1][1:]) if name == "small" else 0
                urls.append(f"http://{self.origin.host(host)}/{rel}")
            (lists / f"{name}.txt").write_text("\n".join(urls) + "\n")
            # curl: url/output pairs, outputs relative to --output-dir (the run's folder)
            (lists / f"{name}.curl").write_text("".join(
                f'url = "{u}"\noutput = "{u.rsplit("/", 1)[1]}"\n' for u in urls))
            self.lists[name] = lists / f"{name}.txt"
            self.expected[name] = {rel.rsplit("/", 1)[1]: v for rel, v in entries.items()}
            self.amount[name] = (len(entries), sum(v[0] for v in entries.values()))
        self.large_file = self.cfg.data / next(iter(self.large))
        self.large_url = (lists / "large.txt").read_text().split()[0]
        self.one16k_url = (lists / "small.txt").read_text().split()[0]

    def warm_page_cache(self):
        t0 = time.monotonic()
        for tree in (self.small, self.medium, self.large):
            for rel in tree:
                with open(self.cfg.data / rel, "rb") as f:
                    while f.read(4 * MIB):
                        pass
        if any(t in self.cfg.tools for t in FLOWGET_TOOLS) and "flowget" not in self.skipped:
            # flowget gets no warm-up run of its own: read its jar once so that no run pays the
            # first read of it from disk
            with open(self.jar.copy, "rb") as f:
                while f.read(4 * MIB):
                    pass
        log(f"page cache: data set read in {time.monotonic() - t0:.1f} s")

    def flowget_available(self):
        """None when flowget can be measured: the launcher is there and its jar is pinned (JarPin)."""
        if not os.access(self.cfg.flowget, os.X_OK):
            return f"{self.cfg.flowget} missing"
        return self.jar.pin()

    # ----- one run -----
    def fresh_dir(self, label):
        """Deletes the previous run's files, syncs, moves the inode goal, makes a new empty dir
        (none of it timed)."""
        if self.cfg.runs_dir.exists():
            for child in self.cfg.runs_dir.iterdir():
                shutil.rmtree(child, ignore_errors=True)
        os.sync()
        self.inode_goal.next_run()
        self.run_seq += 1
        d = self.cfg.runs_dir / f"{self.run_seq:03d}-{label}"
        d.mkdir(parents=True)
        return d

    def measure(self, workload, tool, round_no, cmd, unit, amount, run_dir=None, verify=None,
                timeout=None, daemon_pid=None):
        """Runs one command with counters around it and appends the record to self.runs.

        With daemon_pid (a run through `flowget daemon`), /usr/bin/time sees only the client: the daemon's CPU
        (utime + stime from /proc/<pid>/stat, before and after) is added to the run's, and its peak RSS (VmHWM, reset
        to its RSS when the run starts, so the run's own peak) to the client's."""
        name = f"{workload}-{tool}-{'w' if round_no < 0 else round_no}"
        if tool in FLOWGET_TOOLS:
            self.jar.check()
        # the daemon's peak RSS is the run's: its warm-up (before any run) grew the heap beyond what runs need
        hwm_reset = reset_peak_rss(daemon_pid) if daemon_pid else False
        rss0 = proc_status_kb(daemon_pid, "VmRSS") if daemon_pid else None
        d0 = proc_cpu_ticks(daemon_pid) if daemon_pid else None
        c0, n0, s0 = self.origin.counters(), self.origin.cpu_ticks(), cpu_snapshot()
        log0 = self.origin.log_offset()
        res = run_measured(cmd, name, self.cfg, cwd=run_dir, timeout=timeout)
        c1, n1, s1 = self.origin.counters(), self.origin.cpu_ticks(), cpu_snapshot()
        if daemon_pid:
            d1 = proc_cpu_ticks(daemon_pid)
            hwm = proc_status_kb(daemon_pid, "VmHWM")
            res["daemon"] = {"pid": daemon_pid, "client_cpu_s": res.get("cpu_s"),
                             "client_max_rss_kb": res.get("max_rss_kb"), "rss_kb": proc_status_kb(daemon_pid, "VmRSS"),
                             "rss_before_kb": rss0, "hwm_kb": hwm, "hwm_since_run_start": hwm_reset}
            if d0 is not None and d1 is not None:
                res["daemon"]["cpu_s"] = round((d1 - d0) / self.hz, 3)
                if "cpu_s" in res:
                    res["cpu_s"] += res["daemon"]["cpu_s"]
            if hwm and "max_rss_kb" in res:
                res["max_rss_kb"] += hwm
        win = self.origin.window(log0)
        rec = {"workload": workload, "tool": tool, "round": round_no, "warmup": round_no < 0,
               "unit": unit, "amount": amount, **res, "host": host_cpu(s0, s1),
               "nginx_cpu_s": round((n1 - n0) / self.hz, 3),
               "loadavg": open("/proc/loadavg").read().split()[:3]}
        busy_s = rec["host"].pop("busy_ticks") / self.hz
        if "cpu_s" in res and res["wall_s"] > 0:
            # CPU used during the run by neither the tool nor nginx (other users of the machine):
            # the main source of noise on a shared box, so it is recorded with every run
            rec["other_cores"] = round(max(0.0, busy_s - res["cpu_s"] - rec["nginx_cpu_s"]) / res["wall_s"], 2)
        if c0 and c1:
            # the probe after the run is itself one connection and one request
            rec["tcp_conns"] = c1[0] - c0[0] - 1
            rec["requests"] = c1[1] - c0[1] - 1
        ok = res["rc"] == 0
        if verify:
            rec["verify"] = verify(rec)
            ok = ok and rec["verify"]["ok"]
        rec["ok"] = ok
        if ok and rec.get("value") is None:
            rec["value"] = amount / res["wall_s"] / (MB if unit == "MB/s" else 1)
        if win and unit in ("files/s", "MB/s"):
            # The fetch window: first request to last response as the origin saw them; the rest of
            # the wall time is start-up (before the first request) and tail (after the last response).
            span = max(win["last_end"] - win["first_start"], 1e-3)
            rec["window"] = {"s": round(span, 3), "requests": win["requests"], "bytes": win["bytes"],
                             "first_request_s": round(win["first_start"] - res["t_start"], 3),
                             "tail_s": round(res["t_end"] - win["last_end"], 3)}
            if ok:
                rec["window"]["value"] = amount / span / (MB if unit == "MB/s" else 1)
        self.runs.append(rec)
        tag = "warm-up" if round_no < 0 else f"run {round_no + 1}/{self.cfg.runs}"
        shown = f"{rec['value']:.0f} {unit}" if ok else "FAILED " + (
            res.get("error") or json.dumps(rec.get("verify", {}).get("examples", [])))
        extra = ""
        if rec.get("window") and ok:
            w = rec["window"]
            extra += (f" window {w['s']:.2f} s ({w['value']:.0f} {unit}), first request +{w['first_request_s']:.2f} s,"
                      f" tail {w['tail_s']:.2f} s")
        if rec.get("flowget"):
            extra += " " + " ".join(f"{k}={v}" for k, v in rec["flowget"].items() if k.startswith(("steady", "startup")))
        log(f"  {workload:8s} {tool:8s} {tag:9s} {res['wall_s']:7.2f} s  {shown}{extra}")
        self.save()
        return rec

    # ----- ceilings -----
    def ceilings(self):
        log(f"== ceilings: wrk -t2 -c{self.cfg.conc} -d{self.cfg.wrk_seconds}s on one 16 KiB URL; "
            f"dd bs=1M {self.large_file.name} page cache -> disk")

        def parse_wrk(rec):
            text = Path(rec["stdout"]).read_text()
            m = re.search(r"Requests/sec:\s+([\d.]+)", text)
            errors = re.findall(r"(Socket errors:.*|Non-2xx or 3xx responses:.*)", text)
            if m:
                rec["value"] = float(m.group(1))
            return {"ok": bool(m) and not errors, "errors": errors}

        size = self.large_file.stat().st_size

        def dd(r):
            d = self.fresh_dir("ceilings-dd")
            target = d / "copy.bin"
            self.measure("ceilings", "dd", r, ["dd", f"if={self.large_file}", f"of={target}", "bs=1M", "status=none"],
                         "MB/s", size, run_dir=d,
                         verify=lambda rec: {"ok": target.exists() and target.stat().st_size == size})

        # wrk first, then the dd runs back to back after their warm-up: the VM hands freed memory
        # back to the host within seconds, so a 10 s wrk run between two dd runs would undo the
        # warm-up (seen: 256 MiB in 0.6 s instead of 0.1 s, all of it in page-fault system time)
        for r in range(self.cfg.runs):
            self.measure("ceilings", "wrk", r, ["wrk", "-t2", f"-c{self.cfg.conc}", f"-d{self.cfg.wrk_seconds}s",
                                                "--latency", self.one16k_url],
                         "req/s", 0, verify=parse_wrk, timeout=self.cfg.wrk_seconds + 60)
        for r in range(-self.cfg.warmup, self.cfg.runs):
            dd(r)

    # ----- download workloads -----
    def tool_command(self, tool, workload, d):
        cfg = self.cfg
        lst = self.lists[workload]
        out = d / "out"
        out.mkdir()
        if tool in FLOWGET_TOOLS:
            state = self.daemon_state(workload) if tool == "flowget-daemon" else d / "state"
            return [cfg.flowget, "run", "--urls", lst, "--out", out, "--results", d / "results.jsonl",
                    "--state-dir", state, "--quiet", "--set", "flowget.run.memory-report=true",
                    *cfg.flowget_args]
        if tool == "aria2c":
            base = ["aria2c", "-q", "--no-conf=true", "--allow-overwrite=true", "--auto-file-renaming=false",
                    "--console-log-level=error", "--summary-interval=0", "--download-result=hide", "-d", out]
            if workload == "large":
                return base + ["-x16", "-s16", "-k16M", "--file-allocation=falloc", self.large_url]
            return base + ["-j", str(cfg.conc), "-x", "1", "-i", lst]
        if tool == "curl":
            base = ["curl", "--noproxy", "*", "-sS", "--fail", "--output-dir", out]
            if workload == "large":
                return base + ["-o", self.large_url.rsplit("/", 1)[1], self.large_url]
            return base + ["--parallel", "--parallel-max", str(cfg.conc), "-K", lst.with_suffix(".curl")]
        if tool == "wget2":
            return ["wget2", "-q", "--no-config", "--no-netrc", "--no-hsts", "--no-ocsp", "--no-xattr",
                    "--no-tcp-fastopen", "--progress=none", "--tries=1", "--no-directories",
                    "--no-host-directories", f"--max-threads={cfg.conc}", "-P", out, "-i", lst]
        raise ValueError(tool)

    def workload_tools(self, workload):
        tools = [t for t in self.cfg.tools if not (workload == "large" and t == "wget2")]
        return [t for t in tools if t not in self.skipped]

    def download_workload(self, workload):
        n, total = self.amount[workload]
        unit = "files/s" if workload == "small" else "MB/s"
        amount = n if workload == "small" else total
        tools = self.workload_tools(workload)
        if not tools:
            return
        # Warm-up: the VM hands free memory back to the host, so the first run that writes this
        # much data into fresh pages pays host page faults; later runs reuse the pages that the
        # previous run's deleted files freed. Any tool writing the same data warms the machine, so
        # the warm-up uses one fast tool (curl) rather than a full round.
        warm = self.cfg.warmup_tool if self.cfg.warmup_tool in tools else tools[0]
        log(f"== {workload}: {n} file(s), {total / MIB:.0f} MiB; order {' '.join(tools)}; "
            f"{self.cfg.warmup} warm-up run(s) with {warm}, then {self.cfg.runs} timed round(s)")
        daemon_pid = None
        try:
            for r in range(-self.cfg.warmup, self.cfg.runs):
                for tool in ([warm] if r < 0 else tools):
                    if tool == "flowget-daemon" and daemon_pid is None:
                        # once per workload: start the daemon, then one unmeasured run through it (the JIT's
                        # compilations, the first job's class loading), then the measured ones
                        daemon_pid = self.start_daemon(workload)
                        self.one_run(workload, tool, -1, unit, amount, daemon_pid)
                    self.one_run(workload, tool, r, unit, amount, daemon_pid if tool == "flowget-daemon" else None)
        finally:
            if daemon_pid is not None:
                self.stop_daemon(workload)

    def one_run(self, workload, tool, r, unit, amount, daemon_pid=None):
        d = self.fresh_dir(f"{workload}-{tool}")
        cmd = self.tool_command(tool, workload, d)
        # an empty working directory: flowget promises to write nothing there
        (d / "cwd").mkdir()
        self.measure(workload, tool, r, cmd, unit, amount, run_dir=d / "cwd", daemon_pid=daemon_pid,
                     verify=lambda rec, d=d, t=tool, w=workload: self.check_download(rec, d, t, w))

    # ----- flowget daemon -----
    def daemon_state(self, workload):
        return self.cfg.work / f"daemon-{workload}"

    def daemon_args(self):
        """--parallelism and the cluster-shaping --set pairs of FLOWGET_ARGS (a run's job options stay the run's), then
        BENCH_DAEMON_ARGS (the daemon's own options, e.g. `--warm-up PT0S`)."""
        a, out, i = self.cfg.flowget_args, shlex.split(os.environ.get("BENCH_DAEMON_ARGS", "")), 0
        while i < len(a):
            if a[i] == "--parallelism" and i + 1 < len(a):
                out += a[i:i + 2]
            elif a[i] == "--set" and i + 1 < len(a) and not a[i + 1].startswith(JOB_LEVEL_PREFIXES):
                out += a[i:i + 2]
            i += 2 if a[i] in ("--parallelism", "--set") else 1
        return out

    def start_daemon(self, workload):
        state = self.daemon_state(workload)
        shutil.rmtree(state, ignore_errors=True)
        self.jar.check()
        cmd = [str(self.cfg.flowget), "daemon", "start", "--state-dir", str(state), *self.daemon_args()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
        pointer = state / "daemon.json"
        pid = None
        if proc.returncode == 0 and pointer.exists():
            m = re.search(r"^pid=(\d+)", pointer.read_text(), re.M)
            pid = int(m.group(1)) if m else None
        if not pid:
            raise SystemExit(f"flowget daemon start failed ({proc.returncode}): {proc.stderr[-500:]} {proc.stdout[-300:]}")
        log(f"  {workload:8s} flowget daemon started (pid {pid}): {proc.stdout.strip()}")
        self.await_warm_up(workload, state)
        return pid

    def await_warm_up(self, workload, state):
        """A daemon that warms up in the background (`daemon start --warm-up`, default on) is measured once that has
        ended, as a daemon started a while before its runs would be: a run that arrived earlier would interrupt it,
        and a warm-up still going between two measured runs would take CPU from the other tools' runs.
        DAEMON_WARM_UP_WAIT=0 measures at once; the wait and its end are logged."""
        limit = env_int("DAEMON_WARM_UP_WAIT", 300)
        t0 = time.time()
        status = ""
        while time.time() - t0 < limit:
            status = subprocess.run([str(self.cfg.flowget), "daemon", "status", "--state-dir", str(state)],
                                    capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL).stdout
            if "warm-up running" not in status and "warm-up waiting" not in status:
                break
            time.sleep(1)
        m = re.search(r"warm-up [^,]*,[^,]*,[^)]*\)|warm-up off", status)
        if m:
            log(f"  {workload:8s} flowget daemon: {m.group(0)} (waited {time.time() - t0:.1f} s)")

    def stop_daemon(self, workload):
        state = self.daemon_state(workload)
        subprocess.run([str(self.cfg.flowget), "daemon", "stop", "--state-dir", str(state)],
                       capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
        log(f"  {workload:8s} flowget daemon stopped")
        try:
            shutil.copy(state / "daemon.log", self.cfg.logs / f"{workload}-flowget-daemon.log")
        except OSError:
            pass
        shutil.rmtree(state, ignore_errors=True)

    def check_download(self, rec, d, tool, workload):
        res = verify_dir(d / "out", self.expected[workload], self.cfg.verify)
        if tool in FLOWGET_TOOLS:
            # summary line (stdout) -> key=value pairs, e.g. steady_files_per_s=... startup_s=...
            text = Path(rec["stdout"]).read_text(errors="replace")
            rec["flowget"] = {k: float(v) for k, v in re.findall(r"\b([a-z_]+)=([0-9]+(?:\.[0-9]+)?)\b", text)}
            statuses = {}
            results = d / "results.jsonl"
            if results.exists():
                for line in results.read_text().splitlines():
                    if line.strip():
                        try:
                            s = json.loads(line).get("status", "?")
                        except ValueError:
                            s = "unparsable"
                        statuses[s] = statuses.get(s, 0) + 1
            res["results"] = statuses
            stray = sorted(os.listdir(d / "cwd"))
            if stray:
                res["ok"] = False
                res.setdefault("examples", []).append(f"wrote into the working directory: {stray[:3]}")
            if statuses.get("OK", 0) != len(self.expected[workload]):
                res["ok"] = False
                res.setdefault("examples", []).append(f"results: {statuses}")
        return res

    # ----- whole pass -----
    def run(self):
        cfg = self.cfg
        for d in (cfg.logs, cfg.runs_dir, cfg.results):
            d.mkdir(parents=True, exist_ok=True)
        self.env = environment(cfg)
        log(f"flowget bench {cfg.profile_name}: {self.env['cpu']} ({self.env['nproc']} cores), "
            f"kernel {self.env['kernel']}; results -> {cfg.results}")
        self.prepare_data()
        if any(t in cfg.tools for t in FLOWGET_TOOLS):
            why = self.flowget_available()
            if why:
                for t in FLOWGET_TOOLS:
                    self.skipped[t] = why
                log(f"flowget SKIPPED: {why}")
            else:
                log(self.jar.describe())
                self.env["flowget_jar"] = self.jar.info
        self.inode_goal = InodeGoal(cfg, int(self.cfg.profile["small_n"] * 1.25) + 4096)
        log(f"ext4 guard: {self.inode_goal.reason}")
        self.env["ext4_guard"] = self.inode_goal.reason
        try:
            self.origin.start()
            try:
                body = self.origin.opener.open(self.one16k_url, timeout=5).read()
            except OSError as e:
                body = repr(e).encode()
            if len(body) != SMALL_SIZE:
                raise SystemExit(f"the origin does not serve the data set ({self.one16k_url}: {body[:80]!r}); "
                                 f"nginx workers run as www-data and must be able to read {cfg.data}")
            self.warm_page_cache()
            t0 = time.monotonic()
            for w in cfg.workloads:
                if w == "ceilings":
                    self.ceilings()
                else:
                    self.download_workload(w)
            self.env["measure_s"] = round(time.monotonic() - t0, 1)
            self.jar.check(full=True)
        finally:
            self.origin.stop()
            self.inode_goal.reset()
            if cfg.runs_dir.exists():
                for child in cfg.runs_dir.iterdir():
                    shutil.rmtree(child, ignore_errors=True)
        self.env["loadavg_at_end"] = open("/proc/loadavg").read().split()[:3]
        table, rows = summarize(self)
        (cfg.results / "table.md").write_text(table)
        self.save(rows)
        return table

    def save(self, rows=None):
        doc = {"config": self.cfg.as_json(), "env": self.env, "skipped": self.skipped, "runs": self.runs}
        if rows is not None:
            doc["summary"] = rows
        tmp = self.cfg.results / "raw.json.tmp"
        tmp.write_text(json.dumps(doc, indent=1))
        os.replace(tmp, self.cfg.results / "raw.json")


# ---------------------------------------------------------------------------------------------
# environment and table
# ---------------------------------------------------------------------------------------------

def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=30).stdout.strip()
    except (subprocess.SubprocessError, OSError):
        return ""


def environment(cfg):
    pkgs = "nginx-light nginx aria2 wget2 wrk curl coreutils time openssl"
    return {
        "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "kernel": platform.release(),
        "os": sh(". /etc/os-release && echo $PRETTY_NAME"),
        "cpu": sh("lscpu | sed -n 's/^Model name: *//p'") or platform.processor(),
        "nproc": os.cpu_count(),
        "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "fs_work": sh(f"findmnt -n -o FSTYPE -T {shlex.quote(str(cfg.work))}"),
        "packages": dict(l.split(" ", 1) for l in sh(
            f"dpkg-query -W -f='${{Package}} ${{Version}}\\n' {pkgs} 2>/dev/null").splitlines() if " " in l),
        "java": sh("java -version 2>&1 | head -1"),
        "flowget_commit": sh(f"git -C {shlex.quote(str(REPO))} rev-parse --short HEAD")
                          + (" (dirty)" if sh(f"git -C {shlex.quote(str(REPO))} status --porcelain -uno") else ""),
        "loadavg_at_start": open("/proc/loadavg").read().split()[:3],
    }


def fmt(x):
    if x is None:
        return "n/a"
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def flowget_build(env):
    """The measured build in a few words: the pinned jar's commit and digest, else the bench's own commit."""
    j = env.get("flowget_jar")
    if not j:
        return env.get("flowget_commit")
    return (f"{j['commit']}{' + uncommitted changes' if j.get('uncommitted_changes') else ''} "
            f"(jar sha256 {j['sha256'][:16]})")


def summarize(bench):
    """Builds the table rows (dicts, also stored in raw.json) and the markdown text."""
    cfg = bench.cfg
    timed = [r for r in bench.runs if not r["warmup"]]

    def stats(workload, tool):
        rs = [r for r in timed if r["workload"] == workload and r["tool"] == tool]
        vals = [r["value"] for r in rs if r["ok"]]
        row = {"workload": workload, "tool": tool, "runs": len(rs), "ok": len(vals),
               "unit": rs[0]["unit"] if rs else ""}
        if vals:
            row.update(median=statistics.median(vals), min=min(vals), max=max(vals))
        cpu = [r["cpu_s"] for r in rs if "cpu_s" in r]
        rss = [r["max_rss_kb"] for r in rs if "max_rss_kb" in r]
        conns = [r["tcp_conns"] for r in rs if "tcp_conns" in r]
        if cpu:
            row["cpu_s"] = statistics.median(cpu)
        if rss:
            row["peak_rss_mib"] = max(rss) / 1024
        if conns:
            row["tcp_conns"] = statistics.median(conns)
        other = [r["other_cores"] for r in rs if "other_cores" in r]
        if other:
            row["other_cores"] = statistics.median(other)
        dcpu = [r["daemon"]["cpu_s"] for r in rs if "cpu_s" in r.get("daemon", {})]
        if dcpu:
            # a run through the daemon: CPU s and peak RSS are the daemon's plus the client's; these tell them apart
            row["daemon_cpu_s"] = statistics.median(dcpu)
            row["client_cpu_s"] = statistics.median(
                [r["daemon"]["client_cpu_s"] for r in rs if r["daemon"].get("client_cpu_s") is not None] or [0])
            row["daemon_hwm_mib"] = max(r["daemon"].get("hwm_kb") or 0 for r in rs) / 1024
            row["client_rss_mib"] = max(r["daemon"].get("client_max_rss_kb") or 0 for r in rs) / 1024
        row["wall_s"] = statistics.median([r["wall_s"] for r in rs]) if rs else None
        return row, rs

    rows = []
    ceiling = {}
    if "ceilings" in cfg.workloads:
        for tool, what in (("wrk", f"wrk -t2 -c{cfg.conc} keep-alive, one 16 KiB URL"),
                           ("dd", f"dd bs=1M {bench.large_file.stat().st_size // MIB} MiB page cache -> disk")):
            row, _ = stats("ceilings", tool)
            row["label"] = what
            rows.append(row)
            ceiling[tool] = row.get("median")
    for w in [w for w in cfg.workloads if w != "ceilings"]:
        ceil = ceiling.get("wrk" if w == "small" else "dd")
        wrows = []
        for tool in bench.workload_tools(w):
            row, rs = stats(w, tool)
            row["label"] = tool
            wrows.append(row)
            if tool in FLOWGET_TOOLS:
                # which Java ran it (a pass on Java 25 is labelled as such): the launcher's runtime for the pinned jar
                row["runtime"] = bench.jar.runtime_label()
                # the fetch window: first request to last response at the origin (nginx access log)
                wins = [r["window"] for r in rs if r["ok"] and "value" in r.get("window", {})]
                wrow = {"workload": w, "tool": f"{tool}-window", "label": f"{tool} fetch window",
                        "unit": row["unit"], "runs": row["ok"], "ok": len(wins)}
                if wins:
                    vals = [x["value"] for x in wins]
                    wrow.update(median=statistics.median(vals), min=min(vals), max=max(vals),
                                first_request_s=statistics.median(x["first_request_s"] for x in wins),
                                tail_s=statistics.median(x["tail_s"] for x in wins),
                                window_s=statistics.median(x["s"] for x in wins))
                wrows.append(wrow)
                # steady-state rate and start-up from the summary line flowget prints
                key = "steady_files_per_s" if w == "small" else "steady_mb_per_s"
                steady = [r["flowget"][key] for r in rs if r["ok"] and key in r.get("flowget", {})]
                startup = [r["flowget"]["startup_s"] for r in rs if r["ok"] and "startup_s" in r.get("flowget", {})]
                srow = {"workload": w, "tool": f"{tool}-steady", "label": f"{tool} steady (in job)",
                        "unit": row["unit"], "runs": row["ok"], "ok": len(steady)}
                if steady:
                    srow.update(median=statistics.median(steady), min=min(steady), max=max(steady))
                if startup:
                    srow["startup_s"] = statistics.median(startup)
                # where the resident memory goes at the end of the run (the 'flowget memory:' line), median MiB
                mem = {}
                for k in MEMORY_KEYS:
                    vals = [r["flowget"][k] for r in rs if r["ok"] and k in r.get("flowget", {})]
                    if vals:
                        mem[k] = statistics.median(vals)
                if mem:
                    srow["memory"] = mem
                wrows.append(srow)
        refs = [r.get("median") for r in wrows if r["tool"] in REFERENCES and r.get("median")]
        best = max(refs) if refs else None
        for row in wrows:
            if row["tool"] in REFERENCES and best and row.get("median") == best:
                row["best_ref"] = True
            if row["tool"].startswith("flowget") and best and row.get("median"):
                row["vs_best_ref"] = row["median"] / best
            if ceil and row.get("median"):
                row["vs_ceiling"] = row["median"] / ceil
        rows.extend(wrows)

    env = bench.env
    p = cfg.profile
    lines = [
        f"flowget bench ({cfg.profile_name}), {env.get('date_utc')}, {env.get('cpu')}, {env.get('nproc')} cores, "
        f"{env.get('mem_gib')} GiB, {env.get('os')}, kernel {env.get('kernel')}, flowget {flowget_build(env)}"
        + (f" on {env['flowget_jar']['runtime']}" if env.get("flowget_jar", {}).get("runtime") else ""),
        f"data: small {p['small_n']} x 16 KiB over {HOSTS} hosts, medium {p['medium_n']} x 1 MiB, "
        f"large 1 x {p['large_bytes'] // MIB} MiB; {cfg.runs} timed runs per tool, alternated, after "
        f"{cfg.warmup} warm-up run(s) with {cfg.warmup_tool}; concurrency {cfg.conc}; MB = 10^6 bytes; ext4 guard: {env.get('ext4_guard')}; "
        f"load avg start {' '.join(env.get('loadavg_at_start', []))}, end {' '.join(env.get('loadavg_at_end', []))}",
        "",
        "| workload | tool | median | min–max | unit | ÷ best ref | ÷ ceiling | peak RSS MiB | CPU s | wall s | notes |",
        "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        med = f"**{fmt(r['median'])}**" if r.get("median") is not None else "n/a"
        rng = f"{fmt(r['min'])}–{fmt(r['max'])}" if r.get("median") is not None else "–"
        notes = []
        if r.get("best_ref"):
            notes.append("best reference")
        if r.get("runtime"):
            notes.append(f"on {r['runtime']}")
        if r["ok"] < r["runs"] and not r["tool"].endswith(("-steady", "-window")):
            notes.append(f"{r['runs'] - r['ok']}/{r['runs']} failed")
        if "tcp_conns" in r and r["workload"] != "ceilings":
            notes.append(f"{r['tcp_conns']:.0f} TCP conns/run")
        if "daemon_cpu_s" in r:
            notes.append(f"CPU: daemon {r['daemon_cpu_s']:.2f} s + client {r['client_cpu_s']:.2f} s; "
                         f"RSS: daemon peak {r['daemon_hwm_mib']:.0f} + client {r['client_rss_mib']:.0f} MiB")
        if r.get("other_cores", 0) >= 0.2:
            notes.append(f"other load {r['other_cores']:.1f} cores")
        if r["tool"].endswith("-steady"):
            if r["ok"] < r["runs"]:
                notes.append(f"no {'steady_files_per_s' if r['unit'] == 'files/s' else 'steady_mb_per_s'} "
                             f"in the summary line of {r['runs'] - r['ok']}/{r['runs']} passed run(s)")
            if "startup_s" in r:
                notes.append(f"startup {fmt(r['startup_s'])} s")
            if r.get("memory"):
                notes.append("memory at the end, MiB: " + ", ".join(
                    f"{MEMORY_KEYS[k]} {r['memory'][k]:.0f}" for k in MEMORY_KEYS if k in r["memory"]))
        if r["tool"].endswith("-window") and "window_s" in r:
            notes.append(f"window {fmt(r['window_s'])} s; first request at +{fmt(r['first_request_s'])} s; "
                         f"last response → exit {fmt(r['tail_s'])} s")
        lines.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
            r["workload"], r["label"], med, rng, r["unit"],
            f"{r['vs_best_ref']:.2f}" if "vs_best_ref" in r else "",
            f"{r['vs_ceiling']:.2f}" if "vs_ceiling" in r else "",
            f"{r['peak_rss_mib']:.0f}" if "peak_rss_mib" in r else "–",
            f"{r['cpu_s']:.2f}" if "cpu_s" in r else "–",
            f"{r['wall_s']:.2f}" if r.get("wall_s") else "–",
            "; ".join(notes)))
    if bench.env.get("flowget_jar"):
        lines.append("\n" + bench.jar.describe())
    for tool, why in bench.skipped.items():
        lines.append(f"\n{tool} skipped: {why}")
    failed = [r for r in bench.runs if not r["ok"]]
    if failed:
        lines.append(f"\n{len(failed)} run(s) failed; details in raw.json (runs[].error / runs[].verify)")
    return "\n".join(lines) + "\n", rows


def main():
    ap = argparse.ArgumentParser(
        description="flowget loopback benchmark (see bench/README.md)",
        epilog="flowget's jar is fixed at the start of a pass: the launcher builds it when it is older than the "
               "sources, then the pass measures a read-only copy (under $BENCH_WORK/jars/, through FLOWGET_JAR), "
               "so an edit or a rebuild during the pass changes nothing; the header and table.md name the jar's "
               "SHA-256 and commit. FLOWGET_JAR=path measures that jar as it is (no build).")
    ap.add_argument("--quick", action="store_true", help="smaller data set (whole run < 10 min on 2 cores)")
    ap.add_argument("--only", nargs="+", metavar="WORKLOAD", help=f"subset of: {' '.join(WORKLOADS)}")
    ap.add_argument("--tools", nargs="+", metavar="TOOL", help=f"subset of: {' '.join(TOOLS)}")
    cfg = Config(ap.parse_args())
    os.umask(0o022)                  # nginx workers (www-data) must read the data set
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        os.environ.pop(var, None)
    os.environ["no_proxy"] = os.environ["NO_PROXY"] = "*"
    signal.signal(signal.SIGTERM, _raise_interrupted)
    signal.signal(signal.SIGHUP, _raise_interrupted)
    t0 = time.monotonic()
    bench = Bench(cfg)
    try:
        table = bench.run()
    except JarChanged as e:
        print(f"\nrefused: {e}; the runs would mix two builds. Partial raw data in {cfg.results}/raw.json",
              file=sys.stderr)
        return 3
    except (Interrupted, KeyboardInterrupt) as e:
        print(f"\ninterrupted ({e or 'SIGINT'}); origin stopped, partial raw data in {cfg.results}/raw.json",
              file=sys.stderr)
        return 130
    print()
    print(table, end="")
    print(f"\nwall time of this pass: {time.monotonic() - t0:.0f} s; table and raw data: {cfg.results}")
    return 1 if any(not r["ok"] for r in bench.runs) else 0


if __name__ == "__main__":
    sys.exit(main())
