package io.flowget.udf.parse;

import java.net.IDN;
import java.net.InetAddress;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * An absolute {@code http} or {@code https} URL, parsed and minimally normalised: scheme and host lower-case,
 * IDN host in ASCII (via {@link IDN#toASCII}), default port removed, an empty path made {@code /}, fragment
 * dropped. Path and query are kept as given, except that characters which may not appear raw in a URI
 * (space, non-ASCII, {@code " < > \ ^ ` { | } [ ]}, and a {@code %} that does not start an escape) are
 * percent-encoded as UTF-8, so that {@link #toString()} is always accepted by {@link URI#URI(String)} and by
 * HTTP clients. Existing escapes are not touched (neither decoded nor re-cased).
 *
 * <p>Rejected, with a reason meant for a FAILED result: blank input; a URL over {@value #MAX_URL_CHARS}
 * characters (before or after normalising); control characters anywhere (CR/LF would allow request
 * smuggling); a relative URL; a scheme other than http/https; a missing or malformed host; a port outside
 * 1..65535; <em>any user info</em> ({@code user[:password]@}). User info is refused rather than used because
 * credentials in a URL would be copied into result events, logs and the dead-letter topic, and HTTP clients
 * do not send them anyway (RFC 9110 deprecates it); send an {@code Authorization} header instead.
 *
 * <p>Immutable and thread-safe.
 */
public final class HttpUrl {
    /** Longest accepted URL, in characters. */
    public static final int MAX_URL_CHARS = 8192;

    private static final Pattern SCHEME = Pattern.compile("[A-Za-z][A-Za-z0-9+.-]*");
    private static final int MAX_HOST_CHARS = 253;
    private static final int MAX_LABEL_CHARS = 63;

    private final String scheme;
    private final String host;
    private final int port;
    private final String rawPath;
    private final String rawQuery;
    private final String text;

    private HttpUrl(String scheme, String host, int port, String rawPath, String rawQuery) {
        this.scheme = scheme;
        this.host = host;
        this.port = port;
        this.rawPath = rawPath;
        this.rawQuery = rawQuery;
        StringBuilder sb = new StringBuilder(scheme).append("://");
        sb.append(host.indexOf(':') >= 0 ? "[" + host + "]" : host);
        if (port >= 0) {
            sb.append(':').append(port);
        }
        sb.append(rawPath);
        if (rawQuery != null) {
            sb.append('?').append(rawQuery);
        }
        this.text = sb.toString();
    }

    /**
     * Parses and normalises a URL (surrounding white space is ignored).
     *
     * @throws RequestRejectedException with the reason, e.g. {@code unsupported URL scheme 'ftp'}
     */
    public static HttpUrl parse(String input) throws RequestRejectedException {
        if (input == null || input.isBlank()) {
            throw new RequestRejectedException("missing url");
        }
        String s = input.strip();
        if (s.length() > MAX_URL_CHARS) {
            throw new RequestRejectedException("URL too long (over " + MAX_URL_CHARS + " characters)");
        }
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < 0x20 || c == 0x7f) {
                throw new RequestRejectedException("invalid URL: control character at index " + i);
            }
        }

        int colon = s.indexOf(':');
        if (colon <= 0 || !SCHEME.matcher(s.substring(0, colon)).matches()) {
            throw new RequestRejectedException("relative URL (expected http:// or https://)");
        }
        String scheme = s.substring(0, colon).toLowerCase(Locale.ROOT);
        if (!scheme.equals("http") && !scheme.equals("https")) {
            throw new RequestRejectedException("unsupported URL scheme '" + abbreviate(scheme, 32) + "'");
        }
        String rest = s.substring(colon + 1);
        if (!rest.startsWith("//")) {
            throw new RequestRejectedException("missing host");
        }
        rest = rest.substring(2);

        int hash = rest.indexOf('#');
        if (hash >= 0) {
            rest = rest.substring(0, hash);
        }
        int authorityEnd = indexOfAny(rest, "/?");
        String authority = authorityEnd < 0 ? rest : rest.substring(0, authorityEnd);
        String pathAndQuery = authorityEnd < 0 ? "" : rest.substring(authorityEnd);

        if (authority.indexOf('@') >= 0) {
            throw new RequestRejectedException(
                    "unsupported user info in URL (send credentials in an Authorization header)");
        }
        String hostPart;
        String portPart = null;
        if (authority.startsWith("[")) {
            int close = authority.indexOf(']');
            if (close < 0) {
                throw new RequestRejectedException("invalid host: unterminated IPv6 literal");
            }
            hostPart = authority.substring(0, close + 1);
            String after = authority.substring(close + 1);
            if (!after.isEmpty()) {
                if (after.charAt(0) != ':') {
                    throw new RequestRejectedException("invalid host");
                }
                portPart = after.substring(1);
            }
        } else {
            int c = authority.lastIndexOf(':');
            hostPart = c < 0 ? authority : authority.substring(0, c);
            portPart = c < 0 ? null : authority.substring(c + 1);
        }
        String host = normalizeHost(hostPart);
        int port = parsePort(portPart);
        if (port == defaultPort(scheme)) {
            port = -1;
        }

        int q = pathAndQuery.indexOf('?');
        String path = q < 0 ? pathAndQuery : pathAndQuery.substring(0, q);
        String query = q < 0 ? null : pathAndQuery.substring(q + 1);
        path = path.isEmpty() ? "/" : encodeIllegal(path);
        query = query == null ? null : encodeIllegal(query);

        HttpUrl url = new HttpUrl(scheme, host, port, path, query);
        if (url.text.length() > MAX_URL_CHARS) {
            throw new RequestRejectedException(
                    "URL too long (over " + MAX_URL_CHARS + " characters once encoded)");
        }
        try {
            // A last safety net: whatever we hand on must be a URI that HTTP clients accept.
            new URI(url.text);
        } catch (URISyntaxException e) {
            throw new RequestRejectedException("invalid URL: " + e.getReason());
        }
        return url;
    }

    /** {@code http} or {@code https}. */
    public String scheme() {
        return scheme;
    }

    /** Lower-case ASCII host; an IPv6 literal without brackets. */
    public String host() {
        return host;
    }

    /** The explicit port, or -1 when absent or the scheme's default. */
    public int port() {
        return port;
    }

    /** The port a connection goes to (the explicit one or the scheme's default). */
    public int effectivePort() {
        return port >= 0 ? port : defaultPort(scheme);
    }

    /** Percent-encoded path, starting with {@code /}. */
    public String rawPath() {
        return rawPath;
    }

    /** Percent-encoded query without {@code ?}, or null when the URL has none. */
    public String rawQuery() {
        return rawQuery;
    }

    /** The normalised URL. */
    @Override
    public String toString() {
        return text;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof HttpUrl && ((HttpUrl) o).text.equals(text);
    }

    @Override
    public int hashCode() {
        return Objects.hashCode(text);
    }

    // ---- helpers ---------------------------------------------------------------------------------

    private static int defaultPort(String scheme) {
        return scheme.equals("https") ? 443 : 80;
    }

    private static String normalizeHost(String h) throws RequestRejectedException {
        if (h.isEmpty()) {
            throw new RequestRejectedException("missing host");
        }
        if (h.startsWith("[")) {
            String literal = h.substring(1, h.length() - 1).toLowerCase(Locale.ROOT);
            if (literal.isEmpty() || !literal.chars().allMatch(c -> isHex(c) || c == ':' || c == '.')) {
                throw new RequestRejectedException("invalid host: bad IPv6 literal");
            }
            try {
                // With brackets and only hex/colon/dot characters, this parses the literal and never
                // consults DNS.
                InetAddress.getByName("[" + literal + "]");
            } catch (UnknownHostException e) {
                throw new RequestRejectedException("invalid host: bad IPv6 literal");
            }
            return literal;
        }
        for (int i = 0; i < h.length(); i++) {
            char c = h.charAt(i);
            // Anything that could delimit or escape (space, %, \, quotes, brackets, ...) is refused; non-ASCII
            // letters are left to IDN.
            if (c < 0x80 && !(isAsciiAlnum(c) || c == '-' || c == '.' || c == '_')) {
                throw new RequestRejectedException("invalid host: character '" + printable(c) + "'");
            }
        }
        // Label checks before IDN, so that plain ASCII names get precise reasons; IDN also splits on the
        // ideographic and full-width dots, hence the character class.
        String[] rawLabels = h.split("[.\u3002\uFF0E\uFF61]", -1);
        for (int i = 0; i < rawLabels.length; i++) {
            if (rawLabels[i].isEmpty() && !(i == rawLabels.length - 1 && i > 0)) {
                throw new RequestRejectedException("invalid host: empty label");
            }
        }
        String ascii;
        try {
            ascii = IDN.toASCII(h).toLowerCase(Locale.ROOT);
        } catch (IllegalArgumentException e) {
            // The JDK's messages vary ("The label in the input is too long", ...); one stable reason is
            // more useful to a requester than the JDK's wording.
            throw new RequestRejectedException("invalid host: not a valid (internationalised) host name");
        }
        if (ascii.isEmpty() || ascii.length() > MAX_HOST_CHARS + 1) {
            throw new RequestRejectedException("invalid host");
        }
        String[] labels = ascii.split("\\.", -1);
        for (int i = 0; i < labels.length; i++) {
            String label = labels[i];
            boolean trailingRootLabel = i == labels.length - 1 && i > 0;
            if (label.isEmpty() && !trailingRootLabel) {
                throw new RequestRejectedException("invalid host: empty label");
            }
            if (label.length() > MAX_LABEL_CHARS) {
                throw new RequestRejectedException("invalid host: label over 63 characters");
            }
            for (int j = 0; j < label.length(); j++) {
                char c = label.charAt(j);
                if (!(isAsciiAlnum(c) || c == '-' || c == '_')) {
                    throw new RequestRejectedException("invalid host");
                }
            }
        }
        return ascii;
    }

    private static int parsePort(String p) throws RequestRejectedException {
        if (p == null || p.isEmpty()) {
            return -1; // "http://host:/" means the default port (RFC 3986 3.2.3)
        }
        if (p.length() > 5 || !p.chars().allMatch(c -> c >= '0' && c <= '9')) {
            throw new RequestRejectedException("invalid port '" + abbreviate(p, 16) + "'");
        }
        int port = Integer.parseInt(p);
        if (port < 1 || port > 65535) {
            throw new RequestRejectedException("invalid port " + port);
        }
        return port;
    }

    /** Percent-encodes what may not appear raw in a URI path or query; keeps valid escapes as they are. */
    private static String encodeIllegal(String s) {
        StringBuilder sb = null;
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            int n = Character.charCount(cp);
            boolean keep =
                    cp < 0x80
                            && (isAllowedRaw((char) cp)
                                    || (cp == '%'
                                            && i + 2 < s.length()
                                            && isHex(s.charAt(i + 1))
                                            && isHex(s.charAt(i + 2))));
            if (keep) {
                if (sb != null) {
                    sb.append((char) cp);
                }
            } else {
                if (sb == null) {
                    sb = new StringBuilder(s.length() + 16).append(s, 0, i);
                }
                String chunk = new String(Character.toChars(cp));
                for (byte b : chunk.getBytes(StandardCharsets.UTF_8)) {
                    sb.append('%').append(Character.toUpperCase(Character.forDigit((b >> 4) & 0xf, 16)));
                    sb.append(Character.toUpperCase(Character.forDigit(b & 0xf, 16)));
                }
            }
            i += n;
        }
        return sb == null ? s : sb.toString();
    }

    /** RFC 3986 pchar plus '/' and '?', minus '%': unreserved, sub-delims, ':', '@', '/', '?'. */
    private static boolean isAllowedRaw(char c) {
        if (isAsciiAlnum(c)) {
            return true;
        }
        return "-._~!$&'()*+,;=:@/?".indexOf(c) >= 0;
    }

    private static boolean isAsciiAlnum(int c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    }

    private static boolean isHex(int c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    }

    private static int indexOfAny(String s, String chars) {
        for (int i = 0; i < s.length(); i++) {
            if (chars.indexOf(s.charAt(i)) >= 0) {
                return i;
            }
        }
        return -1;
    }

    private static String printable(char c) {
        return c < 0x21 || c == 0x7f ? String.format("\\u%04x", (int) c) : String.valueOf(c);
    }

    static String abbreviate(String s, int max) {
        if (s == null) {
            return "";
        }
        return s.length() <= max ? s : s.substring(0, max) + "...";
    }
}
