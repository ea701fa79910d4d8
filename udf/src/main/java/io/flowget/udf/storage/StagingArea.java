package io.flowget.udf.storage;

import io.flowget.udf.body.Digests;

import org.apache.flink.annotation.Internal;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Names, discards and sweeps the partial bodies of a subtask's requests. The staging file of a download is
 * {@code k<key group>-<host tag>-d<download id in hex>-g<generation>.part} in the staging directory, where the key
 * group is the host's ({@link #namespaceByKeyGroup}) and the host tag is the first 8 bytes of the SHA-256 of the
 * host in lower-case hex. The name is a function of the download's persisted state only, so a download restored
 * after a failure finds the file its previous attempt left. Older names stay readable: {@code
 * <host tag>-<seq>-g<generation>.part} for state from before download ids (id 0), and a restored download's
 * {@code <host tag>-d<id>-g<generation>.part} from before key groups is adopted by {@link #sweep}.
 *
 * <p><b>Namespaces (issue 12, "staging files no restored download owns are removed at start").</b> The staging
 * directory is shared by every subtask (and every TaskManager on a machine); a key group belongs to exactly one
 * subtask at a time, and only that subtask names files with its {@code k<key group>-} prefix. So at start a subtask
 * may delete every namespaced file of the key groups it now owns that none of its restored downloads refers to
 * ({@link #sweep}): it never touches another subtask's live file, before or after a rescale. Files outside the
 * namespaces (older names, the {@code ready} folder of {@link PublishAtCommit}, anything else) are never swept.
 *
 * <p>This is the writer half of the storage (Iceberg's stream writer): bytes land here, invisible under
 * {@code --out}, until {@link FilePublisher} moves a complete file into place or {@link #discard} drops it.
 *
 * <p>Not thread-safe (the host-tag cache is a plain map): owned by one fetch subtask's task thread.
 */
@Internal
final class StagingArea {
    private static final Logger LOG = LoggerFactory.getLogger(StagingArea.class);
    /** Bound of the host-tag cache: a long-running job may see millions of hosts. */
    static final int MAX_HOST_TAGS = 10_000;

    private final Path dir;
    /** Number of key groups ({@code pipeline.max-parallelism}); 0 until {@link #namespaceByKeyGroup}: no prefix. */
    private int keyGroups;
    /** Staging-name prefix per host: a SHA-256 per lookup is too much for a path built several times a request. */
    private final Map<String, String> hostTags = new HashMap<>();

    /** Uses {@code dir} (made absolute and normalized) as the staging directory, creating it if needed. */
    StagingArea(Path dir) throws IOException {
        this.dir = dir.toAbsolutePath().normalize();
        Files.createDirectories(this.dir);
    }

    Path dir() {
        return dir;
    }

    /**
     * From now on names a download's staging file in the namespace of its host's key group among {@code
     * maxParallelism} ({@code pipeline.max-parallelism}; the same function keyBy uses, so the namespace is owned
     * by the subtask that owns the host's state).
     */
    void namespaceByKeyGroup(int maxParallelism) {
        this.keyGroups = maxParallelism;
    }

    /**
     * The staging file of a host's request: named by host, queue sequence number and generation, so a re-issued
     * request (after a restore or a retry) writes the same file again, and a download that starts over (new
     * generation) never shares a file with late writes of the old one.
     */
    Path file(String host, long seq, int generation) {
        return dir.resolve(tag(host) + "-" + seq + "-g" + generation + ".part");
    }

    /**
     * The staging file of a download with a unique id: {@code <host tag>-d<id in hex>-g<generation>.part}, unique
     * for ever (ids are never reused, unlike queue sequence numbers); {@code downloadId} 0 (state from before ids)
     * falls back to {@link #file(String, long, int)}.
     */
    Path file(String host, long downloadId, long seq, int generation) {
        if (downloadId == 0) {
            return file(host, seq, generation);
        }
        String name = tag(host) + "-d" + Long.toHexString(downloadId) + "-g" + generation + ".part";
        return dir.resolve(keyGroups == 0 ? name : "k" + KeyGroupRangeAssignment.assignToKeyGroup(host, keyGroups) + "-"
                + name);
    }

    /**
     * The start-up sweep of a subtask that owns key groups {@code [firstKeyGroup, lastKeyGroup]}: deletes every
     * staging file in those key groups' namespaces whose name is not in {@code keep} (the staging files of the
     * downloads it restored). Before that, a kept file that is missing under its name but present under its name
     * from before key groups (no {@code k<n>-} prefix) is renamed to it, so a download restored from such a state
     * keeps its chunks. Never follows a link: a link is deleted as the entry it is, its target untouched;
     * directories and names outside the namespaces are left alone. Runs on the task thread before the subtask
     * writes any staging file; its cost is one listing of the staging directory.
     *
     * @return the number of files deleted
     */
    int sweep(int firstKeyGroup, int lastKeyGroup, Collection<Path> keep) throws IOException {
        Set<String> kept = new HashSet<>();
        for (Path p : keep) {
            kept.add(p.getFileName().toString());
            adoptUnprefixed(p);
        }
        List<Path> orphans = new ArrayList<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
            for (Path p : entries) {
                String name = p.getFileName().toString();
                Matcher m = NAMESPACED.matcher(name);
                if (m.matches() && !kept.contains(name)) {
                    int keyGroup = Integer.parseInt(m.group(1));
                    if (keyGroup >= firstKeyGroup && keyGroup <= lastKeyGroup) {
                        orphans.add(p);
                    }
                }
            }
        }
        int deleted = 0;
        for (Path p : orphans) {
            BasicFileAttributes a = SafeFiles.attributes(p);
            if (a != null && (a.isRegularFile() || a.isSymbolicLink())) {
                try {
                    deleted += Files.deleteIfExists(p) ? 1 : 0; // a link itself, never its target
                } catch (IOException e) {
                    LOG.warn("Could not delete orphaned staging file {}: {}", p, e.toString());
                }
            }
        }
        if (deleted > 0) {
            LOG.info("Deleted {} staging files in key groups {}-{} that no restored download owns ({} kept)",
                    deleted, firstKeyGroup, lastKeyGroup, kept.size());
        }
        return deleted;
    }

    /** Gives a restored download's file its namespaced name when only its name from before key groups exists. */
    private void adoptUnprefixed(Path namespaced) throws IOException {
        String name = namespaced.getFileName().toString();
        Matcher m = NAMESPACED.matcher(name);
        if (!m.matches() || SafeFiles.attributes(namespaced) != null) {
            return;
        }
        Path old = dir.resolve(name.substring(name.indexOf('-') + 1));
        BasicFileAttributes a = SafeFiles.attributes(old);
        if (a != null && a.isRegularFile()) {
            Files.move(old, namespaced, StandardCopyOption.ATOMIC_MOVE);
        }
    }

    private String tag(String host) {
        if (hostTags.size() > MAX_HOST_TAGS) {
            hostTags.clear(); // bounded: a long-running job may see millions of hosts
        }
        return hostTags.computeIfAbsent(host, StagingArea::hostTag);
    }

    /** Deletes a staging file that will not be published (failure, checksum mismatch); a missing one is fine. */
    void discard(Path staging) {
        try {
            Files.deleteIfExists(staging);
        } catch (IOException e) {
            LOG.warn("Could not delete staging file {}: {}", staging, e.toString());
        }
    }

    /** Number of hosts whose tag is cached; at most {@link #MAX_HOST_TAGS} + 1. */
    int cachedHostTags() {
        return hostTags.size();
    }

    /** A namespaced staging name: key group, host tag, download id, generation. */
    private static final Pattern NAMESPACED = Pattern.compile("k(\\d{1,5})-[0-9a-f]{16}-d[0-9a-f]{1,16}-g\\d+\\.part");

    static String hostTag(String host) {
        return HexFormat.of().formatHex(Digests.sha256(host.getBytes(StandardCharsets.UTF_8)), 0, 8);
    }
}
