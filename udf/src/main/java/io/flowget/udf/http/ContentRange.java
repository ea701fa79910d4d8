package io.flowget.udf.http;

/**
 * A parsed {@code Content-Range: bytes first-last/complete} (RFC 9110 §14.4); {@code complete} is -1 for
 * {@code *}. Returns null from {@link #parse} for anything else, which callers treat as an unusable 206.
 */
public record ContentRange(long first, long last, long complete) {
    public static ContentRange parse(String header) {
        if (header == null) {
            return null;
        }
        String v = header.trim();
        if (!v.regionMatches(true, 0, "bytes ", 0, 6)) {
            return null;
        }
        v = v.substring(6).trim();
        int slash = v.indexOf('/');
        int dash = v.indexOf('-');
        if (slash < 0 || dash < 0 || dash > slash) {
            return null;
        }
        try {
            long first = Long.parseLong(v.substring(0, dash).trim());
            long last = Long.parseLong(v.substring(dash + 1, slash).trim());
            String c = v.substring(slash + 1).trim();
            long complete = c.equals("*") ? -1 : Long.parseLong(c);
            if (first < 0 || last < first || (complete >= 0 && last >= complete)) {
                return null;
            }
            return new ContentRange(first, last, complete);
        } catch (NumberFormatException e) {
            return null;
        }
    }

    public long length() {
        return last - first + 1;
    }
}
