package io.flowget.udf.storage;

import io.flowget.udf.body.Digests;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * Output paths: the default path of a URL, validation of an explicit {@code path} from a request, and the
 * containment check that every write under the output directory goes through. All paths here are relative,
 * use {@code /} as separator, and never climb out of the directory they are resolved against.
 *
 * <h2>Default path of a URL</h2>
 *
 * {@code <host>[_<port>]/<segment>/.../<file>}:
 *
 * <ul>
 *   <li>The first segment is the host (lower-case, IDN already in ASCII, IPv6 literal without brackets), with
 *       {@code _<port>} appended when the URL names a port other than the scheme's default. The host segment is
 *       sanitised like every other segment (so {@code ::1} becomes {@code __1}).
 *   <li>Then the segments of the URL path, each percent-decoded <em>once</em> as UTF-8 (malformed escapes are
 *       kept literally, invalid UTF-8 becomes U+FFFD) and then sanitised (below). {@code %252e} therefore
 *       stays the literal name {@code %2e}.
 *   <li>An empty path, or one whose last segment is empty, {@code .} or {@code ..} (a directory), gets the
 *       file name {@code index.html}.
 *   <li>A non-empty query string adds {@code ~<first 10 hex of sha256(raw query)>} before the file
 *       extension of the last segment (or at its end if it has none): {@code a.txt?x=1} becomes
 *       {@code a~3f0c...txt}, so URLs that differ only in the query get different files. An empty query
 *       ({@code a.txt?}) counts as none. The fragment is never part of the path.
 * </ul>
 *
 * <h2>Sanitising one segment</h2>
 *
 * <ol>
 *   <li>Empty, {@code .} and {@code ..} segments (after decoding) are dropped: a path never climbs, so
 *       {@code /a/%2e%2e/b} becomes {@code a/b}.
 *   <li>Characters that are unsafe or illegal on common file systems become {@code _}: C0 and C1 control
 *       characters (NUL included), DEL, {@code / \ : * ? " < > |}, Unicode format characters (bidi overrides,
 *       zero-width characters) and unpaired surrogates. A decoded {@code %2f} or {@code %5c} is therefore a
 *       plain {@code _}, never a separator.
 *   <li>A trailing space or dot (which Windows silently strips) becomes {@code _}.
 *   <li>A leading {@code .} is prefixed with {@code _} so no hidden file is created and the reserved staging
 *       name {@code .flowget-partial} cannot be produced; Windows device names ({@code CON}, {@code NUL},
 *       {@code COM1}, ..., with or without extension) are prefixed with {@code _} too.
 *   <li>A name longer than {@value #MAX_SEGMENT_BYTES} UTF-8 bytes is cut (at a code point boundary) and
 *       suffixed with {@code ~<first 8 hex of sha256(name)>}, keeping an extension of up to
 *       {@value #MAX_EXTENSION_BYTES} bytes: the result is at most {@value #MAX_SEGMENT_BYTES} bytes and
 *       different long names stay different.
 * </ol>
 *
 * <p>At most {@value #MAX_SEGMENTS} segments, host and file name included: when a URL has more, the
 * directories beyond the first {@code MAX_SEGMENTS - 2} are folded into one segment
 * {@code ~<first 8 hex of sha256(folded segments)>}, followed by the file name.
 *
 * <h2>Explicit path (the request's {@code path} field)</h2>
 *
 * {@link #validateExplicit} accepts a relative path made of {@code /}-separated names and returns it with
 * empty and {@code .} segments removed. It rejects (with {@link InvalidOutputPathException}, whose message
 * the caller reports as the FAILED result's error): an empty path ({@code invalid path: empty}), NUL
 * ({@code invalid path: NUL}) or other control characters ({@code invalid path: control character}), an
 * absolute path ({@code /x}, {@code \x}, {@code C:x}: {@code invalid path: absolute}), a backslash
 * ({@code invalid path: backslash}, a separator on Windows), a {@code ..} segment
 * ({@code invalid path: '..' segment}), the reserved name {@code .flowget-partial}, a segment over 255
 * UTF-8 bytes, more than {@value #MAX_SEGMENTS} segments, or more than {@value #MAX_EXPLICIT_PATH_BYTES}
 * bytes in total ({@code invalid path: too long}). Other names, hidden ones included, are the requester's
 * choice and are kept.
 *
 * <h2>Known limits</h2>
 *
 * Containment is lexical ({@link #resolveInside}: normalise, then {@code startsWith}); it does not follow
 * symbolic links, so the output directory must not contain links that point outside it (flowget never
 * creates any). Two URLs can still map to the same file on case-insensitive file systems, and a URL
 * {@code /a} and a URL {@code /a/b} need {@code a} as a file and as a directory; the storage layer reports
 * such a clash as a FAILED result. The total length of a default path is bounded only by the segment rules
 * (about 13 KB); a file system that refuses a long path fails that request.
 *
 * <p>Over 450 lines on purpose: the path rules above are one safety contract (nothing is ever written
 * outside {@code --out}) and are property-tested as one unit; splitting them would split that proof.
 *
 * <p>Stateless and thread-safe.
 */
public final class OutputPaths {
    /** Most UTF-8 bytes in one segment of a default path. */
    public static final int MAX_SEGMENT_BYTES = 200;
    /** Longest extension (dot included) kept when a long segment is shortened. */
    public static final int MAX_EXTENSION_BYTES = 16;
    /** Most segments in a path, host and file name included. */
    public static final int MAX_SEGMENTS = 64;
    /** Most UTF-8 bytes in an explicit path. */
    public static final int MAX_EXPLICIT_PATH_BYTES = 1024;
    /** Most UTF-8 bytes in one segment of an explicit path (the common file system limit). */
    public static final int MAX_EXPLICIT_SEGMENT_BYTES = 255;
    /** Name of the default file for directory URLs. */
    public static final String INDEX_FILE = "index.html";
    /** Name reserved for staging data; no output path ever contains it as a segment. */
    public static final String RESERVED_STAGING_NAME = ".flowget-partial";

    private static final Set<String> WINDOWS_DEVICE_NAMES =
            Set.of(
                    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7",
                    "COM8", "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9");

    private OutputPaths() {}

    /**
     * An output path that flowget refuses to write to. The message always reads {@code invalid path: <why>} and
     * is meant to be reported as is, as the {@code error} of a FAILED result.
     */
    public static final class InvalidOutputPathException extends IllegalArgumentException {
        private static final long serialVersionUID = 1L;

        public InvalidOutputPathException(String why) {
            super("invalid path: " + why);
        }
    }

    /**
     * The default output path of a URL (rules in the class Javadoc).
     *
     * @param host lower-case ASCII host, IPv6 literal without brackets; must not be blank
     * @param port the URL's port, or -1 when it is absent or the scheme's default
     * @param rawPath the URL path as it appears in the URL (percent-encoded), may be null or empty
     * @param rawQuery the query without {@code ?}, as it appears in the URL, or null
     * @return a relative path with {@code /} separators, never empty
     */
    public static String defaultPath(String host, int port, String rawPath, String rawQuery) {
        if (host == null || host.isBlank()) {
            throw new IllegalArgumentException("host is required");
        }
        String hostSegment = sanitizeSegment(port >= 0 ? host + "_" + port : host);
        if (hostSegment.isEmpty()) {
            // Only for hosts made entirely of dots; the parser never produces one, but stay safe.
            hostSegment = "_";
        }

        List<String> segments = new ArrayList<>();
        boolean directory = true;
        if (rawPath != null && !rawPath.isEmpty()) {
            String[] raw = rawPath.split("/", -1);
            for (String r : raw) {
                String decoded = percentDecode(r);
                if (isDotOrEmpty(decoded)) {
                    directory = true;
                    continue;
                }
                directory = false;
                segments.add(decoded);
            }
        }
        String fileName = directory ? INDEX_FILE : segments.remove(segments.size() - 1);
        if (rawQuery != null && !rawQuery.isEmpty()) {
            fileName = insertBeforeExtension(fileName, "~" + sha256Hex(rawQuery).substring(0, 10));
        }

        List<String> dirs = new ArrayList<>(segments.size());
        for (String s : segments) {
            String clean = sanitizeSegment(s);
            if (!clean.isEmpty()) {
                dirs.add(clean);
            }
        }
        String file = sanitizeSegment(fileName);
        if (file.isEmpty()) {
            file = INDEX_FILE;
        }

        int maxDirs = MAX_SEGMENTS - 2; // host and file name take two
        if (dirs.size() > maxDirs) {
            List<String> folded = dirs.subList(maxDirs - 1, dirs.size());
            String fold = "~" + sha256Hex(String.join("/", folded)).substring(0, 8);
            dirs = new ArrayList<>(dirs.subList(0, maxDirs - 1));
            dirs.add(fold);
        }

        StringBuilder sb = new StringBuilder(hostSegment);
        for (String d : dirs) {
            sb.append('/').append(d);
        }
        return sb.append('/').append(file).toString();
    }

    /**
     * Sanitises one already-decoded path segment (rules in the class Javadoc). Returns "" for a segment that is
     * to be dropped (empty, {@code .}, {@code ..}). Also the right tool for names from other sources, such as a
     * {@code Content-Disposition} file name.
     */
    public static String sanitizeSegment(String segment) {
        if (segment == null || isDotOrEmpty(segment)) {
            return "";
        }
        StringBuilder sb = new StringBuilder(segment.length() + 1);
        for (int i = 0; i < segment.length(); ) {
            int cp = segment.codePointAt(i);
            int n = Character.charCount(cp);
            if (isUnsafe(cp)) {
                sb.append('_');
            } else {
                sb.appendCodePoint(cp);
            }
            i += n;
        }
        // Windows drops a trailing dot or space, which would merge "a." with "a".
        int last = sb.length() - 1;
        if (sb.charAt(last) == '.' || sb.charAt(last) == ' ') {
            sb.setCharAt(last, '_');
        }
        String s = sb.toString();
        if (s.charAt(0) == '.' || isWindowsDeviceName(s)) {
            s = "_" + s;
        }
        return shorten(s, MAX_SEGMENT_BYTES);
    }

    /**
     * Validates an explicit output path from a request and returns it normalised (no empty or {@code .}
     * segments, {@code /} separators).
     *
     * @throws InvalidOutputPathException with a message {@code invalid path: <why>}
     */
    public static String validateExplicit(String path) {
        if (path == null || path.isBlank()) {
            throw new InvalidOutputPathException("empty");
        }
        for (int i = 0; i < path.length(); i++) {
            char c = path.charAt(i);
            if (c == 0) {
                throw new InvalidOutputPathException("NUL");
            }
            if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0)) {
                throw new InvalidOutputPathException("control character");
            }
        }
        if (path.startsWith("/") || path.startsWith("\\") || hasDrivePrefix(path)) {
            throw new InvalidOutputPathException("absolute");
        }
        if (path.indexOf('\\') >= 0) {
            throw new InvalidOutputPathException("backslash");
        }
        if (utf8Length(path) > MAX_EXPLICIT_PATH_BYTES) {
            throw new InvalidOutputPathException("too long (over " + MAX_EXPLICIT_PATH_BYTES + " bytes)");
        }
        List<String> kept = new ArrayList<>();
        for (String s : path.split("/", -1)) {
            if (s.isEmpty() || s.equals(".")) {
                continue;
            }
            if (s.equals("..")) {
                throw new InvalidOutputPathException("'..' segment");
            }
            if (s.equals(RESERVED_STAGING_NAME)) {
                throw new InvalidOutputPathException("reserved name '" + RESERVED_STAGING_NAME + "'");
            }
            if (utf8Length(s) > MAX_EXPLICIT_SEGMENT_BYTES) {
                throw new InvalidOutputPathException(
                        "segment too long (over " + MAX_EXPLICIT_SEGMENT_BYTES + " bytes)");
            }
            if (hasUnpairedSurrogate(s)) {
                throw new InvalidOutputPathException("invalid Unicode");
            }
            kept.add(s);
        }
        if (kept.isEmpty()) {
            throw new InvalidOutputPathException("empty");
        }
        if (kept.size() > MAX_SEGMENTS) {
            throw new InvalidOutputPathException("too many segments (over " + MAX_SEGMENTS + ")");
        }
        return String.join("/", kept);
    }

    /**
     * Resolves a relative output path against the output directory and checks, after normalising, that the
     * result lies strictly inside it. Every write under the output directory should go through this, whatever
     * produced the relative path.
     *
     * @throws InvalidOutputPathException if the path is absolute, not a valid path on this file system, or
     *     escapes {@code outDir} (or is {@code outDir} itself)
     */
    public static Path resolveInside(Path outDir, String relative) {
        if (relative == null || relative.isEmpty()) {
            throw new InvalidOutputPathException("empty");
        }
        Path base = outDir.toAbsolutePath().normalize();
        Path rel;
        try {
            rel = base.getFileSystem().getPath(relative);
        } catch (java.nio.file.InvalidPathException e) {
            throw new InvalidOutputPathException("not a valid file name (" + e.getReason() + ")");
        }
        if (rel.isAbsolute() || rel.getRoot() != null) {
            throw new InvalidOutputPathException("absolute");
        }
        Path target = base.resolve(rel).normalize();
        if (!target.startsWith(base) || target.equals(base)) {
            throw new InvalidOutputPathException("escapes the output directory");
        }
        return target;
    }

    // ---- helpers ---------------------------------------------------------------------------------

    private static boolean isDotOrEmpty(String s) {
        return s.isEmpty() || s.equals(".") || s.equals("..");
    }

    private static boolean isUnsafe(int cp) {
        if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) {
            return true; // C0, DEL, C1
        }
        switch (cp) {
            case '/':
            case '\\':
            case ':':
            case '*':
            case '?':
            case '"':
            case '<':
            case '>':
            case '|':
                return true;
            default:
                break;
        }
        int type = Character.getType(cp);
        // Format characters (RTL override, zero-width joiners) make names look like something else;
        // surrogates here are unpaired (codePointAt returns a pair as one code point).
        return type == Character.FORMAT || type == Character.SURROGATE;
    }

    private static boolean isWindowsDeviceName(String s) {
        int dot = s.indexOf('.');
        String stem = (dot >= 0 ? s.substring(0, dot) : s).stripTrailing().toUpperCase(Locale.ROOT);
        return WINDOWS_DEVICE_NAMES.contains(stem);
    }

    private static boolean hasDrivePrefix(String p) {
        return p.length() >= 2 && p.charAt(1) == ':' && isAsciiLetter(p.charAt(0));
    }

    private static boolean isAsciiLetter(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    }

    private static boolean hasUnpairedSurrogate(String s) {
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            if (Character.getType(cp) == Character.SURROGATE) {
                return true;
            }
            i += Character.charCount(cp);
        }
        return false;
    }

    /** Inserts {@code tag} before the extension of {@code name} (the part from its last dot, if not first). */
    static String insertBeforeExtension(String name, String tag) {
        int dot = extensionStart(name);
        return dot < 0 ? name + tag : name.substring(0, dot) + tag + name.substring(dot);
    }

    /** Index of the extension's dot, or -1; a leading dot does not start an extension. */
    private static int extensionStart(String name) {
        int dot = name.lastIndexOf('.');
        return dot > 0 && dot < name.length() - 1 ? dot : -1;
    }

    /** Cuts a sanitised name to {@code maxBytes} UTF-8 bytes, keeping a short extension and adding a hash. */
    private static String shorten(String name, int maxBytes) {
        if (utf8Length(name) <= maxBytes) {
            return name;
        }
        String tag = "~" + sha256Hex(name).substring(0, 8);
        int dot = extensionStart(name);
        String ext = dot >= 0 ? name.substring(dot) : "";
        if (utf8Length(ext) > MAX_EXTENSION_BYTES) {
            ext = "";
        }
        String stem = ext.isEmpty() ? name : name.substring(0, dot);
        int budget = maxBytes - utf8Length(tag) - utf8Length(ext);
        return cutUtf8(stem, budget) + tag + ext;
    }

    /** The longest prefix of {@code s} of at most {@code maxBytes} UTF-8 bytes, cut between code points. */
    private static String cutUtf8(String s, int maxBytes) {
        int bytes = 0;
        int i = 0;
        while (i < s.length()) {
            int cp = s.codePointAt(i);
            int len = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
            if (bytes + len > maxBytes) {
                break;
            }
            bytes += len;
            i += Character.charCount(cp);
        }
        return s.substring(0, i);
    }

    static int utf8Length(String s) {
        return s.getBytes(StandardCharsets.UTF_8).length;
    }

    /**
     * Percent-decodes once as UTF-8. A {@code %} not followed by two hex digits is kept as is; byte sequences
     * that are not valid UTF-8 decode to U+FFFD.
     */
    static String percentDecode(String s) {
        if (s.indexOf('%') < 0) {
            return s;
        }
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(s.length());
        StringBuilder out = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); ) {
            char c = s.charAt(i);
            if (c == '%' && i + 2 < s.length() && hex(s.charAt(i + 1)) >= 0 && hex(s.charAt(i + 2)) >= 0) {
                bytes.write(hex(s.charAt(i + 1)) * 16 + hex(s.charAt(i + 2)));
                i += 3;
                continue;
            }
            flush(bytes, out);
            int cp = s.codePointAt(i);
            out.appendCodePoint(cp);
            i += Character.charCount(cp);
        }
        flush(bytes, out);
        return out.toString();
    }

    private static void flush(ByteArrayOutputStream bytes, StringBuilder out) {
        if (bytes.size() > 0) {
            // new String(bytes, UTF_8) replaces malformed input with U+FFFD.
            out.append(new String(bytes.toByteArray(), StandardCharsets.UTF_8));
            bytes.reset();
        }
    }

    private static int hex(char c) {
        if (c >= '0' && c <= '9') {
            return c - '0';
        }
        if (c >= 'a' && c <= 'f') {
            return c - 'a' + 10;
        }
        if (c >= 'A' && c <= 'F') {
            return c - 'A' + 10;
        }
        return -1;
    }

    static String sha256Hex(String s) {
        return Digests.sha256Hex(s.getBytes(StandardCharsets.UTF_8));
    }
}
