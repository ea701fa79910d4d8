package io.flowget.udf.crypto;

import io.flowget.udf.config.FlowgetOptions;

import org.apache.flink.configuration.ReadableConfig;

import java.io.IOException;
import java.lang.reflect.InvocationTargetException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Builds the key provider a configuration describes: the class named by {@code flowget.decrypt.key-provider}
 * (a public no-argument constructor), then the directory {@code flowget.decrypt.key-dir}, then the environment
 * ({@code flowget.decrypt.key-env-prefix}, empty turns it off), asked in that order; the first that knows a key id
 * answers. Reading the configuration does no I/O: keys are read at lookup.
 *
 * <p>Stateless; the chains it returns are thread-safe when their providers are (every {@link KeyProvider} must
 * be), and are shared by the HTTP I/O threads of one operator.
 */
public final class KeyProviders {
    private KeyProviders() {}

    /** The configured chain; throws {@link IllegalArgumentException} for a provider class that cannot be made. */
    public static KeyProvider from(ReadableConfig config) {
        List<KeyProvider> chain = new ArrayList<>(3);
        config.getOptional(FlowgetOptions.DECRYPT_KEY_PROVIDER)
                .filter(s -> !s.isBlank())
                .ifPresent(name -> chain.add(instantiate(name.strip())));
        config.getOptional(FlowgetOptions.DECRYPT_KEY_DIR)
                .filter(s -> !s.isBlank())
                .ifPresent(dir -> chain.add(new DirectoryKeyProvider(Path.of(dir))));
        String prefix = config.get(FlowgetOptions.DECRYPT_KEY_ENV_PREFIX);
        if (prefix != null && !prefix.isEmpty()) {
            chain.add(new EnvironmentKeyProvider(prefix));
        }
        return chain(chain);
    }

    /** Asks {@code providers} in order; an {@link UnknownKeyException} passes the question on. */
    public static KeyProvider chain(List<KeyProvider> providers) {
        List<KeyProvider> list = List.copyOf(providers);
        return new KeyProvider() {
            @Override
            public byte[] key(String keyId) throws IOException {
                UnknownKeyException last = UnknownKeyException.unknown(keyId);
                for (KeyProvider p : list) {
                    try {
                        return p.key(keyId);
                    } catch (UnknownKeyException e) {
                        // an unusable key beats "unknown": it names what to fix
                        if (!e.getMessage().startsWith("unknown key id")) {
                            last = e;
                        }
                    }
                }
                throw last;
            }

            @Override
            public String toString() {
                return "KeyProviders" + list;
            }
        };
    }

    private static KeyProvider instantiate(String className) {
        try {
            Class<?> c = Class.forName(className, true, Thread.currentThread().getContextClassLoader());
            if (!KeyProvider.class.isAssignableFrom(c)) {
                throw new IllegalArgumentException(
                        FlowgetOptions.DECRYPT_KEY_PROVIDER.key() + ": " + className + " is not a KeyProvider");
            }
            return (KeyProvider) c.getDeclaredConstructor().newInstance();
        } catch (ClassNotFoundException
                | NoSuchMethodException
                | InstantiationException
                | IllegalAccessException
                | InvocationTargetException e) {
            throw new IllegalArgumentException(
                    FlowgetOptions.DECRYPT_KEY_PROVIDER.key() + ": cannot create " + className + ": " + e, e);
        }
    }
}
