package io.flowget.udf.body;

import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.IvParameterSpec;
import javax.crypto.spec.SecretKeySpec;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.Arrays;

/**
 * Whole-object AES-256-GCM as a push-style stage: {@code nonce (12) || ciphertext || tag (16)}, no associated
 * data, decrypted as a stream with fixed memory.
 *
 * <p>The JDK's GCM decryptor buffers the whole ciphertext until {@code doFinal}, and a pure-Java streaming GCM
 * (Bouncy Castle's lightweight one was measured at under 10 MB/s here) is two orders of magnitude slower than the
 * JDK's intrinsics. So this stage splits GCM into its parts, all with the JDK's AES-NI/CLMUL intrinsics: the
 * plaintext comes from AES-CTR starting at the GCM counter {@code nonce || 00000002} (GCM's keystream), and the
 * tag is recomputed by a streaming GCM <em>encryption</em> of that plaintext under the same key and nonce, which
 * reproduces exactly the received ciphertext and therefore its tag; the received tag is compared in constant
 * time at {@link #finish}. The reproduced ciphertext is discarded, so no new ciphertext under the nonce is ever
 * exposed. CTR's 128-bit counter and GCM's 32-bit one agree below 2^32 blocks, i.e. for every message GCM allows
 * (at most 2^36 - 32 bytes); longer input fails.
 *
 * <p>The last 16 bytes seen are held back as the candidate tag. Plaintext is released downstream before the tag is
 * checked — into the staging file, which becomes visible only after {@link #finish} verified it; a failure leaves
 * nothing at the result's path. Because unauthenticated plaintext may be garbage, a CORRUPT verdict of the inner
 * decoder is held until the tag is checked: a bad tag reports {@code decryption failed}, a good one the inner
 * decoder's own error.
 *
 * <p>Memory: between calls, the held-back tag (16 bytes), the nonce and the two ciphers' small state; an input, an
 * output and a discard buffer of about {@code chunkSize} bytes each are borrowed from {@link DecodeBuffers} for one
 * call only. Not thread-safe: owned by one {@link BodyPipeline}.
 */
final class AesGcmDecryptor implements Decoder {
    static final int NONCE_BYTES = 12;
    static final int TAG_BYTES = 16;
    /** GCM's limit on the plaintext of one message (NIST SP 800-38D): 2^39 - 256 bits. */
    static final long MAX_PLAINTEXT_BYTES = (1L << 36) - 32;
    /** Heap of the two JDK ciphers (AES round keys, GHASH subkey, counters), measured: about 2 KiB. */
    static final int CIPHER_STATE_BYTES = 2048;

    private final ChunkConsumer next;
    private final byte[] key;
    private final byte[] nonce = new byte[NONCE_BYTES];
    /** The candidate tag: the last {@link #held} bytes seen (at most {@link #TAG_BYTES}). */
    private final byte[] tail = new byte[TAG_BYTES];
    /** Most ciphertext bytes decrypted per step; the borrowed buffers hold this plus one or two tags. */
    private final int chunkSize;
    private Cipher ctr;
    private Cipher tagger;
    private int nonceFill;
    private int held;
    private long plaintextBytes;
    private BodyException heldBack;

    /** Takes a copy of {@code key}; the caller wipes its own. */
    AesGcmDecryptor(byte[] key, ChunkConsumer next, int chunkSize) {
        this.next = next;
        this.key = key.clone();
        if (chunkSize <= 0) {
            throw new IllegalArgumentException("chunkSize must be > 0: " + chunkSize);
        }
        this.chunkSize = Math.min(chunkSize, DecodeBuffers.SIZE - 2 * TAG_BYTES);
    }

    @Override
    public void accept(ByteBuffer coded) throws IOException {
        if (ctr == null) {
            int n = Math.min(NONCE_BYTES - nonceFill, coded.remaining());
            coded.get(nonce, nonceFill, n);
            nonceFill += n;
            if (nonceFill < NONCE_BYTES) {
                return;
            }
            initCiphers();
        }
        if (!coded.hasRemaining()) {
            return;
        }
        // Working buffers for this call only: a download waiting for bytes holds just the tail.
        ByteBuffer inBuf = DecodeBuffers.take();
        ByteBuffer outBuf = DecodeBuffers.take();
        ByteBuffer discardBuf = DecodeBuffers.take();
        try {
            // The candidate tag followed by new input; its first `held` bytes are held back.
            byte[] in = inBuf.array();
            System.arraycopy(tail, 0, in, 0, held);
            int capacity = chunkSize + TAG_BYTES;
            while (coded.hasRemaining()) {
                int n = Math.min(capacity - held, coded.remaining());
                coded.get(in, held, n);
                int filled = held + n;
                // Everything but the last TAG_BYTES may be ciphertext; those stay as the candidate tag.
                int ready = filled - TAG_BYTES;
                if (ready <= 0) {
                    held = filled;
                    continue;
                }
                decrypt(in, ready, outBuf.array(), discardBuf.array());
                System.arraycopy(in, ready, in, 0, TAG_BYTES);
                held = TAG_BYTES;
            }
            System.arraycopy(in, 0, tail, 0, held);
        } finally {
            DecodeBuffers.give(discardBuf);
            DecodeBuffers.give(outBuf);
            DecodeBuffers.give(inBuf);
        }
    }

    private void initCiphers() throws IOException {
        try {
            SecretKeySpec spec = new SecretKeySpec(key, "AES");
            byte[] counter = Arrays.copyOf(nonce, 16);
            counter[15] = 2; // GCM encrypts the first block with inc32(J0), J0 = nonce || 00000001
            ctr = Cipher.getInstance("AES/CTR/NoPadding");
            ctr.init(Cipher.DECRYPT_MODE, spec, new IvParameterSpec(counter));
            tagger = Cipher.getInstance("AES/GCM/NoPadding");
            tagger.init(Cipher.ENCRYPT_MODE, spec, new GCMParameterSpec(TAG_BYTES * 8, nonce));
        } catch (GeneralSecurityException e) {
            throw new IOException("AES-GCM is not available in this JVM", e);
        } finally {
            Arrays.fill(key, (byte) 0);
        }
    }

    private void decrypt(byte[] ciphertext, int len, byte[] out, byte[] discard) throws IOException {
        plaintextBytes += len;
        if (plaintextBytes > MAX_PLAINTEXT_BYTES) {
            throw BodyException.decryptFailed("object larger than one AES-GCM message can be (64 GiB)", null);
        }
        int produced;
        try {
            produced = ctr.update(ciphertext, 0, len, out, 0);
            tagger.update(out, 0, produced, discard, 0);
        } catch (GeneralSecurityException e) {
            throw new IOException("AES-GCM cipher failed", e);
        }
        emit(out, produced);
    }

    private void emit(byte[] out, int produced) throws IOException {
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
        if (ctr == null || held < TAG_BYTES) {
            throw BodyException.decryptFailed(
                    "object shorter than the " + NONCE_BYTES + "-byte nonce and " + TAG_BYTES + "-byte tag", null);
        }
        byte[] computed;
        ByteBuffer outBuf = DecodeBuffers.take();
        ByteBuffer discardBuf = DecodeBuffers.take();
        try {
            byte[] out = outBuf.array();
            byte[] discard = discardBuf.array();
            int rest = ctr.doFinal(out, 0);
            if (rest > 0) {
                tagger.update(out, 0, rest, discard, 0);
                emit(out, rest);
            }
            int n = tagger.doFinal(discard, 0);
            computed = Arrays.copyOfRange(discard, n - TAG_BYTES, n);
        } catch (GeneralSecurityException e) {
            throw new IOException("AES-GCM cipher failed", e);
        } finally {
            DecodeBuffers.give(discardBuf);
            DecodeBuffers.give(outBuf);
        }
        if (!MessageDigest.isEqual(computed, tail)) {
            throw BodyException.decryptFailed(
                    "AES-GCM tag mismatch (wrong key, or damaged, truncated or extended object)", null);
        }
        if (heldBack != null) {
            throw heldBack;
        }
    }

    @Override
    public int heapBytes() {
        return tail.length + NONCE_BYTES + CIPHER_STATE_BYTES; // working buffers are borrowed per call
    }

    @Override
    public int directBytes() {
        return 0;
    }

    @Override
    public void close() {
        Arrays.fill(key, (byte) 0);
    }
}
