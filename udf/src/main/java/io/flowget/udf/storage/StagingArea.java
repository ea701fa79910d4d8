package io.flowget.udf.storage;

import io.flowget.udf.body.Digests;

import org.apache.flink.annotation.Internal;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;

/**
 * Names and discards the partial bodies of a subtask's requests: the staging file of a request is {@code
 * <host tag>-<seq>-g<generation>.part} in the staging directory, where the host tag is the first 8 bytes of
 * the SHA-256 of the host in lower-case hex. The name is a function of its inputs only, so a request issued
 * again after a restore finds the file its previous attempt left. That name format is persisted (staging files
 * outlive the process), so it must not change.
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
        return dir.resolve(tag(host) + "-d" + Long.toHexString(downloadId) + "-g" + generation + ".part");
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

    static String hostTag(String host) {
        return HexFormat.of().formatHex(Digests.sha256(host.getBytes(StandardCharsets.UTF_8)), 0, 8);
    }
}
