package io.flowget.udf.sql;

import org.apache.flink.table.functions.ScalarFunction;

import java.util.Locale;

/**
 * {@code ERROR_CLASS(error STRING) → STRING}: the class of a result's {@code error} message; NULL for a NULL
 * message (a result without error), {@code other} for a message of no known shape.
 *
 * <p>The diff job compares error classes, not messages: a message carries details that legitimately differ
 * between two runs of the same build (attempt counts, addresses, byte counts, the digest that was seen), while
 * its class says what went wrong. Classes, by the message's beginning (see {@code Failures} and
 * {@code FetchOperator} for the producers):
 *
 * <ul>
 *   <li>{@code http 503 (after 5 attempts)} → {@code http_5xx} (likewise {@code http_3xx}, {@code http_4xx}, ...)
 *   <li>{@code connect error: …} → {@code connect}; {@code connection closed: …}, {@code connection error: …} →
 *       {@code connection}; {@code dns: …} → {@code dns}; {@code tls: …} → {@code tls}; {@code i/o error: …} →
 *       {@code io}
 *   <li>{@code timeout: …} → {@code timeout}; {@code deadline exceeded …} → {@code deadline}
 *   <li>{@code checksum mismatch …} → {@code checksum}; {@code max_bytes exceeded …} → {@code too_large};
 *       {@code decode ratio exceeded …} → {@code decode_ratio}; {@code corrupt gzip stream} → {@code corrupt_body};
 *       {@code unsupported content-coding …} → {@code unsupported_coding}; {@code decryption failed: …} →
 *       {@code decryption}; {@code unknown key id …}, {@code unusable key id …} → {@code unknown_key}
 *   <li>{@code length mismatch …} → {@code length_mismatch}; {@code resource changed during download …} →
 *       {@code resource_changed}; {@code path conflict: …} → {@code path_conflict}; {@code storage error: …} →
 *       {@code storage}
 *   <li>{@code too many redirects …}, {@code redirect loop …} → {@code redirect}
 *   <li>request rejected by the parser ({@code missing url}, {@code invalid …}, {@code malformed JSON: …},
 *       {@code unsupported URL scheme …}, ...) → {@code bad_request}
 *   <li>{@code internal error …} → {@code internal}; {@code cancelled} → {@code cancelled}
 * </ul>
 */
public class ErrorClassFunction extends ScalarFunction {
    private static final long serialVersionUID = 1L;

    public String eval(String error) {
        return classify(error);
    }

    /** The same classification for Java callers. */
    public static String classify(String error) {
        if (error == null) {
            return null;
        }
        String e = error.strip().toLowerCase(Locale.ROOT);
        if (e.startsWith("http ") && e.length() >= 8 && isDigits(e, 5, 8)) {
            return "http_" + e.charAt(5) + "xx";
        }
        if (e.startsWith("connect error")) {
            return "connect";
        }
        if (e.startsWith("connection closed") || e.startsWith("connection error")) {
            return "connection";
        }
        if (e.startsWith("timeout")) {
            return "timeout";
        }
        if (e.startsWith("deadline exceeded")) {
            return "deadline";
        }
        if (e.startsWith("dns")) {
            return "dns";
        }
        if (e.startsWith("tls")) {
            return "tls";
        }
        if (e.startsWith("i/o error")) {
            return "io";
        }
        if (e.startsWith("checksum mismatch")) {
            return "checksum";
        }
        if (e.startsWith("max_bytes exceeded")) {
            return "too_large";
        }
        if (e.startsWith("decode ratio exceeded")) {
            return "decode_ratio";
        }
        if (e.startsWith("corrupt ")) {
            return "corrupt_body";
        }
        if (e.startsWith("unsupported content-coding")) {
            return "unsupported_coding";
        }
        if (e.startsWith("decryption failed")) {
            return "decryption";
        }
        if (e.startsWith("unknown key id") || e.startsWith("unusable key id")) {
            return "unknown_key";
        }
        if (e.startsWith("length mismatch")) {
            return "length_mismatch";
        }
        if (e.startsWith("resource changed")) {
            return "resource_changed";
        }
        if (e.startsWith("path conflict")) {
            return "path_conflict";
        }
        if (e.startsWith("storage error")) {
            return "storage";
        }
        if (e.startsWith("too many redirects") || e.startsWith("redirect loop")) {
            return "redirect";
        }
        if (e.startsWith("internal error")) {
            return "internal";
        }
        if (e.startsWith("cancelled")) {
            return "cancelled";
        }
        if (e.startsWith("missing ")
                || e.startsWith("invalid ")
                || e.startsWith("malformed json")
                || e.startsWith("empty request")
                || e.startsWith("url too long")
                || e.startsWith("relative url")
                || e.startsWith("unsupported url scheme")) {
            return "bad_request";
        }
        return "other";
    }

    private static boolean isDigits(String s, int from, int to) {
        for (int i = from; i < to; i++) {
            if (!Character.isDigit(s.charAt(i))) {
                return false;
            }
        }
        return s.length() == to || !Character.isDigit(s.charAt(to));
    }
}
