package io.flowget.udf.model;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * Size bounds for text that leaves the job in a record (results, dead letters, logs): whatever an event, a response
 * or an exception carries, a record stays far below Kafka's record limit (1 MiB by default). Stateless.
 */
public final class Bounded {
    /** Longest {@code error} of a result, in characters (a cut text ends with a note of what was cut). */
    public static final int MAX_ERROR_CHARS = 1024;
    /** Longest prefix of a raw record value (and of a raw key) that a dead letter carries, in characters. */
    public static final int MAX_DEAD_LETTER_VALUE_CHARS = 4096;

    private Bounded() {}

    /**
     * {@code s} if it has at most {@code max} characters, else its first characters followed by
     * {@code "… (N more characters)"}, the whole at most {@code max} characters; null stays null. Never cuts a
     * surrogate pair in two.
     */
    public static String text(String s, int max) {
        if (s == null || s.length() <= max) {
            return s;
        }
        String note = "… (" + (s.length() - max) + " more characters)";
        int keep = Math.max(0, max - note.length());
        if (keep > 0 && Character.isHighSurrogate(s.charAt(keep - 1))) {
            keep--;
        }
        return s.substring(0, keep) + note;
    }

    /** A result's error text: {@link #text} at {@link #MAX_ERROR_CHARS}. */
    public static String error(String s) {
        return text(s, MAX_ERROR_CHARS);
    }

    /** Lower-case hex SHA-256 of the UTF-8 bytes of {@code s}. */
    public static String sha256(String s) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            return HexFormat.of().formatHex(md.digest(s.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JVM has SHA-256", e);
        }
    }
}
