package io.flowget.udf.body;

import com.aayushatharva.brotli4j.Brotli4jLoader;
import com.github.luben.zstd.util.Native;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.StringJoiner;

/**
 * The content-codings flowget decodes (RFC 9110 section 8.4.1), with the parsing of a {@code Content-Encoding}
 * header value and the matching {@code Accept-Encoding} request value.
 *
 * <p>{@code x-gzip} is read as {@code gzip} (RFC 9110 section 8.4.1.3); {@code identity} and empty list elements
 * are skipped; names are case-insensitive. zstd and br need native libraries (zstd-jni, Brotli4j); when one cannot
 * be loaded on this platform the coding is reported as unsupported and left out of {@link #acceptEncoding()}, so a
 * server is never invited to send what we cannot decode.
 */
public enum ContentCoding {
    GZIP("gzip"),
    DEFLATE("deflate"),
    ZSTD("zstd"),
    BR("br");

    private static final Logger LOG = LoggerFactory.getLogger(ContentCoding.class);

    /** Most content-coding layers one body may have (as curl); more FAIL as an unsupported coding. */
    public static final int MAX_LAYERS = 5;

    private final String token;

    ContentCoding(String token) {
        this.token = token;
    }

    /** The canonical token, as it appears in headers and in the result's {@code content_encoding}. */
    public String token() {
        return token;
    }

    /** Whether this JVM can decode the coding (false only for a native library that failed to load). */
    public boolean available() {
        return unavailabilityCause() == null;
    }

    Throwable unavailabilityCause() {
        switch (this) {
            case ZSTD:
                return Natives.ZSTD;
            case BR:
                return Natives.BR;
            default:
                return null;
        }
    }

    /**
     * Parses a {@code Content-Encoding} value into the codings in the order they were applied (the header's
     * order); decoding runs in reverse. Multiple header lines must be joined with {@code ", "} by the caller.
     *
     * @param headerValue the header value, or null when the response has none
     * @return the codings, empty for none or identity
     * @throws BodyException of kind {@link BodyException.Kind#UNSUPPORTED_CODING} naming the first coding that
     *     cannot be decoded, e.g. {@code unsupported content-coding 'compress'}, or for more than
     *     {@value #MAX_LAYERS} layers ({@code too many content-coding layers (more than 5)})
     */
    public static List<ContentCoding> parse(String headerValue) throws BodyException {
        List<ContentCoding> codings = new ArrayList<>(2);
        if (headerValue == null) {
            return codings;
        }
        String[] tokens = headerValue.split(",", MAX_LAYERS + 2);
        for (String raw : tokens) {
            if (codings.size() == MAX_LAYERS && !raw.isBlank()) {
                // Each layer costs a decoder and its buffers: a header of hundreds of layers is an attack, not a
                // representation (curl stops at 5 as well).
                throw new BodyException(
                        BodyException.Kind.UNSUPPORTED_CODING,
                        "too many content-coding layers (more than " + MAX_LAYERS + ")");
            }
            String name = raw.trim().toLowerCase(Locale.ROOT);
            if (name.isEmpty() || name.equals("identity")) {
                continue;
            }
            ContentCoding coding = forToken(name);
            if (coding == null) {
                throw new BodyException(
                        BodyException.Kind.UNSUPPORTED_CODING,
                        "unsupported content-coding '" + io.flowget.udf.model.Bounded.text(raw.trim(), 64) + "'");
            }
            Throwable cause = coding.unavailabilityCause();
            if (cause != null) {
                throw new BodyException(
                        BodyException.Kind.UNSUPPORTED_CODING,
                        "unsupported content-coding '" + coding.token + "' (native decoder unavailable)",
                        cause);
            }
            codings.add(coding);
        }
        return codings;
    }

    private static ContentCoding forToken(String lowerCaseName) {
        switch (lowerCaseName) {
            case "gzip":
            case "x-gzip":
                return GZIP;
            case "deflate":
                return DEFLATE;
            case "zstd":
                return ZSTD;
            case "br":
                return BR;
            default:
                return null;
        }
    }

    /** Joins codings in header order, e.g. {@code "gzip, br"}; null for an empty list. */
    public static String join(List<ContentCoding> codings) {
        if (codings.isEmpty()) {
            return null;
        }
        StringJoiner joiner = new StringJoiner(", ");
        for (ContentCoding coding : codings) {
            joiner.add(coding.token);
        }
        return joiner.toString();
    }

    /**
     * The {@code Accept-Encoding} value for a whole-body request: every coding this JVM can decode, best ratio
     * first. Ranged requests must send {@code identity} instead (ranges apply to the coded bytes).
     */
    public static String acceptEncoding() {
        StringJoiner joiner = new StringJoiner(", ");
        for (ContentCoding coding : new ContentCoding[] {ZSTD, BR, GZIP, DEFLATE}) {
            if (coding.available()) {
                joiner.add(coding.token);
            }
        }
        return joiner.toString();
    }

    /** Loads the native decoders once; a failure disables the coding instead of failing the job. */
    private static final class Natives {
        static final Throwable ZSTD = probeZstd();
        static final Throwable BR = probeBrotli();

        private static Throwable probeZstd() {
            try {
                Native.load();
                return null;
            } catch (Throwable t) {
                LOG.warn("zstd content-coding disabled: zstd-jni native library did not load", t);
                return t;
            }
        }

        private static Throwable probeBrotli() {
            try {
                Brotli4jLoader.ensureAvailability();
                return null;
            } catch (Throwable t) {
                LOG.warn("br content-coding disabled: Brotli4j native library did not load", t);
                return t;
            }
        }
    }
}
