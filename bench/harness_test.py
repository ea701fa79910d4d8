#!/usr/bin/env python3
"""Tests of harness.py's JarPin: the one jar a pass measures (standard-library unittest; run by
job's BenchHarnessTest in `mvn verify`, or by hand: `python3 -m unittest -v bench/harness_test.py`).

A fake launcher stands in for ./flowget: on `--version` it "builds" (writes the sources' text into the jar) when a
source is newer than the jar and no FLOWGET_JAR is given, as the real launcher does, counts its builds, and names a
runtime."""

import os
import stat
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

FAKE_LAUNCHER = """#!/usr/bin/env bash
home="$(cd "$(dirname "$0")" && pwd)"
jar="$home/job/target/flowget.jar"
[ "$1" = --version ] || exit 64
# like the real launcher, a FLOWGET_JAR runs as it is, never built
if [ -z "${FLOWGET_JAR:-}" ] && { [ ! -f "$jar" ] || [ -n "$(find "$home/udf/src" -newer "$jar" -print -quit)" ]; }; then
  cat "$home"/udf/src/* > "$jar"
  echo build >> "$home/builds"
fi
echo "flowget 0.1.0-test"
echo "runtime: Java 99.0.1+2-LTS (Fake Vendor) at $home/jdk"
"""


class JarPinFixture(unittest.TestCase):
    """A repository with the fake launcher, a work directory, FLOWGET_JAR restored afterwards."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        root = Path(self.tmp.name)
        self.home = root / "repo"
        (self.home / "udf" / "src").mkdir(parents=True)
        (self.home / "job" / "target").mkdir(parents=True)
        self.launcher = self.home / "flowget"
        self.launcher.write_text(FAKE_LAUNCHER)
        self.launcher.chmod(0o755)
        self.jar = self.home / "job" / "target" / "flowget.jar"
        self.work = root / "work"
        self.saved_env = os.environ.get("FLOWGET_JAR")
        os.environ.pop("FLOWGET_JAR", None)

    def tearDown(self):
        if self.saved_env is None:
            os.environ.pop("FLOWGET_JAR", None)
        else:
            os.environ["FLOWGET_JAR"] = self.saved_env
        for p in Path(self.tmp.name).rglob("*"):
            if p.is_file():
                p.chmod(0o644)
        self.tmp.cleanup()

    def edit_source(self, text):
        src = self.home / "udf" / "src" / "A.java"
        src.write_text(text)
        later = time.time() + 5  # newer than any jar written so far, whatever the file system's time granularity
        os.utime(src, (later, later))

    def git(self, *args):
        return subprocess.run(["git", "-C", str(self.home), "-c", "user.name=t", "-c", "user.email=t@localhost",
                               *args], check=True, capture_output=True, text=True).stdout.strip()

    def builds(self):
        f = self.home / "builds"
        return len(f.read_text().splitlines()) if f.exists() else 0



class JarPinTest(JarPinFixture):
    def test_a_stale_jar_is_built_then_a_read_only_copy_is_measured(self):
        self.jar.write_text("old build")
        os.utime(self.jar, (1_000_000, 1_000_000))
        archive = self.home / "job" / "target" / "flowget-cds-123.jsa"
        archive.write_text("archive of the new build")
        self.edit_source("version 1")
        os.utime(archive, (time.time() + 10, time.time() + 10))
        self.git("init", "-q")
        self.git("add", "udf")
        self.git("commit", "-q", "-m", "version 1")
        head = self.git("rev-parse", "--short=12", "HEAD")
        pin = harness.JarPin(self.launcher, self.jar, self.work, explicit_jar=False)

        self.assertIsNone(pin.pin())

        self.assertEqual(self.builds(), 1, "the launcher built the stale jar")
        self.assertEqual(pin.copy.read_text(), "version 1")
        self.assertEqual(os.environ["FLOWGET_JAR"], str(pin.copy))
        self.assertEqual(pin.copy.stat().st_mtime_ns, self.jar.stat().st_mtime_ns, "mtime kept (the CDS key)")
        self.assertFalse(pin.copy.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH), "read-only")
        self.assertEqual((pin.copy.parent / archive.name).read_text(), "archive of the new build")
        self.assertEqual(pin.copy.parent.name, pin.info["sha256"][:16])
        self.assertIn(f"sha256 {pin.info['sha256'][:16]}", pin.describe())
        self.assertIn(f"of commit {head}, measured as the read-only copy {pin.copy}", pin.describe())

    def test_an_edit_and_a_rebuild_during_the_pass_do_not_change_what_is_measured(self):
        self.edit_source("version 1")
        pin = harness.JarPin(self.launcher, self.jar, self.work, explicit_jar=False)
        self.assertIsNone(pin.pin())

        self.edit_source("version 2")  # what spoiled session 4's full pass: the launcher rebuilt mid-pass
        os.environ.pop("FLOWGET_JAR")
        self.assertEqual(os.system(f"'{self.launcher}' --version >/dev/null"), 0)
        os.environ["FLOWGET_JAR"] = str(pin.copy)

        self.assertEqual(self.builds(), 2)
        self.assertEqual(self.jar.read_text(), "version 2")
        pin.check(full=True)
        self.assertEqual(pin.copy.read_text(), "version 1")

    def test_uncommitted_changes_are_named(self):
        self.edit_source("version 1")
        self.git("init", "-q")
        self.git("add", "udf")
        self.git("commit", "-q", "-m", "version 1")
        self.edit_source("version 2")
        pin = harness.JarPin(self.launcher, self.jar, self.work, explicit_jar=False)

        self.assertIsNone(pin.pin())

        self.assertIn(" + uncommitted changes, measured as", pin.describe())
        self.assertEqual(pin.copy.read_text(), "version 2")

    def test_a_changed_copy_is_refused(self):
        self.edit_source("version 1")
        pin = harness.JarPin(self.launcher, self.jar, self.work, explicit_jar=False)
        self.assertIsNone(pin.pin())
        st = pin.copy.stat()

        pin.copy.chmod(0o644)
        pin.copy.write_text("version 2")  # same size, then the old mtime back: only the digest tells
        os.utime(pin.copy, ns=(st.st_atime_ns, st.st_mtime_ns))
        pin.check()
        with self.assertRaises(harness.JarChanged):
            pin.check(full=True)

        pin.copy.write_text("version 22")
        with self.assertRaisesRegex(harness.JarChanged, "changed during the pass"):
            pin.check()

    def test_a_given_jar_is_measured_as_it_is(self):
        given = Path(self.tmp.name) / "given.jar"
        given.write_text("someone's build")
        os.environ["FLOWGET_JAR"] = str(given)
        pin = harness.JarPin(self.launcher, given, self.work, explicit_jar=True)

        self.assertIsNone(pin.pin())

        self.assertEqual(self.builds(), 0, "no build for a given jar")
        self.assertEqual(pin.copy.read_text(), "someone's build")
        self.assertIn("commit unknown (FLOWGET_JAR given)", pin.describe())

    def test_the_runtime_the_launcher_runs_the_jar_on_is_named(self):
        """A pass on another Java (FLOWGET_JAVA_HOME, JAVA_HOME) is labelled with it: the jar's --version names its
        runtime, for a given jar too (asked after the pin)."""
        for explicit in (False, True):
            with self.subTest(explicit_jar=explicit):
                self.edit_source("version 1")
                if explicit:
                    os.environ["FLOWGET_JAR"] = str(self.jar)
                pin = harness.JarPin(self.launcher, self.jar, self.work, explicit_jar=explicit)

                self.assertIsNone(pin.pin())

                self.assertEqual(pin.info["runtime"], f"Java 99.0.1+2-LTS (Fake Vendor) at {self.home}/jdk")
                self.assertEqual(pin.runtime_label(), "Java 99.0.1+2-LTS")
                self.assertTrue(pin.describe().endswith(f"; runtime Java 99.0.1+2-LTS (Fake Vendor) at {self.home}/jdk"))

    def test_a_missing_jar_is_why_flowget_is_skipped(self):
        pin = harness.JarPin(self.launcher, self.home / "nothing.jar", self.work, explicit_jar=True)
        self.assertIn("missing", pin.pin())
        pin.check()  # nothing pinned: nothing to refuse


def write_jar(path, text, manifest=None):
    """A real jar (zip) holding a file of `text` and, when given, a manifest with these main attributes."""
    import zipfile
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("A.class", text)
        if manifest is not None:
            z.writestr("META-INF/MANIFEST.MF",
                       "Manifest-Version: 1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in manifest.items()) + "\r\n")


class JarCommitTest(JarPinFixture):
    """The commit of the measured jar comes from its manifest, not from whatever the working tree is at pin time."""

    def test_the_commit_is_the_one_the_jars_manifest_names(self):
        self.edit_source("version 1")
        self.git("init", "-q")
        self.git("add", "udf")
        self.git("commit", "-q", "-m", "version 1")
        given = Path(self.tmp.name) / "given.jar"
        write_jar(given, "a build", {"Flowget-Commit": "0123456789ab", "Flowget-Commit-Dirty": "true"})
        os.environ["FLOWGET_JAR"] = str(given)
        pin = harness.JarPin(self.launcher, given, self.work, explicit_jar=True)

        self.assertIsNone(pin.pin())

        self.assertEqual(pin.info["commit"], "0123456789ab")
        self.assertIn("of commit 0123456789ab + uncommitted changes, measured as", pin.describe())
        self.assertNotIn(self.git("rev-parse", "--short=12", "HEAD"), pin.describe())

    def test_a_jar_built_without_git_says_so(self):
        given = Path(self.tmp.name) / "given.jar"
        write_jar(given, "a build", {"Flowget-Commit": "${git.commit.id.abbrev}",
                                     "Flowget-Commit-Dirty": "${git.dirty}"})
        os.environ["FLOWGET_JAR"] = str(given)
        pin = harness.JarPin(self.launcher, given, self.work, explicit_jar=True)

        self.assertIsNone(pin.pin())

        self.assertIn("of commit unknown (built without git), measured as", pin.describe())


class JarPruneTest(JarPinFixture):
    """Each distinct jar a pass measures is a ~310 MiB copy under $BENCH_WORK/jars/: a pin keeps the few most
    recently pinned and deletes the rest, never one that a running pass holds."""

    def pin_jar(self, name, keep=None):
        jar = Path(self.tmp.name) / f"{name}.jar"
        write_jar(jar, f"build {name}")
        os.environ["FLOWGET_JAR"] = str(jar)
        pin = harness.JarPin(self.launcher, jar, self.work, explicit_jar=True)
        if keep is not None:
            pin.KEEP_JARS = keep
        self.assertIsNone(pin.pin())
        time.sleep(0.02)  # distinct pin times, whatever the file system's granularity
        return pin

    def pinned_builds(self):
        return sorted(d.name for d in (self.work / "jars").iterdir())

    def test_only_the_newest_pinned_jars_are_kept(self):
        pins = []
        for name in ["a", "b", "c", "d"]:
            p = self.pin_jar(name)
            p.release()  # that pass ended
            pins.append(p)
        self.assertEqual(len(self.pinned_builds()), 3)
        self.assertFalse(pins[0].copy.exists(), "the oldest jar was deleted")
        for p in pins[1:]:
            self.assertTrue(p.copy.exists())

        again = self.pin_jar("b")  # pinned again: the most recent now, "c" is the oldest
        again.release()
        self.pin_jar("e").release()
        self.assertFalse(pins[2].copy.exists())
        self.assertTrue(again.copy.exists())
        self.assertTrue(pins[3].copy.exists())

    def test_a_jar_a_running_pass_measures_is_never_deleted(self):
        running = self.pin_jar("a")  # its pass is still running: it holds its directory
        for name in ["b", "c", "d", "e"]:
            self.pin_jar(name, keep=1).release()
        self.assertTrue(running.copy.exists())
        self.assertEqual(running.copy.read_bytes()[:2], b"PK")
        self.assertEqual(len(self.pinned_builds()), 2, "the running pass's jar and the newest")
        self.assertEqual(harness.sha256_file(running.copy), running.info["sha256"])

        running.release()
        self.pin_jar("f", keep=1).release()
        self.assertFalse(running.copy.exists(), "deleted once its pass ended")
        self.assertEqual(len(self.pinned_builds()), 1)

    def test_keep_comes_from_the_environment(self):
        os.environ["BENCH_KEEP_JARS"] = "2"
        try:
            for name in ["a", "b", "c"]:
                self.pin_jar(name).release()
        finally:
            os.environ.pop("BENCH_KEEP_JARS")
        self.assertEqual(len(self.pinned_builds()), 2)


class PeakRssTest(unittest.TestCase):
    def test_a_daemons_peak_is_reset_to_its_rss_before_a_run(self):
        big = bytearray(200 * 1024 * 1024)  # touched: resident; freed with munmap below
        big[::4096] = b"x" * len(big[::4096])
        del big
        pid = os.getpid()
        before = harness.proc_status_kb(pid, "VmHWM")

        self.assertTrue(harness.reset_peak_rss(pid))

        after = harness.proc_status_kb(pid, "VmHWM")
        self.assertLess(after, before - 150 * 1024, "the 200 MiB peak before the reset no longer counts")
        self.assertFalse(harness.reset_peak_rss(2 ** 22 + 12345), "no such process")


if __name__ == "__main__":
    unittest.main()
