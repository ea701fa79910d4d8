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
 * Digests of stored files, for chunked downloads whose bytes arrive out of order and are only hashed at
 * finalize: the file is read once, sequentially, through one 64 KiB buffer; nothing is held per file. SHA-256
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
        MessageDigest sha256 = newSha256();
        Blake3 blake3 = withBlake3 ? Blake3.initHash() : null;
        byte[] buf = new byte[FILE_BUFFER_SIZE];
        ByteBuffer view = ByteBuffer.wrap(buf);
        long total = 0;
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            while (true) {
                view.clear();
                int n = channel.read(view);
                if (n < 0) {
                    break;
                }
                sha256.update(buf, 0, n);
                if (blake3 != null) {
                    blake3.update(buf, 0, n);
                }
                total += n;
            }
        }
        HexFormat hex = HexFormat.of();
        return new FileDigest(
                total,
                hex.formatHex(sha256.digest()),
                blake3 == null ? null : hex.formatHex(blake3.doFinalize(32)));
    }

    /** A fresh SHA-256 {@link MessageDigest}: the one place that names the algorithm. */
    public static MessageDigest newSha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            // Every Java platform must provide SHA-256 (MessageDigest Javadoc).
            throw new IllegalStateException(e);
        }
    }
}
