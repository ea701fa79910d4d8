package io.flowget.bench;

import com.aayushatharva.brotli4j.Brotli4jLoader;
import com.aayushatharva.brotli4j.encoder.Encoder;
import com.github.luben.zstd.ZstdCompressCtx;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPOutputStream;

/**
 * The benchmark data set: 64 MiB of log-like text and its gzip (JDK zlib level 6, as {@code gzip -6}), zstd
 * (level 3 with checksum, as the {@code zstd} CLI) and br (quality 6, window 22, a typical on-the-fly server
 * setting) encodings. {@code main DIR} writes them as files so that the JMH run and the CLIs measure the very
 * same bytes; {@link #load} reads them back, or generates them when no directory is given.
 */
public final class BenchData {
    public static final int PLAIN_SIZE = 64 << 20;
    public static final String PLAIN = "plain.log";
    public static final String GZIP = "plain.log.gz";
    public static final String ZSTD = "plain.log.zst";
    public static final String BR = "plain.log.br";

    public final byte[] plain;
    public final byte[] gzip;
    public final byte[] zstd;
    public final byte[] br;

    private BenchData(byte[] plain, byte[] gzip, byte[] zstd, byte[] br) {
        this.plain = plain;
        this.gzip = gzip;
        this.zstd = zstd;
        this.br = br;
    }

    /** Writes the data set into the directory {@code args[0]}. */
    public static void main(String[] args) throws IOException {
        Path dir = Path.of(args[0]);
        Files.createDirectories(dir);
        BenchData data = generate();
        Files.write(dir.resolve(PLAIN), data.plain);
        Files.write(dir.resolve(GZIP), data.gzip);
        Files.write(dir.resolve(ZSTD), data.zstd);
        Files.write(dir.resolve(BR), data.br);
        System.out.printf(
                "plain %d, gzip %d, zstd %d, br %d bytes in %s%n",
                data.plain.length, data.gzip.length, data.zstd.length, data.br.length, dir);
    }

    /** Reads the data set from {@code dir}, or generates it when {@code dir} is empty. */
    public static BenchData load(String dir) throws IOException {
        if (dir == null || dir.isEmpty()) {
            return generate();
        }
        Path d = Path.of(dir);
        BenchData data =
                new BenchData(
                        Files.readAllBytes(d.resolve(PLAIN)),
                        Files.readAllBytes(d.resolve(GZIP)),
                        Files.readAllBytes(d.resolve(ZSTD)),
                        Files.readAllBytes(d.resolve(BR)));
        if (data.plain.length != PLAIN_SIZE) {
            throw new IllegalStateException("expected " + PLAIN_SIZE + " plain bytes in " + dir);
        }
        return data;
    }

    static BenchData generate() {
        byte[] plain = LogText.bytes(64, PLAIN_SIZE);
        return new BenchData(plain, gzip(plain), zstd(plain), br(plain));
    }

    private static byte[] gzip(byte[] plain) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(plain.length / 4);
        try (GZIPOutputStream gz = new GZIPOutputStream(out, 64 * 1024)) {
            gz.write(plain);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    private static byte[] zstd(byte[] plain) {
        try (ZstdCompressCtx ctx = new ZstdCompressCtx()) {
            return ctx.setLevel(3).setChecksum(true).compress(plain);
        }
    }

    private static byte[] br(byte[] plain) {
        Brotli4jLoader.ensureAvailability();
        try {
            return Encoder.compress(plain, Encoder.Parameters.create(6, 22));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
