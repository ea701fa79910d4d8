package io.flowget.udf.body;

import javax.annotation.concurrent.NotThreadSafe;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.zip.CRC32;
import java.util.zip.Inflater;

/**
 * Push decoder for the gzip coding (RFC 1952), multi-member streams included: a small state machine parses each
 * member's header (FEXTRA, FNAME, FCOMMENT and a verified FHCRC) and trailer (CRC32 and ISIZE, both verified),
 * and a raw {@link Inflater} decodes the deflate data in between. Bytes after a complete member must start
 * another member; anything else is {@code corrupt gzip stream}, as is a stream that ends inside a member. An
 * empty body is accepted as an empty representation. Between calls it holds the inflater's native state and a few
 * bytes of header state, no decode buffer ({@link InflateStep}). Not thread-safe.
 */
@NotThreadSafe
final class GzipDecoder implements Decoder {
    private static final int FHCRC = 0x02;
    private static final int FEXTRA = 0x04;
    private static final int FNAME = 0x08;
    private static final int FCOMMENT = 0x10;
    private static final int RESERVED = 0xE0;
    private static final int FIXED_HEADER = 10;
    private static final int TRAILER = 8;

    private enum State {
        HEADER,
        EXTRA_LEN,
        EXTRA,
        NAME,
        COMMENT,
        HEADER_CRC,
        BODY,
        TRAILER,
        MEMBER_END
    }

    private final Inflater inflater = new Inflater(true);
    private final InflateStep step;
    private final CRC32 crc = new CRC32();
    private final CRC32 headerCrc = new CRC32();
    /** Accumulates the fixed header, XLEN, header CRC or trailer when they arrive split. */
    private final byte[] small = new byte[FIXED_HEADER];

    private State state = State.HEADER;
    private int smallLen;
    private int flags;
    private int extraRemaining;
    private long memberSize;
    private boolean sawInput;
    private boolean closed;

    GzipDecoder(ChunkConsumer out, int bufferSize) {
        this.step = new InflateStep(ContentCoding.GZIP, inflater, bufferSize, out);
    }

    @Override
    public void accept(ByteBuffer in) throws IOException {
        if (in.hasRemaining()) {
            sawInput = true;
        }
        while (in.hasRemaining()) {
            switch (state) {
                case MEMBER_END:
                    // RFC 1952 2.2: a gzip file is a series of members; start the next one.
                    state = State.HEADER;
                    smallLen = 0;
                    headerCrc.reset();
                    break;
                case HEADER:
                    readFixedHeaderByte(in.get());
                    break;
                case EXTRA_LEN:
                    if (collect(in, 2)) {
                        extraRemaining = (small[0] & 0xFF) | (small[1] & 0xFF) << 8;
                        state = extraRemaining > 0 ? State.EXTRA : afterHeaderField(FEXTRA);
                    }
                    break;
                case EXTRA:
                    int n = Math.min(extraRemaining, in.remaining());
                    ByteBuffer skipped = in.duplicate();
                    skipped.limit(skipped.position() + n);
                    headerCrc.update(skipped);
                    in.position(in.position() + n);
                    extraRemaining -= n;
                    if (extraRemaining == 0) {
                        state = afterHeaderField(FEXTRA);
                    }
                    break;
                case NAME:
                    if (skipZeroTerminated(in)) {
                        state = afterHeaderField(FNAME);
                    }
                    break;
                case COMMENT:
                    if (skipZeroTerminated(in)) {
                        state = afterHeaderField(FCOMMENT);
                    }
                    break;
                case HEADER_CRC:
                    int expected = (int) (headerCrc.getValue() & 0xFFFF);
                    if (collectUnhashed(in, 2)) {
                        int stored = (small[0] & 0xFF) | (small[1] & 0xFF) << 8;
                        if (stored != expected) {
                            throw BodyException.corrupt(ContentCoding.GZIP, "header CRC16 mismatch");
                        }
                        startBody();
                    }
                    break;
                case BODY:
                    memberSize += step.run(in, crc);
                    if (inflater.finished()) {
                        state = State.TRAILER;
                        smallLen = 0;
                    }
                    break;
                case TRAILER:
                    if (collectUnhashed(in, TRAILER)) {
                        checkTrailer();
                    }
                    break;
                default:
                    throw new IllegalStateException("unknown state " + state);
            }
        }
    }

    private void readFixedHeaderByte(byte b) throws BodyException {
        headerCrc.update(b);
        small[smallLen++] = b;
        int v = b & 0xFF;
        // Fail on the first wrong byte instead of waiting for ten.
        if (smallLen == 1 && v != 0x1F || smallLen == 2 && v != 0x8B) {
            throw BodyException.corrupt(ContentCoding.GZIP, "bad magic");
        }
        if (smallLen == 3 && v != 8) {
            throw BodyException.corrupt(ContentCoding.GZIP, "compression method " + v + " is not deflate");
        }
        if (smallLen == 4 && (v & RESERVED) != 0) {
            throw BodyException.corrupt(ContentCoding.GZIP, "reserved header flags set");
        }
        if (smallLen == FIXED_HEADER) {
            flags = small[3] & 0xFF;
            smallLen = 0;
            state = afterHeaderField(0);
        }
    }

    /** The header part that follows {@code field} (0 = the fixed header), given the member's flags. */
    private State afterHeaderField(int field) {
        int[] order = {FEXTRA, FNAME, FCOMMENT, FHCRC};
        State[] states = {State.EXTRA_LEN, State.NAME, State.COMMENT, State.HEADER_CRC};
        int start = 0;
        for (int i = 0; i < order.length; i++) {
            if (order[i] == field) {
                start = i + 1;
            }
        }
        for (int i = start; i < order.length; i++) {
            if ((flags & order[i]) != 0) {
                return states[i];
            }
        }
        startBody();
        return State.BODY;
    }

    private void startBody() {
        state = State.BODY;
        inflater.reset();
        crc.reset();
        memberSize = 0;
    }

    /** Collects {@code count} header bytes (hashed for FHCRC) into {@link #small}; true when complete. */
    private boolean collect(ByteBuffer in, int count) {
        while (smallLen < count && in.hasRemaining()) {
            byte b = in.get();
            headerCrc.update(b);
            small[smallLen++] = b;
        }
        if (smallLen == count) {
            smallLen = 0;
            return true;
        }
        return false;
    }

    private boolean collectUnhashed(ByteBuffer in, int count) {
        int n = Math.min(count - smallLen, in.remaining());
        in.get(small, smallLen, n);
        smallLen += n;
        if (smallLen == count) {
            smallLen = 0;
            return true;
        }
        return false;
    }

    private boolean skipZeroTerminated(ByteBuffer in) {
        while (in.hasRemaining()) {
            byte b = in.get();
            headerCrc.update(b);
            if (b == 0) {
                return true;
            }
        }
        return false;
    }

    private void checkTrailer() throws BodyException {
        long storedCrc = le32(0);
        long storedSize = le32(4);
        if (storedCrc != crc.getValue()) {
            throw BodyException.corrupt(ContentCoding.GZIP, "CRC32 mismatch");
        }
        if (storedSize != (memberSize & 0xFFFF_FFFFL)) {
            throw BodyException.corrupt(ContentCoding.GZIP, "ISIZE mismatch");
        }
        state = State.MEMBER_END;
    }

    private long le32(int offset) {
        return (small[offset] & 0xFFL)
                | (small[offset + 1] & 0xFFL) << 8
                | (small[offset + 2] & 0xFFL) << 16
                | (small[offset + 3] & 0xFFL) << 24;
    }

    @Override
    public void finish() throws IOException {
        if (sawInput && state != State.MEMBER_END) {
            throw BodyException.corrupt(ContentCoding.GZIP, "truncated in " + state);
        }
    }

    @Override
    public int heapBytes() {
        return small.length; // the decode buffer is borrowed per call (DecodeBuffers)
    }

    @Override
    public int directBytes() {
        return 0;
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            inflater.end();
        }
    }
}
