package io.flowget.udf.crypto;

import java.io.IOException;
import java.util.Locale;
import java.util.Map;

/**
 * Keys from environment variables: key id {@code backup-2026} is read from {@code <prefix>BACKUP_2026} (the id
 * upper-cased, every character other than a letter or digit replaced by {@code _}), whose value is 64 hex digits
 * or base64 of 32 bytes. The prefix is {@code flowget.decrypt.key-env-prefix} ({@code FLOWGET_KEY_}). In
 * Kubernetes, a secret's keys map onto such variables with {@code envFrom}/{@code secretKeyRef}.
 *
 * <p>Thread-safe: reads an immutable snapshot of the environment taken at construction.
 */
public final class EnvironmentKeyProvider implements KeyProvider {
    private final String prefix;
    private final Map<String, String> env;

    /** Reads the process environment. */
    public EnvironmentKeyProvider(String prefix) {
        this(prefix, System.getenv());
    }

    /** Reads {@code env} (tests). */
    public EnvironmentKeyProvider(String prefix, Map<String, String> env) {
        this.prefix = prefix;
        this.env = Map.copyOf(env);
    }

    /** The variable that holds {@code keyId}. */
    public String variable(String keyId) {
        StringBuilder b = new StringBuilder(prefix);
        for (char c : keyId.toUpperCase(Locale.ROOT).toCharArray()) {
            b.append((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ? c : '_');
        }
        return b.toString();
    }

    @Override
    public byte[] key(String keyId) throws IOException {
        if (!KeyMaterial.KEY_ID.matcher(keyId).matches()) {
            throw UnknownKeyException.unknown(keyId);
        }
        String value = env.get(variable(keyId));
        if (value == null) {
            throw UnknownKeyException.unknown(keyId);
        }
        byte[] key = KeyMaterial.decode(value);
        if (key == null) {
            throw new UnknownKeyException(
                    "unusable key id '" + keyId + "': " + variable(keyId) + " is not a 256-bit key");
        }
        return key;
    }

    @Override
    public String toString() {
        return "EnvironmentKeyProvider{" + prefix + "*}";
    }
}
