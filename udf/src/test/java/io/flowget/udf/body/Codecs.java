package io.flowget.udf.body;

import com.aayushatharva.brotli4j.Brotli4jLoader;
import com.aayushatharva.brotli4j.encoder.Encoder;
import com.github.luben.zstd.ZstdCompressCtx;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.zip.Deflater;
import java.util.zip.DeflaterOutputStream;
import java.util.zip.GZIPOutputStream;

/** Encoders for test data, using the reference implementations (JDK zlib, zstd-jni, Brotli4j). */
public final class Codecs {
    private Codecs() {}

    public static byte[] gzip(byte[] plain) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(out)) {
            gz.write(plain);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    /** HTTP "deflate" as specified: the zlib format (RFC 1950). */
    public static byte[] zlib(byte[] plain) {
        return deflate(plain, false);
    }

    /** Raw deflate (RFC 1951), as some servers send for "deflate". */
    public static byte[] rawDeflate(byte[] plain) {
        return deflate(plain, true);
    }

    private static byte[] deflate(byte[] plain, boolean nowrap) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Deflater deflater = new Deflater(Deflater.DEFAULT_COMPRESSION, nowrap);
        try (DeflaterOutputStream dos = new DeflaterOutputStream(out, deflater)) {
            dos.write(plain);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            deflater.end();
        }
        return out.toByteArray();
    }

    /** zstd at level 3 with the frame content checksum on (so that any corruption is detectable). */
    public static byte[] zstd(byte[] plain) {
        try (ZstdCompressCtx ctx = new ZstdCompressCtx()) {
            ctx.setLevel(3).setChecksum(true);
            return ctx.compress(plain);
        }
    }

    public static byte[] br(byte[] plain) {
        Brotli4jLoader.ensureAvailability();
        try {
            return Encoder.compress(plain, Encoder.Parameters.create(5));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Applies codings in header order, e.g. ("gzip", "br") = br(gzip(plain)). */
    public static byte[] encode(byte[] plain, String... codings) {
        byte[] data = plain;
        for (String coding : codings) {
            switch (coding.trim()) {
                case "gzip":
                case "x-gzip":
                    data = gzip(data);
                    break;
                case "deflate":
                    data = zlib(data);
                    break;
                case "raw-deflate":
                    data = rawDeflate(data);
                    break;
                case "zstd":
                    data = zstd(data);
                    break;
                case "br":
                    data = br(data);
                    break;
                case "identity":
                    break;
                default:
                    throw new IllegalArgumentException(coding);
            }
        }
        return data;
    }
}
