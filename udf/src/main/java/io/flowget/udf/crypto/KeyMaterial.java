package io.flowget.udf.crypto;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;
import java.util.regex.Pattern;

/**
 * Reads 256-bit key material in the forms people store it: 32 raw bytes, 64 hex digits, or base64 (standard or
 * URL-safe, padded or not) of 32 bytes; surrounding white space (a trailing newline) is ignored. Also the rule
 * for key ids. Stateless.
 */
public final class KeyMaterial {
    /**
     * A key id: 1..128 characters of letters, digits, {@code .}, {@code _} and {@code -}, starting with a letter or
     * digit — so it is a safe file name (no path, no {@code ..data} of a Kubernetes secret volume) and maps onto an
     * environment variable name.
     */
    public static final Pattern KEY_ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");

    private static final Pattern HEX = Pattern.compile("[0-9a-fA-F]{64}");

    private KeyMaterial() {}

    /**
     * The 32-byte key {@code bytes} hold, or null when they are none of the accepted forms. The message of the
     * caller's error must not echo the bytes.
     */
    public static byte[] decode(byte[] bytes) {
        if (bytes.length == DecryptScheme.KEY_BYTES && !looksLikeText(bytes)) {
            return bytes.clone();
        }
        return decode(new String(bytes, StandardCharsets.ISO_8859_1));
    }

    /** The 32-byte key of a hex or base64 text, or null. */
    public static byte[] decode(String text) {
        String t = text.strip();
        if (HEX.matcher(t).matches()) {
            return HexFormat.of().parseHex(t);
        }
        byte[] out;
        try {
            String std = t.replace('-', '+').replace('_', '/');
            out = Base64.getMimeDecoder().decode(std);
        } catch (IllegalArgumentException e) {
            return null;
        }
        if (out.length == DecryptScheme.KEY_BYTES) {
            return out;
        }
        Arrays.fill(out, (byte) 0);
        return null;
    }

    /** 32 bytes that are all printable ASCII are taken as text (they cannot be hex or base64 of a key anyway). */
    private static boolean looksLikeText(byte[] b) {
        for (byte x : b) {
            if (x < 0x20 || x > 0x7e) {
                return false;
            }
        }
        return true;
    }
}
