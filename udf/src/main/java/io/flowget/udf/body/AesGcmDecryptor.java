package io.flowget.udf.body;

import org.bouncycastle.crypto.InvalidCipherTextException;
import org.bouncycastle.crypto.engines.AESEngine;
import org.bouncycastle.crypto.modes.GCMBlockCipher;
import org.bouncycastle.crypto.modes.GCMModeCipher;
import org.bouncycastle.crypto.params.AEADParameters;
import org.bouncycastle.crypto.params.KeyParameter;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Whole-object AES-256-GCM as a push-style stage: {@code nonce (12) || ciphertext || tag (16)}, no associated
 * data. Bouncy Castle's lightweight GCM decrypts as bytes arrive and holds back only the last 16 bytes (the
 * candidate tag), so memory is fixed: an 8 KiB output buffer, an 8 KiB copy buffer for direct input, and the
 * cipher's state (about 10.5 KiB, mostly its multiplication table). (The JDK's GCM decryptor buffers the whole
 * ciphertext until {@code doFinal}.)
 *
 * <p>Plaintext is released downstream before the tag is checked — into the staging file, which becomes visible
 * only after {@link #finish} verified the tag; a failure leaves nothing at the result's path. Because
 * unauthenticated plaintext may be garbage, a CORRUPT verdict of the inner decoder is held until the tag is
 * checked: a bad tag reports {@code decryption failed}, a good one the inner decoder's own error.
 *
 * <p>Not thread-safe: owned by one {@link BodyPipeline}.
 */
final class AesGcmDecryptor implements Decoder {
    static final int NONCE_BYTES = 12;
    static final int TAG_BYTES = 16;
    /**
     * Heap of one initialised Bouncy Castle GCM cipher (AES round keys, the 4 KiB multiplier table and its
     * buffers): 10.5 KiB measured with 1.87 (2,000 ciphers, heap after GC).
     */
    static final int CIPHER_STATE_BYTES = 10_800;

    private final ChunkConsumer next;
    private final GCMModeCipher cipher;
    private final byte[] key;
    private final byte[] nonce = new byte[NONCE_BYTES];
    private final byte[] out;
    private byte[] copy;
    private int nonceFill;
    private boolean initialized;
    private BodyException heldBack;

    /** Takes a copy of {@code key}; the caller wipes its own. */
    AesGcmDecryptor(byte[] key, ChunkConsumer next, int chunkSize) {
        this.next = next;
        this.key = key.clone();
        this.cipher = GCMBlockCipher.newInstance(AESEngine.newInstance());
        this.out = new byte[chunkSize];
    }

    @Override
    public void accept(ByteBuffer coded) throws IOException {
        if (!initialized) {
            int n = Math.min(NONCE_BYTES - nonceFill, coded.remaining());
            coded.get(nonce, nonceFill, n);
            nonceFill += n;
            if (nonceFill < NONCE_BYTES) {
                return;
            }
            cipher.init(false, new AEADParameters(new KeyParameter(key), TAG_BYTES * 8, nonce));
            java.util.Arrays.fill(key, (byte) 0);
            initialized = true;
        }
        // Slices small enough that one processBytes call never outputs more than the output buffer holds (the
        // cipher may release up to 31 buffered bytes on top of the slice).
        int slice = out.length - 2 * TAG_BYTES;
        while (coded.hasRemaining()) {
            int n = Math.min(slice, coded.remaining());
            int produced;
            if (coded.hasArray()) {
                produced = cipher.processBytes(coded.array(), coded.arrayOffset() + coded.position(), n, out, 0);
                coded.position(coded.position() + n);
            } else {
                if (copy == null) {
                    copy = new byte[BodyPipeline.SCRATCH_SIZE];
                }
                n = Math.min(n, copy.length);
                coded.get(copy, 0, n);
                produced = cipher.processBytes(copy, 0, n, out, 0);
            }
            emit(produced);
        }
    }

    private void emit(int produced) throws IOException {
        if (produced == 0 || heldBack != null) {
            return; // after an inner CORRUPT verdict, plaintext is only decrypted to reach the tag
        }
        try {
            next.accept(ByteBuffer.wrap(out, 0, produced));
        } catch (BodyException e) {
            if (e.kind() != BodyException.Kind.CORRUPT) {
                throw e;
            }
            heldBack = e;
        }
    }

    @Override
    public void finish() throws IOException {
        if (!initialized) {
            throw BodyException.decryptFailed(
                    "object shorter than the " + NONCE_BYTES + "-byte nonce and " + TAG_BYTES + "-byte tag", null);
        }
        int produced;
        try {
            produced = cipher.doFinal(out, 0);
        } catch (InvalidCipherTextException e) {
            throw BodyException.decryptFailed(
                    "AES-GCM tag mismatch (wrong key, or damaged, truncated or extended object)", e);
        }
        emit(produced);
        if (heldBack != null) {
            throw heldBack;
        }
    }

    @Override
    public int heapBytes() {
        return out.length + (copy == null ? 0 : copy.length) + NONCE_BYTES + CIPHER_STATE_BYTES;
    }

    @Override
    public int directBytes() {
        return 0;
    }

    @Override
    public void close() {
        java.util.Arrays.fill(key, (byte) 0);
    }
}
