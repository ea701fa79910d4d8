#!/usr/bin/env python3
"""Tests of harness.py's JarPin: the one jar a pass measures (standard-library unittest; run by
job's BenchHarnessTest in `mvn verify`, or by hand: `python3 -m unittest -v bench/harness_test.py`).

A fake launcher stands in for ./flowget: on `--version` it "builds" (writes the sources' text into the jar) when a
source is newer than the jar, as the real launcher does, and counts its builds."""

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
if [ ! -f "$jar" ] || [ -n "$(find "$home/udf/src" -newer "$jar" -print -quit)" ]; then
  cat "$home"/udf/src/* > "$jar"
  echo build >> "$home/builds"
fi
echo "flowget 0.1.0-test"
"""


class JarPinTest(unittest.TestCase):
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

    def test_a_missing_jar_is_why_flowget_is_skipped(self):
        pin = harness.JarPin(self.launcher, self.home / "nothing.jar", self.work, explicit_jar=True)
        self.assertIn("missing", pin.pin())
        pin.check()  # nothing pinned: nothing to refuse


if __name__ == "__main__":
    unittest.main()
