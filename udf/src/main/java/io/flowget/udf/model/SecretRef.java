package io.flowget.udf.model;

import java.util.regex.Pattern;

/**
 * A request header whose value is a secret's name, not the secret: {@code "headers": {"Authorization": {"secret":
 * "api-token"}}}. The reference travels through keyed state, checkpoints and dead letters in place of the value;
 * the fetch operator resolves it when it sends the request (see {@code io.flowget.udf.secret.Secrets}), so the secret itself is
 * never stored or logged by flowget.
 *
 * <p>Encoded inside {@link FetchRequest#headers} as a value that no literal header value can be (the parser refuses
 * control characters in literal values), so the state schema stays as it was. Stateless.
 */
public final class SecretRef {
    /** Secret names: what a file name in a Kubernetes secret volume and an environment variable suffix can carry. */
    public static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");

    private static final String MARK = "\u0000secret:";

    private SecretRef() {}

    /** The header value that stands for secret {@code name} (already checked against {@link #NAME}). */
    public static String encode(String name) {
        return MARK + name;
    }

    /** True when a header value is a secret reference. */
    public static boolean isRef(String headerValue) {
        return headerValue != null && headerValue.startsWith(MARK);
    }

    /** The secret name of a reference ({@link #isRef} true). */
    public static String name(String headerValue) {
        return headerValue.substring(MARK.length());
    }
}
