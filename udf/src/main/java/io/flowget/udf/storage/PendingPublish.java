package io.flowget.udf.storage;

import java.util.Objects;

/**
 * A finished file waiting for the checkpoint that commits its result (operator state {@code pending-publishes} of
 * the fetch operator, so it is part of the savepoint contract: rename no field). {@code ready} is the labelled file
 * in the staging area's {@code ready/} folder (relative to the staging directory, so the state does not name a
 * machine's absolute path), {@code path} the final path relative to {@code --out},
 * {@code url} its owner.
 *
 * <p>A Flink POJO: public fields, a public no-argument constructor.
 */
public class PendingPublish {
    public String ready;
    public String path;
    public String url;

    public PendingPublish() {}

    public PendingPublish(String ready, String path, String url) {
        this.ready = ready;
        this.path = path;
        this.url = url;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof PendingPublish p
                && Objects.equals(ready, p.ready)
                && Objects.equals(path, p.path)
                && Objects.equals(url, p.url);
    }

    @Override
    public int hashCode() {
        return Objects.hash(ready, path, url);
    }

    @Override
    public String toString() {
        return path + " <- " + ready;
    }
}
