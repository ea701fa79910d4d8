package io.flowget.udf.crypto;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Keys from a directory with one file per key id, named by the id — the layout of a Kubernetes secret mounted
 * as a volume ({@code kubectl create secret generic flowget-keys --from-file=backup-2026=key.bin}). A file holds
 * the key as 32 raw bytes, 64 hex digits or base64 ({@link KeyMaterial}). Files are read at every lookup, so a
 * secret updated in place (new ids added) is seen without a restart.
 *
 * <p>Thread-safe (stateless apart from the directory).
 */
public final class DirectoryKeyProvider implements KeyProvider {
    /** Key files are tiny; anything larger is not a key and is not read into memory. */
    private static final long MAX_FILE_BYTES = 4096;

    private final Path dir;

    public DirectoryKeyProvider(Path dir) {
        this.dir = dir;
    }

    @Override
    public byte[] key(String keyId) throws IOException {
        if (!KeyMaterial.KEY_ID.matcher(keyId).matches()) {
            throw UnknownKeyException.unknown(keyId);
        }
        Path file = dir.resolve(keyId);
        byte[] raw;
        try {
            if (Files.size(file) > MAX_FILE_BYTES) {
                throw new UnknownKeyException("unusable key id '" + keyId + "': key file is not a 256-bit key");
            }
            raw = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw UnknownKeyException.unknown(keyId);
        }
        try {
            byte[] key = KeyMaterial.decode(raw);
            if (key == null) {
                throw new UnknownKeyException("unusable key id '" + keyId + "': key file is not a 256-bit key");
            }
            return key;
        } finally {
            Arrays.fill(raw, (byte) 0);
        }
    }

    @Override
    public String toString() {
        return "DirectoryKeyProvider{" + dir + '}';
    }
}
