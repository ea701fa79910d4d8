package io.flowget.udf.body;

import org.apache.commons.codec.digest.Blake3;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * Digests of stored files, for chunked downloads whose bytes arrive out of order: the file is read once,
 * sequentially, through one 64 KiB buffer, either whole ({@link #digest}) or in steps as its leading bytes become
 * final ({@link FileHasher}). SHA-256
 * comes from the JDK (its intrinsics use the CPU's SHA extensions when present), BLAKE3 from commons-codec.
 * Hex is lower case, as in the result event. Thread-safe (no shared state).
 */
public final class Digests {
    static final int FILE_BUFFER_SIZE = 64 * 1024;

    private Digests() {}

    /** Size and digests of a file; {@code blake3} is null when it was not requested. */
    public record FileDigest(long bytes, String sha256, String blake3) {}

    /** Lower-case hex SHA-256 of the file's bytes. */
    public static String sha256Hex(Path file) throws IOException {
        return digest(file, false).sha256();
    }

    /** Lower-case hex SHA-256 of {@code data}. */
    public static String sha256Hex(byte[] data) {
        return HexFormat.of().formatHex(newSha256().digest(data));
    }

    /** The raw 32-byte SHA-256 of {@code data}. */
    public static byte[] sha256(byte[] data) {
        return newSha256().digest(data);
    }

    /** Lower-case hex BLAKE3 (256 bit) of the file's bytes. */
    public static String blake3Hex(Path file) throws IOException {
        return digest(file, true).blake3();
    }

    /** Reads the file once and computes SHA-256 and, when asked, BLAKE3. */
    public static FileDigest digest(Path file, boolean withBlake3) throws IOException {
        FileHasher h = new FileHasher(withBlake3);
        h.readUpTo(file, Long.MAX_VALUE);
        return h.finish();
    }

    /**
     * SHA-256 (and BLAKE3) of a file read in steps from its start: each {@link #readUpTo} continues where the
     * previous one stopped, so a file whose leading bytes are final can be hashed while the rest is still being
     * written, and the whole-file digest at the end costs only the bytes not read yet. Not thread-safe.
     */
    public static final class FileHasher {
        private final MessageDigest sha256 = newSha256();
        private final Blake3 blake3;
        /** BLAKE3 by blocks (of a chunked file whose chunks hash their own blocks), or null. */
        private final Blake3Tree tree;
        private final Blake3Tree.PrefixReader treeReader;
        private byte[] buf;
        private long hashed;

        public FileHasher(boolean withBlake3) {
            this(withBlake3, null);
        }

        /**
         * With a {@code tree}, BLAKE3 comes from it: the bytes read here hash only the blocks nobody else hashed
         * ({@link Blake3Tree.PrefixReader}), and {@link #finish} merges the blocks into the root.
         */
        public FileHasher(boolean withBlake3, Blake3Tree tree) {
            this.tree = withBlake3 ? tree : null;
            this.treeReader = this.tree == null ? null : this.tree.prefixReader();
            this.blake3 = withBlake3 && tree == null ? Blake3.initHash() : null;
        }

        /** Bytes hashed so far: the file's first {@code hashed()} bytes. */
        public long hashed() {
            return hashed;
        }

        /** Hashes the file's bytes from {@link #hashed()} up to {@code end} (exclusive) or its end, if sooner. */
        public void readUpTo(Path file, long end) throws IOException {
            if (end <= hashed) {
                return;
            }
            if (buf == null) {
                buf = new byte[FILE_BUFFER_SIZE];
            }
            ByteBuffer view = ByteBuffer.wrap(buf);
            try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
                channel.position(hashed);
                while (hashed < end) {
                    view.clear();
                    view.limit((int) Math.min(buf.length, end - hashed));
                    int n = channel.read(view);
                    if (n < 0) {
                        break;
                    }
                    sha256.update(buf, 0, n);
                    if (blake3 != null) {
                        blake3.update(buf, 0, n);
                    } else if (treeReader != null) {
                        treeReader.read(ByteBuffer.wrap(buf, 0, n));
                    }
                    hashed += n;
                }
            }
        }

        /** The digests of the bytes hashed so far; the hasher is spent afterwards. */
        public FileDigest finish() {
            HexFormat hex = HexFormat.of();
            buf = null;
            return new FileDigest(
                    hashed,
                    hex.formatHex(sha256.digest()),
                    blake3 != null
                            ? hex.formatHex(blake3.doFinalize(32))
                            : tree != null && hashed == tree.length() ? tree.rootHex() : null);
        }
    }

    /**
     * The untouched digest every {@link #newSha256} copies: never updated, so its state stays the initial one and
     * copies may be taken from any thread. Null when the provider's digest cannot be cloned (then each call looks
     * the algorithm up).
     */
    private static final MessageDigest SHA256_PROTOTYPE = cloneableOrNull(lookUpSha256());

    /**
     * A fresh SHA-256 {@link MessageDigest}: the one place that names the algorithm. A copy of an initial
     * prototype, not a provider look-up: {@code getInstance} walks the security providers and builds the digest
     * reflectively, which cost every small body about 2.6 µs of its I/O thread (issue 16); a clone copies 40 words.
     */
    public static MessageDigest newSha256() {
        if (SHA256_PROTOTYPE != null) {
            try {
                return (MessageDigest) SHA256_PROTOTYPE.clone();
            } catch (CloneNotSupportedException e) {
                // checked in cloneableOrNull: cannot happen
            }
        }
        return lookUpSha256();
    }

    private static MessageDigest lookUpSha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            // Every Java platform must provide SHA-256 (MessageDigest Javadoc).
            throw new IllegalStateException(e);
        }
    }

    private static MessageDigest cloneableOrNull(MessageDigest d) {
        try {
            d.clone();
            return d;
        } catch (CloneNotSupportedException e) {
            return null;
        }
    }
}
