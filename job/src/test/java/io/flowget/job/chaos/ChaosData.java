package io.flowget.job.chaos;

import io.flowget.udf.testing.RangeRoute;
import io.flowget.udf.testing.TestOrigin;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The marked batch of an experiment (chaos/README.md, "Steady state"): {@code n} files with deterministic content
 * served by one origin (with Range support and an ETag, like a real file server) and requested through several
 * {@link FaultProxy}s (each proxy is its own host to the job,
 * so the batch spreads over several keys). Every request is a JSON event with an explicit id
 * {@code chaos-<run>-NNNNNN}; every other one also carries the expected {@code sha256}, so both ways of catching a
 * corrupt body are exercised (a FAILED checksum mismatch, and the byte comparison of {@link ChaosVerdict}).
 */
final class ChaosData {
    /** One file of the batch; {@code path} is its path on the origin. */
    record Item(String id, String url, String path, byte[] body) {}

    /**
     * File sizes: {@code smallShare} of the files between 1 KiB and {@code smallMax}, the rest between
     * {@code largeMin} and {@code largeMax}.
     */
    record SizeMix(double smallShare, int smallMax, int largeMin, int largeMax) {
        /** Mostly small files, some of a few hundred KiB: about 31 KiB on average. */
        static final SizeMix BOUNDED = new SizeMix(0.9, 24 * 1024, 100 * 1024, 300 * 1024);

        int draw(SplittableRandom r) {
            return r.nextDouble() < smallShare ? r.nextInt(1024, smallMax + 1) : r.nextInt(largeMin, largeMax + 1);
        }
    }

    private final Map<String, Item> items = new LinkedHashMap<>();
    private final long totalBytes;

    private ChaosData(List<Item> list) {
        long total = 0;
        for (Item i : list) {
            items.put(i.id(), i);
            total += i.body().length;
        }
        this.totalBytes = total;
    }

    /**
     * Creates the batch and installs its files on {@code origin}, under {@code /<run>/NNNNNN.bin}.
     *
     * @param run short name of the run, part of ids and paths (e.g. "net")
     * @param proxies request i goes through {@code proxies[i % size]}
     */
    static ChaosData create(String run, TestOrigin origin, List<FaultProxy> proxies, int n, SizeMix mix, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        List<Item> list = new ArrayList<>(n);
        for (int i = 1; i <= n; i++) {
            String name = String.format("%06d", i);
            String path = "/" + run + "/" + name + ".bin";
            byte[] body = TestOrigin.content(run + "-" + name, mix.draw(random));
            // Range support with a strong validator, so files above flowget.chunk.size go in parallel chunks
            origin.route(path, RangeRoute.of(body, "\"" + run + "-" + name + "\""));
            FaultProxy p = proxies.get(i % proxies.size());
            list.add(new Item("chaos-" + run + "-" + name, p.url(path), path, body));
        }
        return new ChaosData(list);
    }

    /** The request lines: one JSON event per file. */
    List<String> requestLines() {
        List<String> lines = new ArrayList<>(items.size());
        int i = 0;
        for (Item it : items.values()) {
            String sha = (i++ % 2 == 0) ? ",\"sha256\":\"" + sha256(it.body()) + "\"" : "";
            lines.add("{\"id\":\"" + it.id() + "\",\"url\":\"" + it.url() + "\"" + sha + "}");
        }
        return lines;
    }

    /** Expected content by request id. */
    Map<String, byte[]> expected() {
        Map<String, byte[]> m = new LinkedHashMap<>();
        items.forEach((id, it) -> m.put(id, it.body()));
        return Collections.unmodifiableMap(m);
    }

    /** The item of a request id. */
    Item item(String id) {
        return items.get(id);
    }

    int size() {
        return items.size();
    }

    long totalBytes() {
        return totalBytes;
    }

    static String sha256(byte[] data) {
        try {
            return java.util.HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
