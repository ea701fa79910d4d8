package io.flowget.udf.crypto;

import io.flowget.udf.config.FlowgetOptions;

import org.apache.flink.configuration.Configuration;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Key files, environment variables, the chain and a deployment's own provider class, on real files. */
class KeyProvidersTest {
    private static final byte[] KEY = key(7);

    private static byte[] key(long seed) {
        byte[] k = new byte[32];
        new Random(seed).nextBytes(k);
        return k;
    }

    @Test
    void keyFilesInEveryAcceptedForm(@TempDir Path dir) throws IOException {
        Files.write(dir.resolve("raw"), KEY);
        Files.writeString(dir.resolve("hex"), HexFormat.of().formatHex(KEY) + "\n");
        Files.writeString(dir.resolve("b64"), Base64.getEncoder().encodeToString(KEY) + "\n");
        Files.writeString(dir.resolve("b64url"), Base64.getUrlEncoder().withoutPadding().encodeToString(KEY));
        KeyProvider p = new DirectoryKeyProvider(dir);
        for (String id : List.of("raw", "hex", "b64", "b64url")) {
            assertThat(p.key(id)).as(id).isEqualTo(KEY);
        }
    }

    @Test
    void unknownAndUnusableKeysAreNamedWithoutTheirBytes(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("short"), "c2VjcmV0LXBhc3N3b3Jk"); // base64 of "secret-password"
        Files.write(dir.resolve("big"), new byte[10_000]);
        Files.createDirectory(dir.resolve("sub"));
        Files.write(dir.resolve("sub").resolve("k"), KEY);
        KeyProvider p = new DirectoryKeyProvider(dir);
        assertThatThrownBy(() -> p.key("missing"))
                .isInstanceOf(UnknownKeyException.class)
                .hasMessage("unknown key id 'missing'");
        assertThatThrownBy(() -> p.key("short"))
                .isInstanceOf(UnknownKeyException.class)
                .hasMessage("unusable key id 'short': key file is not a 256-bit key");
        assertThatThrownBy(() -> p.key("big")).isInstanceOf(UnknownKeyException.class);
        // no path may be named through an id
        assertThatThrownBy(() -> p.key("sub/k")).hasMessage("unknown key id 'sub/k'");
        assertThatThrownBy(() -> p.key("../" + dir.getFileName() + "/raw")).isInstanceOf(UnknownKeyException.class);
    }

    @Test
    void kubernetesSecretVolumeLayoutWithSymlinks(@TempDir Path dir) throws IOException {
        // kubelet writes ..<timestamp>/key, links ..data -> ..<timestamp> and key -> ..data/key
        Path data = Files.createDirectory(dir.resolve("..2026_12_05"));
        Files.writeString(data.resolve("backup-2026"), HexFormat.of().formatHex(KEY));
        Files.createSymbolicLink(dir.resolve("..data"), data.getFileName());
        Files.createSymbolicLink(dir.resolve("backup-2026"), Path.of("..data", "backup-2026"));
        assertThat(new DirectoryKeyProvider(dir).key("backup-2026")).isEqualTo(KEY);
    }

    @Test
    void environmentVariables() throws IOException {
        EnvironmentKeyProvider p =
                new EnvironmentKeyProvider(
                        "FLOWGET_KEY_",
                        Map.of(
                                "FLOWGET_KEY_BACKUP_2026_V2", HexFormat.of().formatHex(KEY),
                                "FLOWGET_KEY_B64", Base64.getEncoder().encodeToString(KEY),
                                "FLOWGET_KEY_BAD", "not a key"));
        assertThat(p.variable("backup-2026.v2")).isEqualTo("FLOWGET_KEY_BACKUP_2026_V2");
        assertThat(p.key("backup-2026.v2")).isEqualTo(KEY);
        assertThat(p.key("b64")).isEqualTo(KEY);
        assertThatThrownBy(() -> p.key("other")).hasMessage("unknown key id 'other'");
        assertThatThrownBy(() -> p.key("bad"))
                .isInstanceOf(UnknownKeyException.class)
                .hasMessage("unusable key id 'bad': FLOWGET_KEY_BAD is not a 256-bit key");
    }

    @Test
    void configuredChainAsksTheOwnClassThenTheDirectoryThenTheEnvironment(@TempDir Path dir) throws IOException {
        Files.write(dir.resolve("in-dir"), KEY);
        Files.write(dir.resolve("fixed"), key(8)); // shadowed by the own provider
        Configuration conf = new Configuration();
        conf.set(FlowgetOptions.DECRYPT_KEY_DIR, dir.toString());
        conf.set(FlowgetOptions.DECRYPT_KEY_PROVIDER, FixedProvider.class.getName());
        KeyProvider p = KeyProviders.from(conf);
        assertThat(p.key("fixed")).isEqualTo(FixedProvider.KEY);
        assertThat(p.key("in-dir")).isEqualTo(KEY);
        assertThatThrownBy(() -> p.key("none")).hasMessage("unknown key id 'none'");
    }

    @Test
    void unusableBeatsUnknownInTheChain(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("k"), "too short", StandardCharsets.US_ASCII);
        KeyProvider p =
                KeyProviders.chain(List.of(new DirectoryKeyProvider(dir), new EnvironmentKeyProvider("X_", Map.of())));
        assertThatThrownBy(() -> p.key("k")).hasMessageStartingWith("unusable key id 'k'");
    }

    @Test
    void aBadProviderClassIsAConfigurationError() {
        Configuration conf = new Configuration();
        conf.set(FlowgetOptions.DECRYPT_KEY_PROVIDER, "no.such.Provider");
        assertThatThrownBy(() -> KeyProviders.from(conf))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("flowget.decrypt.key-provider: cannot create no.such.Provider");
        conf.set(FlowgetOptions.DECRYPT_KEY_PROVIDER, String.class.getName());
        assertThatThrownBy(() -> KeyProviders.from(conf)).hasMessageContaining("is not a KeyProvider");
    }

    /** A deployment's own provider: one fixed key. */
    public static final class FixedProvider implements KeyProvider {
        static final byte[] KEY = KeyProvidersTest.key(9);

        @Override
        public byte[] key(String keyId) throws IOException {
            if (!keyId.equals("fixed")) {
                throw UnknownKeyException.unknown(keyId);
            }
            return KEY.clone();
        }
    }
}
