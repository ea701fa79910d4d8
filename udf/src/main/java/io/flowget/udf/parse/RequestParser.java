package io.flowget.udf.parse;

import io.flowget.udf.body.Digests;
import io.flowget.udf.json.Json;
import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.model.SecretRef;
import io.flowget.udf.storage.OutputPaths;
import io.flowget.udf.storage.OutputPaths.InvalidOutputPathException;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;

import java.io.Serializable;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.time.DateTimeException;
import java.time.OffsetDateTime;
import java.time.format.DateTimeFormatter;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Turns one raw request event (record key and value) into a {@link FetchRequest}, or into a rejection with a
 * reason (CONTRACT.md, "Request event"). Never throws for bad input.
 *
 * <h2>Input</h2>
 *
 * The value is trimmed (surrounding white space, CR/LF and a UTF-8 byte order mark). If it then starts with
 * {@code {} it is a JSON request event; anything else is a bare URL line (the {@code run} CLI sends input lines
 * as they are). A blank value, or one over {@value #MAX_EVENT_CHARS} characters, is rejected.
 *
 * <h2>Fields of a JSON event</h2>
 *
 * <ul>
 *   <li>{@code url} (required string): parsed and normalised by {@link HttpUrl} (http/https only, absolute,
 *       with a host, no user info, at most 8 KiB). Reasons: {@code missing url}, {@code invalid url: must be a
 *       string}, {@code unsupported URL scheme 'ftp'}, {@code relative URL ...}, {@code missing host}, ...
 *   <li>{@code id} (string, or an integer which is taken as its decimal text; 1..{@value #MAX_ID_CHARS}
 *       characters, no control characters). Default: the record key if it is not blank, else the first 32 hex
 *       digits of sha256 of the url as given (trimmed, before normalising), so the same event always gets the
 *       same id. The record key obeys the same rules when it becomes the id.
 *   <li>{@code path} (string): validated by {@link OutputPaths#validateExplicit}; default
 *       {@link OutputPaths#defaultPath} of the normalised URL.
 *   <li>{@code sha256} (string of 64 hex digits, any case; stored lower-case).
 *   <li>{@code max_bytes} (non-negative integer; {@code 1e6} counts as an integer, {@code 1.5} does not).
 *   <li>{@code headers} (object of string to string, at most {@value #MAX_HEADERS} entries). Names must be
 *       RFC 9110 tokens; values may not contain CR, LF, NUL or other control characters (tab excepted) or
 *       characters beyond ISO-8859-1, and are trimmed; a name given twice (in any case) is rejected. Silently
 *       dropped: hop-by-hop headers ({@code Connection}, {@code Keep-Alive}, {@code Proxy-*}, {@code TE},
 *       {@code Trailer}, {@code Transfer-Encoding}, {@code Upgrade}, {@code HTTP2-Settings}) and the ones the
 *       fetcher owns ({@code Host}, {@code Content-Length}, {@code Range}, {@code If-Range},
 *       {@code Accept-Encoding}, {@code Expect}). No headers left means null. A value may instead be
 *       {@code {"secret": "name"}}: kept as a {@link SecretRef} (the name only) and resolved when the request is
 *       sent, so the secret never reaches state, Kafka or logs.
 *   <li>{@code deadline} (RFC 3339 string with an offset, e.g. {@code 2026-01-02T03:04:05.5+01:00}; a space
 *       instead of {@code T} and lower-case {@code t}/{@code z} are accepted) to epoch milliseconds. A deadline
 *       in the past is accepted here; the fetcher fails it with {@code deadline exceeded}.
 *   <li>{@code decrypt} (object): the encrypted-payload descriptor, checked by {@link DecryptField}.
 *   <li>Unknown fields are ignored; {@code null} counts as absent. A duplicate field or trailing content is
 *       {@code malformed JSON: ...}.
 * </ul>
 *
 * <h2>Rejections</h2>
 *
 * A rejection carries the id to report: the event's valid {@code id}, else the record key, else the url hash
 * (if {@code url} was a string), else {@code unknown}; and the url as given (user info masked, cut to 8 KiB),
 * if it was a string. Problems are checked in the order url, id, path, sha256, max_bytes, headers, deadline, decrypt;
 * the first one is the reason.
 *
 * <p>Over 450 lines on purpose: it is the one place where every field of an untrusted event is checked, in
 * the order above; each check is a short method, and splitting them across classes would hide that order.
 *
 * <p>Stateless and thread-safe; serialisable so that Flink functions can hold one.
 */
public final class RequestParser implements Serializable {
    private static final long serialVersionUID = 1L;

    /** Largest accepted event, in characters. */
    public static final int MAX_EVENT_CHARS = 1 << 20;
    /** Longest accepted id, in characters. */
    public static final int MAX_ID_CHARS = 512;
    /** Most headers in one request. */
    public static final int MAX_HEADERS = 64;
    /** Longest accepted header value, in characters. */
    public static final int MAX_HEADER_VALUE_CHARS = 8192;
    /** Id of a rejected event for which nothing better is known. */
    public static final String UNKNOWN_ID = "unknown";

    private static final Pattern SHA256_HEX = Pattern.compile("[0-9a-fA-F]{64}");

    /** Lower-case names of headers a request may not set; they are dropped (see class Javadoc). */
    private static final Set<String> DROPPED_HEADERS =
            Set.of(
                    // hop-by-hop (RFC 9110 7.6.1), meaningless or harmful end to end
                    "connection",
                    "keep-alive",
                    "te",
                    "trailer",
                    "transfer-encoding",
                    "upgrade",
                    "http2-settings",
                    // owned by the fetcher: it sets them per chunk and decodes what it asked for
                    "host",
                    "content-length",
                    "range",
                    "if-range",
                    "accept-encoding",
                    "expect");

    /**
     * Parses one event.
     *
     * @param key the record key, or null
     * @param value the record value, or null (a tombstone)
     */
    public ParseOutcome parse(String key, String value) {
        String k = key == null || key.isBlank() ? null : key;
        // A key that cannot be an id (too long, control characters) is never reported as one, on any path.
        String reportKey = k == null || checkId(k, "record key") != null ? null : k;
        if (value == null) {
            return ParseOutcome.failed(reportKey != null ? reportKey : UNKNOWN_ID, null, "empty request");
        }
        String v = value.strip();
        if (!v.isEmpty() && v.charAt(0) == '\uFEFF') {
            v = v.substring(1).strip();
        }
        if (v.isEmpty()) {
            return ParseOutcome.failed(reportKey != null ? reportKey : UNKNOWN_ID, null, "empty request");
        }
        if (v.length() > MAX_EVENT_CHARS) {
            return ParseOutcome.failed(
                    reportKey != null ? reportKey : UNKNOWN_ID,
                    null,
                    "request too large (over " + MAX_EVENT_CHARS + " characters)");
        }
        return v.charAt(0) == '{' ? parseJson(k, reportKey, v) : parseUrlLine(k, v);
    }

    private ParseOutcome parseUrlLine(String key, String line) {
        String keyError = key == null ? null : checkId(key, "record key");
        String id = key != null && keyError == null ? key : hashId(line);
        HttpUrl url;
        try {
            url = HttpUrl.parse(line);
        } catch (RequestRejectedException e) {
            return ParseOutcome.failed(id, echoUrl(line), e.getMessage());
        }
        if (keyError != null) {
            return ParseOutcome.failed(id, url.toString(), keyError);
        }
        return ParseOutcome.ok(newRequest(id, url));
    }

    private ParseOutcome parseJson(String key, String reportKey, String text) {
        JsonNode root;
        try {
            root = Json.readTree(text);
        } catch (JsonProcessingException e) {
            return ParseOutcome.failed(
                    reportKey != null ? reportKey : UNKNOWN_ID, null, "malformed JSON: " + describe(e));
        }
        if (root == null || !root.isObject()) {
            return ParseOutcome.failed(
                    reportKey != null ? reportKey : UNKNOWN_ID, null, "malformed JSON: not an object");
        }

        JsonNode urlNode = field(root, "url");
        String urlText = urlNode != null && urlNode.isTextual() ? urlNode.textValue().strip() : null;
        if (urlText != null && urlText.isEmpty()) {
            urlText = null;
        }

        // The id first, so that even a rejection carries the id the requester will look for.
        String eventId = null;
        String idError = null;
        JsonNode idNode = field(root, "id");
        if (idNode != null) {
            if (idNode.isTextual()) {
                eventId = idNode.textValue();
            } else if (idNode.isIntegralNumber()) {
                eventId = idNode.asText();
            } else {
                idError = "invalid id: must be a string";
            }
            if (eventId != null) {
                idError = checkId(eventId, "id");
                if (idError != null) {
                    eventId = null;
                }
            }
        }
        String keyError = key == null ? null : checkId(key, "record key");
        String usableKey = keyError == null ? key : null;
        String id =
                eventId != null
                        ? eventId
                        : usableKey != null ? usableKey : urlText != null ? hashId(urlText) : UNKNOWN_ID;
        String echo = urlText == null ? null : echoUrl(urlText);

        if (urlNode == null || (urlNode.isTextual() && urlText == null)) {
            return ParseOutcome.failed(id, null, "missing url");
        }
        if (!urlNode.isTextual()) {
            return ParseOutcome.failed(id, null, "invalid url: must be a string");
        }
        HttpUrl url;
        try {
            url = HttpUrl.parse(urlText);
        } catch (RequestRejectedException e) {
            return ParseOutcome.failed(id, echo, e.getMessage());
        }
        String normalized = url.toString();
        if (idError != null) {
            return ParseOutcome.failed(id, normalized, idError);
        }
        if (eventId == null && keyError != null) {
            return ParseOutcome.failed(id, normalized, keyError);
        }

        FetchRequest r = newRequest(id, url);
        try {
            JsonNode path = field(root, "path");
            if (path != null) {
                if (!path.isTextual()) {
                    throw new RequestRejectedException("invalid path: must be a string");
                }
                try {
                    r.path = OutputPaths.validateExplicit(path.textValue());
                } catch (InvalidOutputPathException e) {
                    throw new RequestRejectedException(e.getMessage());
                }
            }
            r.sha256 = parseSha256(field(root, "sha256"));
            r.maxBytes = parseMaxBytes(field(root, "max_bytes"));
            r.headers = parseHeaders(field(root, "headers"));
            r.deadline = parseDeadline(field(root, "deadline"));
            DecryptField.parse(field(root, "decrypt"), r);
        } catch (RequestRejectedException e) {
            return ParseOutcome.failed(id, normalized, e.getMessage());
        }
        return ParseOutcome.ok(r);
    }

    private static FetchRequest newRequest(String id, HttpUrl url) {
        return new FetchRequest(
                id,
                url.toString(),
                url.host(),
                OutputPaths.defaultPath(url.host(), url.port(), url.rawPath(), url.rawQuery()));
    }

    /** The field's value, or null when absent or JSON null. */
    private static JsonNode field(JsonNode root, String name) {
        JsonNode n = root.get(name);
        return n == null || n.isNull() ? null : n;
    }

    /** {@code key} when it is a valid id (the rules of the {@code id} field), else {@link #UNKNOWN_ID}. */
    public static String idOfKey(String key) {
        return key == null || key.isBlank() || checkId(key, "record key") != null ? UNKNOWN_ID : key;
    }

    private static String checkId(String id, String what) {
        if (id.isEmpty()) {
            return "invalid " + what + ": empty";
        }
        if (id.length() > MAX_ID_CHARS) {
            return "invalid " + what + ": over " + MAX_ID_CHARS + " characters";
        }
        for (int i = 0; i < id.length(); i++) {
            char c = id.charAt(i);
            if (c < 0x20 || c == 0x7f) {
                return "invalid " + what + ": control character";
            }
        }
        return null;
    }

    private static String parseSha256(JsonNode n) throws RequestRejectedException {
        if (n == null) {
            return null;
        }
        if (!n.isTextual() || !SHA256_HEX.matcher(n.textValue().strip()).matches()) {
            throw new RequestRejectedException("invalid sha256: expected 64 hex digits");
        }
        return n.textValue().strip().toLowerCase(Locale.ROOT);
    }

    private static Long parseMaxBytes(JsonNode n) throws RequestRejectedException {
        if (n == null) {
            return null;
        }
        if (!n.isNumber()) {
            throw new RequestRejectedException("invalid max_bytes: must be a non-negative integer");
        }
        BigDecimal d = n.decimalValue();
        if (d.signum() < 0) {
            throw new RequestRejectedException("invalid max_bytes: negative");
        }
        try {
            // 1e6 arrives as a double but is a whole number; 1.5 is not.
            return d.stripTrailingZeros().longValueExact();
        } catch (ArithmeticException e) {
            throw new RequestRejectedException(
                    d.stripTrailingZeros().scale() > 0
                            ? "invalid max_bytes: not an integer"
                            : "invalid max_bytes: too large");
        }
    }

    private static Map<String, String> parseHeaders(JsonNode n) throws RequestRejectedException {
        if (n == null) {
            return null;
        }
        if (!n.isObject()) {
            throw new RequestRejectedException("invalid headers: must be an object");
        }
        if (n.size() > MAX_HEADERS) {
            throw new RequestRejectedException("invalid headers: more than " + MAX_HEADERS);
        }
        Map<String, String> out = new LinkedHashMap<>();
        Set<String> seen = new HashSet<>();
        for (Map.Entry<String, JsonNode> e : n.properties()) {
            String name = e.getKey();
            if (!isToken(name)) {
                throw new RequestRejectedException("invalid header name " + quote(name));
            }
            String lower = name.toLowerCase(Locale.ROOT);
            if (!seen.add(lower)) {
                throw new RequestRejectedException("invalid headers: " + quote(name) + " given twice");
            }
            JsonNode valueNode = e.getValue();
            if (valueNode != null && valueNode.isObject()) {
                // {"secret": "name"}: resolved when the request is sent; only the name is kept (SecretRef).
                JsonNode secret = valueNode.get("secret");
                if (valueNode.size() != 1 || secret == null || !secret.isTextual()
                        || !SecretRef.NAME.matcher(secret.textValue()).matches()) {
                    throw new RequestRejectedException(
                            "invalid header value for " + quote(name) + ": must be a string or {\"secret\": \"name\"}"
                                    + " (name: letters, digits, '.', '_', '-')");
                }
                if (!DROPPED_HEADERS.contains(lower) && !lower.startsWith("proxy-")) {
                    out.put(name, SecretRef.encode(secret.textValue()));
                }
                continue;
            }
            if (valueNode == null || !valueNode.isTextual()) {
                throw new RequestRejectedException(
                        "invalid header value for " + quote(name) + ": must be a string");
            }
            String value = checkHeaderValue(name, valueNode.textValue());
            if (DROPPED_HEADERS.contains(lower) || lower.startsWith("proxy-")) {
                continue;
            }
            out.put(name, value);
        }
        return out.isEmpty() ? null : out;
    }

    private static String checkHeaderValue(String name, String value) throws RequestRejectedException {
        if (value.length() > MAX_HEADER_VALUE_CHARS) {
            throw new RequestRejectedException(
                    "invalid header value for " + quote(name) + ": over " + MAX_HEADER_VALUE_CHARS
                            + " characters");
        }
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if (c == '\r' || c == '\n') {
                throw new RequestRejectedException("invalid header value for " + quote(name) + ": CR/LF");
            }
            if ((c < 0x20 && c != '\t') || c == 0x7f) {
                throw new RequestRejectedException(
                        "invalid header value for " + quote(name) + ": control character");
            }
            if (c > 0xff) {
                throw new RequestRejectedException(
                        "invalid header value for " + quote(name) + ": character beyond ISO-8859-1");
            }
        }
        // Optional white space around a field value is not part of it (RFC 9110 5.5).
        return value.strip();
    }

    /** RFC 9110 token: 1*tchar. */
    private static boolean isToken(String s) {
        if (s.isEmpty() || s.length() > 256) {
            return false;
        }
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            boolean tchar =
                    (c >= 'a' && c <= 'z')
                            || (c >= 'A' && c <= 'Z')
                            || (c >= '0' && c <= '9')
                            || "!#$%&'*+-.^_`|~".indexOf(c) >= 0;
            if (!tchar) {
                return false;
            }
        }
        return true;
    }

    private static Long parseDeadline(JsonNode n) throws RequestRejectedException {
        if (n == null) {
            return null;
        }
        if (!n.isTextual()) {
            throw new RequestRejectedException("invalid deadline: must be an RFC 3339 string");
        }
        String d = n.textValue().strip().toUpperCase(Locale.ROOT);
        if (d.length() > 10 && d.charAt(10) == ' ') {
            d = d.substring(0, 10) + 'T' + d.substring(11);
        }
        try {
            return OffsetDateTime.parse(d, DateTimeFormatter.ISO_OFFSET_DATE_TIME).toInstant().toEpochMilli();
        } catch (DateTimeException | ArithmeticException e) {
            throw new RequestRejectedException(
                    "invalid deadline " + quote(n.textValue())
                            + ": expected RFC 3339 like 2026-01-02T03:04:05Z");
        }
    }

    /** First 32 hex digits of sha256 of the url as given: the stable default id. */
    static String hashId(String urlText) {
        return HexFormat.of().formatHex(Digests.sha256(urlText.getBytes(StandardCharsets.UTF_8)), 0, 16);
    }

    /** The url to report for a rejection: as given, with any user info masked, cut to the URL limit. */
    static String echoUrl(String url) {
        String s = url.length() > HttpUrl.MAX_URL_CHARS ? url.substring(0, HttpUrl.MAX_URL_CHARS) : url;
        int scheme = s.indexOf("://");
        if (scheme < 0) {
            return s;
        }
        int start = scheme + 3;
        int end = start;
        while (end < s.length() && "/?#".indexOf(s.charAt(end)) < 0) {
            end++;
        }
        int at = s.lastIndexOf('@', end - 1);
        if (at < start) {
            return s;
        }
        return s.substring(0, start) + "***" + s.substring(at);
    }

    private static String describe(JsonProcessingException e) {
        String msg = e.getOriginalMessage();
        if (msg == null) {
            msg = e.getClass().getSimpleName();
        }
        // Jackson appends source snippets and hints after a line break; the first line says what is wrong.
        int nl = msg.indexOf('\n');
        if (nl >= 0) {
            msg = msg.substring(0, nl);
        }
        msg = HttpUrl.abbreviate(escapeControls(msg), 200);
        JsonLocation loc = e.getLocation();
        if (loc != null && loc.getLineNr() > 0) {
            msg += " at line " + loc.getLineNr() + ", column " + loc.getColumnNr();
        }
        return msg;
    }

    /** A value quoted for a reason: cut to 64 characters, control characters escaped. */
    private static String quote(String s) {
        return "'" + escapeControls(HttpUrl.abbreviate(s, 64)) + "'";
    }

    private static String escapeControls(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < 0x20 || c == 0x7f) {
                sb.append(String.format("\\u%04x", (int) c));
            } else {
                sb.append(c);
            }
        }
        return sb.toString();
    }
}
