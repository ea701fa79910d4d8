package io.flowget.udf.crypto;

import java.util.Locale;
import java.util.StringJoiner;

/**
 * The encryption formats flowget decrypts (README "Encrypted payloads"), by the token a request's
 * {@code decrypt.scheme} names. Every scheme takes a 256-bit key.
 *
 * <ul>
 *   <li>{@link #AES_256_GCM}: one AES-256-GCM message over the whole object, laid out as {@code nonce (12 bytes)
 *       || ciphertext || tag (16 bytes)}, no associated data — what {@code openssl}-based tools, Go's
 *       {@code gcm.Seal(nonce, nonce, ...)} and most "encrypt a file with AES-GCM" scripts write.
 *   <li>{@link #TINK_AES256_GCM_HKDF_4KB} / {@link #TINK_AES256_GCM_HKDF_1MB}: Google Tink's streaming AEAD
 *       {@code AesGcmHkdfStreaming} (HKDF-SHA256, 32-byte derived keys, 4 KiB or 1 MiB ciphertext segments, empty
 *       associated data) — the key templates {@code AES256_GCM_HKDF_4KB} and {@code AES256_GCM_HKDF_1MB}; every
 *       segment authenticates on its own and the last one is marked, so truncation, extension and reordering
 *       are detected.
 * </ul>
 *
 * <p>Immutable.
 */
public enum DecryptScheme {
    AES_256_GCM("aes-256-gcm", 0),
    TINK_AES256_GCM_HKDF_4KB("tink-aes256-gcm-hkdf-4kb", 4096),
    TINK_AES256_GCM_HKDF_1MB("tink-aes256-gcm-hkdf-1mb", 1 << 20);

    /** Key size of every scheme, in bytes. */
    public static final int KEY_BYTES = 32;

    private final String token;
    private final int segmentSize;

    DecryptScheme(String token, int segmentSize) {
        this.token = token;
        this.segmentSize = segmentSize;
    }

    /** The name a request and the option use, e.g. {@code aes-256-gcm}. */
    public String token() {
        return token;
    }

    /** Tink's ciphertext segment size in bytes; 0 for the whole-object scheme. */
    public int ciphertextSegmentSize() {
        return segmentSize;
    }

    /** Whether the ciphertext is made of independently authenticated segments. */
    public boolean segmented() {
        return segmentSize > 0;
    }

    /** The scheme a token names (case-insensitive), or null for none. */
    public static DecryptScheme forToken(String token) {
        if (token == null) {
            return null;
        }
        String t = token.trim().toLowerCase(Locale.ROOT);
        for (DecryptScheme s : values()) {
            if (s.token.equals(t)) {
                return s;
            }
        }
        return null;
    }

    /** The tokens, comma separated, for messages. */
    public static String tokens() {
        StringJoiner j = new StringJoiner(", ");
        for (DecryptScheme s : values()) {
            j.add(s.token);
        }
        return j.toString();
    }
}
