package io.flowget.udf.secret;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.model.SecretRef;

import org.apache.flink.configuration.ReadableConfig;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Secrets by name, for request headers ({@link SecretRef}, resolved when a hop is sent) and proxy credentials: from
 * a file named by
 * the secret in {@code flowget.secrets.dir} (a mounted Kubernetes secret; Kubernetes updates such files in place,
 * so a rotated secret is used by the next request), else from the environment variable {@code
 * flowget.secrets.env-prefix} + the name upper-cased with {@code _} for other characters. The value lives only in
 * the request being built; it is never written to state, results, dead letters or logs.
 *
 * <p>Immutable apart from the files it reads; thread-safe. Used on the task thread (a secret file is tiny: one small
 * read) and when the shared HTTP client is created.
 */
public final class Secrets {
    /** A header value longer than this is not a header value (and is not read into memory). */
    private static final long MAX_SECRET_BYTES = 8192;

    private final Path dir;
    private final String envPrefix;
    private final Map<String, String> env;

    public Secrets(Path dir, String envPrefix, Map<String, String> env) {
        this.dir = dir;
        this.envPrefix = envPrefix == null ? "" : envPrefix;
        this.env = env;
    }

    public static Secrets from(ReadableConfig conf) {
        return new Secrets(
                conf.getOptional(FlowgetOptions.SECRETS_DIR).map(Path::of).orElse(null),
                conf.get(FlowgetOptions.SECRETS_ENV_PREFIX),
                System.getenv());
    }

    /** Why a secret cannot be had; the request FAILs with this reason (it names the secret, never a value). */
    public static final class SecretUnavailableException extends IOException {
        public SecretUnavailableException(String message) {
            super(message);
        }
    }

    /** {@code headers} with every secret reference replaced by the secret's value. */
    public Map<String, String> resolve(Map<String, String> headers) throws SecretUnavailableException {
        boolean any = false;
        for (String v : headers.values()) {
            any |= SecretRef.isRef(v);
        }
        if (!any) {
            return headers;
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : headers.entrySet()) {
            String v = e.getValue();
            out.put(e.getKey(), SecretRef.isRef(v) ? value(SecretRef.name(v)) : v);
        }
        return out;
    }

    /** The value of secret {@code name}. */
    public String value(String name) throws SecretUnavailableException {
        if (!SecretRef.NAME.matcher(name).matches()) {
            throw new SecretUnavailableException("secret '" + name + "' not found");
        }
        String v = null;
        if (dir != null) {
            v = fromFile(dir.resolve(name), name);
        }
        if (v == null && !envPrefix.isEmpty()) {
            v = env.get(variable(name));
        }
        if (v == null) {
            throw new SecretUnavailableException("secret '" + name + "' not found");
        }
        return checked(name, v.strip());
    }

    /** The environment variable that holds secret {@code name}. */
    public String variable(String name) {
        StringBuilder b = new StringBuilder(envPrefix);
        for (char c : name.toUpperCase(Locale.ROOT).toCharArray()) {
            b.append((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ? c : '_');
        }
        return b.toString();
    }

    private static String fromFile(Path file, String name) throws SecretUnavailableException {
        try {
            // Kubernetes secret volumes are symbolic links into a ..data directory: follow them here (reading only).
            if (Files.size(file) > MAX_SECRET_BYTES) {
                throw new SecretUnavailableException("secret '" + name + "' is too large for a header value");
            }
            return new String(Files.readAllBytes(file), StandardCharsets.ISO_8859_1);
        } catch (NoSuchFileException e) {
            return null;
        } catch (SecretUnavailableException e) {
            throw e;
        } catch (IOException e) {
            throw new SecretUnavailableException("secret '" + name + "' unreadable: " + e.getClass().getSimpleName());
        }
    }

    private static String checked(String name, String v) throws SecretUnavailableException {
        for (int i = 0; i < v.length(); i++) {
            char c = v.charAt(i);
            if ((c < 0x20 && c != '\t') || c == 0x7f || c > 0xff) {
                throw new SecretUnavailableException("secret '" + name + "' is not a valid header value");
            }
        }
        return v;
    }
}
