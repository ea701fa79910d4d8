package io.flowget.udf.body;

import io.flowget.udf.crypto.DecryptScheme;
import io.flowget.udf.crypto.KeyProvider;
import io.flowget.udf.crypto.UnknownKeyException;

import com.google.crypto.tink.subtle.AesGcmHkdfStreaming;

import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.security.GeneralSecurityException;
import java.util.Map;
import java.util.Random;

/**
 * Encrypts test payloads the way other tools do — the JDK's one-shot AES/GCM for the whole-object layout
 * (the decryptor under test uses AES-CTR and a recomputed tag instead; {@code BodyPipelineDecryptTest} also checks
 * a published test vector) and Tink's encrypting stream for the segmented schemes — plus a map-backed
 * {@link KeyProvider}.
 */
public final class Encryptors {
    private Encryptors() {}

    /** 32 deterministic key bytes. */
    public static byte[] key(long seed) {
        byte[] k = new byte[DecryptScheme.KEY_BYTES];
        new Random(seed).nextBytes(k);
        return k;
    }

    /** Encrypts {@code plain} under {@code scheme}; the GCM nonce comes from {@code seed}. */
    public static byte[] encrypt(DecryptScheme scheme, byte[] key, byte[] plain, long seed) {
        return scheme.segmented() ? tink(scheme, key, plain) : aesGcm(key, plain, seed);
    }

    /** {@code nonce (12) || ciphertext || tag (16)} by the JDK's AES/GCM/NoPadding. */
    public static byte[] aesGcm(byte[] key, byte[] plain, long seed) {
        byte[] nonce = new byte[12];
        new Random(seed).nextBytes(nonce);
        try {
            Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
            c.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(key, "AES"), new GCMParameterSpec(128, nonce));
            byte[] ct = c.doFinal(plain);
            byte[] out = new byte[12 + ct.length];
            System.arraycopy(nonce, 0, out, 0, 12);
            System.arraycopy(ct, 0, out, 12, ct.length);
            return out;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Tink's streaming AEAD of {@code scheme}, empty associated data. */
    public static byte[] tink(DecryptScheme scheme, byte[] key, byte[] plain) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(plain.length + plain.length / 64 + 64);
        try (OutputStream enc = tinkStream(scheme, key, out)) {
            enc.write(plain);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    /** An encrypting stream into {@code out} (large payloads produced on the fly). */
    public static OutputStream tinkStream(DecryptScheme scheme, byte[] key, OutputStream out) throws IOException {
        try {
            return new AesGcmHkdfStreaming(key, "HmacSha256", 32, scheme.ciphertextSegmentSize(), 0)
                    .newEncryptingStream(out, new byte[0]);
        } catch (GeneralSecurityException e) {
            throw new IOException(e);
        }
    }

    /** Byte offset where Tink segment {@code i} of {@code scheme} starts in the ciphertext. */
    public static long tinkSegmentStart(DecryptScheme scheme, int i) {
        return i == 0 ? TinkStreamingDecryptor.HEADER_BYTES : (long) i * scheme.ciphertextSegmentSize();
    }

    /** Keys by id; any other id is unknown. */
    public static KeyProvider keys(Map<String, byte[]> keys) {
        return id -> {
            byte[] k = keys.get(id);
            if (k == null) {
                throw UnknownKeyException.unknown(id);
            }
            return k.clone();
        };
    }
}
