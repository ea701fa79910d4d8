package io.flowget.udf.fetch;

/**
 * Head and tail of a host's FIFO of waiting requests in {@code MapState<Long, FetchRequest>}: entries live at
 * sequence numbers [head, tail). Sequence numbers are never reused while a host has state, so they also name
 * the host's active downloads and staging files.
 */
public class QueueCursor {
    /** Next sequence number to dequeue. */
    public long head;
    /** Next sequence number to assign. */
    public long tail;

    public QueueCursor() {}

    public QueueCursor(long head, long tail) {
        this.head = head;
        this.tail = tail;
    }

    public long size() {
        return tail - head;
    }
}
