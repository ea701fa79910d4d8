package io.flowget.udf.storage;

import io.flowget.udf.config.FlowgetOptions.Durability;
import io.flowget.udf.config.FlowgetOptions.OnConflict;
import io.flowget.udf.storage.OutputStore.FileMeta;
import io.flowget.udf.storage.OutputStore.PathConflictException;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Publish with the commit (issue 15) on real files: nothing is visible before its checkpoint completes, a checkpoint
 * publishes exactly what was staged before its barrier, a restore re-applies idempotently and removes what a crash
 * took back, and reservations decide two requests for one path.
 */
class PublishAtCommitTest {
    private static final String URL = "https://example.com/a.txt";
    private static final String OTHER = "https://example.com/other";

    @TempDir Path tmp;

    @Test
    void aStagedFileAppearsOnlyWhenItsCheckpointCompletes() throws Exception {
        PublishAtCommit p = instance("job-0", "s0-a0");
        Path target = out().resolve("d/a.txt");

        p.stage(staged("v1"), "d/a.txt", URL, FileMeta.NONE);
        assertThat(target).doesNotExist();
        List<PendingPublish> state1 = p.seal(1);
        p.stage(staged("later"), "d/b.txt", URL + "?b", FileMeta.NONE);

        assertThat(state1).hasSize(1);
        assertThat(p.committed(1)).isEqualTo(1);
        assertThat(target).hasContent("v1");
        assertThat(out().resolve("d/b.txt")).as("staged after barrier 1: belongs to checkpoint 2").doesNotExist();
        assertThat(p.pendingCount()).isEqualTo(1);
        assertThat(p.seal(2)).hasSize(1);
        assertThat(p.committed(2)).isEqualTo(1);
        assertThat(out().resolve("d/b.txt")).hasContent("later");
        assertThat(p.pendingCount()).isZero();
        assertThat(p.seal(3)).isEmpty();
    }

    @Test
    void aLaterCompletionCommitsEarlierCheckpointsWhoseNotificationWasMissed() throws Exception {
        PublishAtCommit p = instance("job-0", "s0-a0");
        p.stage(staged("one"), "one.txt", URL + "1", FileMeta.NONE);
        p.seal(1);
        p.stage(staged("two"), "two.txt", URL + "2", FileMeta.NONE);
        p.seal(2);

        assertThat(p.committed(2)).isEqualTo(2);
        assertThat(out().resolve("one.txt")).hasContent("one");
        assertThat(out().resolve("two.txt")).hasContent("two");
    }

    @Test
    void aRestoreReappliesIdempotentlyAndDeletesWhatTheCrashTookBack() throws Exception {
        PublishAtCommit before = instance("job-0", "s0-a0");
        before.stage(staged("committed"), "c.txt", URL, FileMeta.NONE);
        List<PendingPublish> checkpoint1 = List.copyOf(before.seal(1));
        before.stage(staged("taken back"), "t.txt", OTHER, FileMeta.NONE); // after the barrier, then a crash
        Path orphan = staging().resolve(before.seal(2).get(1).ready);

        // Crash before the rename of checkpoint 1; the restore from checkpoint 1 applies it.
        PublishAtCommit after = instance("job-1", "s0-a0");
        assertThat(after.restore(checkpoint1, 0, 1)).isEqualTo(1);
        assertThat(out().resolve("c.txt")).hasContent("committed");
        assertThat(out().resolve("t.txt")).doesNotExist();
        assertThat(orphan).doesNotExist();

        // Crash after the rename: a second restore from the same checkpoint changes nothing.
        PublishAtCommit again = instance("job-2", "s0-a0");
        again.restore(checkpoint1, 0, 1);
        assertThat(out().resolve("c.txt")).hasContent("committed");
        assertThat(PublishAtCommit.anyReady(staging())).isFalse();
        PublishAtCommit.deleteEmptyReadyDirs(staging());
        assertThat(staging().resolve(PublishAtCommit.READY_DIR)).doesNotExist();
    }

    /**
     * A committed file goes into place by a hard link, then its ready name is removed (no probe of the missing path,
     * issue 16). A crash between the two leaves the file at its path under both names: the restore must finish the
     * publish, not rename the file onto itself, which rename(2) does by doing nothing (the ready name stayed, and
     * {@code flowget run}'s end waits for the ready folders to empty).
     */
    @Test
    void aRestoreAfterACrashBetweenTheLinkAndTheReadyNamesRemovalLeavesNothingReady() throws Exception {
        PublishAtCommit before = instance("job-0", "s0-a0");
        before.stage(staged("linked"), "d/l.txt", URL, FileMeta.NONE);
        List<PendingPublish> checkpoint1 = List.copyOf(before.seal(1));
        Path ready = staging().resolve(checkpoint1.get(0).ready);
        Path target = out().resolve("d/l.txt");
        Files.createLink(target, ready); // the crash came right after the link

        assertThat(instance("job-1", "s0-a0").restore(checkpoint1, 0, 1)).isEqualTo(1);

        assertThat(target).hasContent("linked");
        assertThat(ready).doesNotExist();
        assertThat(PublishAtCommit.anyReady(staging())).isFalse();
    }

    /** The commit's link never follows nor replaces a symbolic link planted at the path after the stage. */
    @Test
    void aDanglingLinkPlantedAtThePathBeforeTheCommitIsNeitherFollowedNorReplaced() throws Exception {
        PublishAtCommit p = instance("job-0", "s0-a0");
        p.stage(staged("mine"), "d/x.txt", URL, FileMeta.NONE);
        Path elsewhere = tmp.resolve("elsewhere.txt");
        Path target = out().resolve("d/x.txt");
        Files.createSymbolicLink(target, elsewhere); // dangling: nothing at elsewhere.txt
        Path ready = staging().resolve(p.seal(1).get(0).ready);

        p.committed(1);

        assertThat(Files.isSymbolicLink(target)).isTrue();
        assertThat(elsewhere).doesNotExist();
        assertThat(ready).as("kept, with an ERROR, as any conflict the commit finds").hasContent("mine");
    }

    @Test
    void aRestoreAtAnotherParallelismSplitsTheWorkAndKeepsEveryReferencedFile() throws Exception {
        PublishAtCommit before = instance("job-0", "s0-a0");
        for (int i = 0; i < 8; i++) {
            before.stage(staged("f" + i), "f" + i + ".txt", URL + i, FileMeta.NONE);
        }
        List<PendingPublish> checkpoint = List.copyOf(before.seal(1));

        int first = instance("job-1", "s0-a0").restore(checkpoint, 0, 2);
        // Subtask 0 has applied its share; subtask 1's files must still be there for it.
        for (PendingPublish e : checkpoint) {
            assertThat(Files.exists(staging().resolve(e.ready)) || Files.exists(out().resolve(e.path))).isTrue();
        }
        int second = instance("job-1", "s1-a0").restore(checkpoint, 1, 2);

        assertThat(first + second).isEqualTo(8);
        for (int i = 0; i < 8; i++) {
            assertThat(out().resolve("f" + i + ".txt")).hasContent("f" + i);
        }
        assertThat(PublishAtCommit.anyReady(staging())).isFalse();
    }

    @Test
    void twoRequestsForOnePathInOneIntervalAreDecidedByTheReservation() throws Exception {
        PublishAtCommit p = instance("job-0", "s0-a0");
        p.stage(staged("first"), "same.txt", URL, FileMeta.NONE);
        Path second = staged("second");

        assertThatThrownBy(() -> p.stage(second, "same.txt", OTHER, FileMeta.NONE))
                .isInstanceOf(PathConflictException.class)
                .hasMessageContaining("reserved for " + URL);
        assertThat(p.reserved(out().resolve("same.txt"))).isTrue();
        p.stage(staged("again"), "same.txt", URL, FileMeta.NONE); // the same URL replaces: later wins

        p.seal(1);
        p.committed(1);
        assertThat(out().resolve("same.txt")).hasContent("again");
        assertThat(p.reserved(out().resolve("same.txt"))).isFalse();
    }

    @Test
    void renamesOffTheTaskThreadStayInTheStateUntilTheirEndIsBackAndRunInCheckpointOrder() throws Exception {
        PublishAtCommit p = instance("job-0", "s0-a0");
        p.stage(staged("v1"), "same.txt", URL, FileMeta.NONE);
        p.seal(1);
        p.stage(staged("v2"), "same.txt", URL, FileMeta.NONE);
        p.seal(2);
        List<Runnable> pool = new ArrayList<>(); // a pool whose tasks the test runs
        List<Runnable> taskThread = new ArrayList<>(); // a mailbox whose mail the test runs

        assertThat(p.committedAsync(1, pool::add, taskThread::add)).isEqualTo(1);
        assertThat(p.committedAsync(2, pool::add, taskThread::add)).isEqualTo(1);
        assertThat(out().resolve("same.txt")).as("not renamed before the pool runs").doesNotExist();
        assertThat(PublishAtCommit.anyReady(staging())).isTrue();
        assertThat(p.seal(3)).as("still referenced by the next checkpoint").hasSize(2);

        runAll(pool); // checkpoint 1's batch, then (chained after it) checkpoint 2's
        assertThat(out().resolve("same.txt")).as("the later checkpoint's version wins").hasContent("v2");
        assertThat(PublishAtCommit.anyReady(staging())).isFalse();
        assertThat(p.seal(4)).as("referenced until their end has run on the task thread").hasSize(2);
        assertThat(p.reserved(out().resolve("same.txt"))).isTrue();

        runAll(taskThread);
        assertThat(p.seal(5)).isEmpty();
        assertThat(p.pendingCount()).isZero();
        assertThat(p.reserved(out().resolve("same.txt"))).isFalse();
    }

    @Test
    void aPublishPreparedOffTheTaskThreadForARequestThatEndedIsDropped() throws Exception {
        PublishAtCommit p = instance("job-0", "s0-a0");
        OutputStore.Publish publish = p.begin(staged("late"), "late.txt", URL, FileMeta.NONE);
        OutputStore.Publish other = p.begin(staged("other"), "late.txt", OTHER, FileMeta.NONE);
        assertThat(other.rivals).as("queued behind the first, which decides it if it stages").containsExactly(publish);
        p.prepare(publish);
        assertThat(PublishAtCommit.anyReady(staging())).isTrue();

        p.abandon(publish); // its request ended (a deadline) while the pool prepared it
        assertThat(PublishAtCommit.anyReady(staging())).isFalse();
        assertThat(p.reserved(out().resolve("late.txt"))).as("the other URL's publish is on its way").isTrue();
        assertThat(p.seal(1)).isEmpty();

        p.prepare(other);
        p.register(other);
        p.seal(2);
        assertThat(p.committed(2)).as("an abandoned file does not hold its path").isEqualTo(1);
        assertThat(out().resolve("late.txt")).hasContent("other");
        assertThat(p.reserved(out().resolve("late.txt"))).isFalse();
    }

    private static void runAll(List<Runnable> queue) {
        while (!queue.isEmpty()) {
            queue.remove(0).run();
        }
    }

    @Test
    void aReservedPathHasNoRecordedCopyForConditionalRefetch() throws Exception {
        assumeTrue(UserXattrs.supported(tmp), "the file system of @TempDir does not take user xattrs");
        OutputStore store = new OutputStore(out(), staging(), OnConflict.FAIL, Durability.NONE);
        FileMeta meta = new FileMeta("\"v1\"", null, "ab".repeat(32), null);
        store.publish(staged("v1"), "r.txt", URL, meta); // before publishAtCommit: at once
        assertThat(store.recorded("r.txt", URL)).isNotNull();

        store.publishAtCommit("job-0", "s0-a0", true);
        store.publish(staged("v2"), "r.txt", URL, new FileMeta("\"v2\"", null, "cd".repeat(32), null));

        assertThat(store.recorded("r.txt", URL)).as("v1 is about to be replaced").isNull();
        store.sealPublishes(1);
        store.committed(1);
        assertThat(store.recorded("r.txt", URL).etag()).isEqualTo("\"v2\"");
    }

    private PublishAtCommit instance(String incarnation, String name) throws IOException {
        GroupCommit commit = new GroupCommit(Durability.CHECKPOINT);
        FilePublisher publisher = new FilePublisher(out(), OnConflict.FAIL, commit);
        return new PublishAtCommit(publisher, commit, OnConflict.FAIL, staging(), incarnation, name);
    }

    private Path out() {
        return tmp.resolve("out");
    }

    /**
     * {@code flowget run}'s end polls {@link PublishAtCommit#anyReady} while the commit's renames empty the ready
     * folders: a file or folder that goes between the listing and its lstat must count as gone, not fail the run
     * (it did: {@code Files.walk}'s NoSuchFileException ended a completed run with exit 70).
     */
    @Test
    void anyReadyLooksWhileTheCommitEmptiesTheReadyFolders() throws Exception {
        Path ready = staging().resolve(PublishAtCommit.READY_DIR);
        AtomicBoolean stop = new AtomicBoolean();
        AtomicInteger rounds = new AtomicInteger();
        Thread committer = new Thread(() -> {
            try {
                for (int i = 0; i < 3_000 && !stop.get(); i++) { // bounded: a few seconds at most
                    Path incarnation = Files.createDirectories(ready.resolve("job-" + (i % 3)));
                    List<Path> files = new ArrayList<>();
                    for (int f = 0; f < 8; f++) {
                        files.add(Files.writeString(incarnation.resolve("s0-a0-" + i + "-" + f + ".ready"), "x"));
                    }
                    for (Path f : files) {
                        Files.delete(f);
                    }
                    Files.delete(incarnation);
                    rounds.incrementAndGet();
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        committer.start();
        try {
            while (committer.isAlive()) {
                PublishAtCommit.anyReady(staging()); // must not throw while entries come and go
            }
        } finally {
            stop.set(true);
            committer.join();
        }
        assertThat(rounds.get()).as("the committer ran to its end").isEqualTo(3_000);
        assertThat(PublishAtCommit.anyReady(staging())).isFalse();
    }

    private Path staging() throws IOException {
        return Files.createDirectories(tmp.resolve("staging"));
    }

    private Path staged(String content) throws IOException {
        return Files.writeString(Files.createTempFile(staging(), "s", ".part"), content);
    }
}
