package io.flowget.udf.parse;

import io.flowget.udf.json.Json;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * Takes literal header values out of a raw request before it is kept anywhere for people to read (the dead-letter
 * topic, logs): every string value of its {@code headers} object becomes {@value #REDACTED}; secret references
 * ({@code {"secret": "name"}}) carry no secret and stay. A raw value that is not JSON keeps nothing after a
 * {@code "headers"} key up to its closing brace. Everything else of the request stays, so the reason of the
 * rejection can still be understood.
 *
 * <p>Stateless and thread-safe.
 */
public final class HeaderRedaction {
    public static final String REDACTED = "<redacted>";

    private static final Pattern HEADERS_TEXT =
            Pattern.compile("(\"headers\"\\s*:\\s*)\\{[^}]*\\}?", Pattern.CASE_INSENSITIVE | Pattern.DOTALL);

    private HeaderRedaction() {}

    /** {@code raw} with its literal header values replaced; {@code raw} itself when it has none. */
    public static String redact(String raw) {
        if (raw == null || raw.toLowerCase(Locale.ROOT).indexOf("\"headers\"") < 0) {
            return raw;
        }
        try {
            JsonNode root = Json.readTree(raw);
            if (root != null && root.isObject() && root.get("headers") != null && root.get("headers").isObject()) {
                ObjectNode headers = (ObjectNode) root.get("headers");
                List<String> names = new ArrayList<>();
                headers.fieldNames().forEachRemaining(names::add);
                for (String name : names) {
                    if (!headers.get(name).isObject()) {
                        headers.put(name, REDACTED);
                    }
                }
                return Json.writer().writeValueAsString(root);
            }
            if (root != null && root.isObject() && root.get("headers") != null) {
                ((ObjectNode) root).put("headers", REDACTED);
                return Json.writer().writeValueAsString(root);
            }
            return raw;
        } catch (Exception notJson) {
            return HEADERS_TEXT.matcher(raw).replaceAll("$1\"" + REDACTED + "\"");
        }
    }
}
