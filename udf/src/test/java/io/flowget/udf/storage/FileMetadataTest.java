package io.flowget.udf.storage;

import io.flowget.udf.storage.OutputStore.FileMeta;
import io.flowget.udf.storage.OutputStore.RecordedFile;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class FileMetadataTest {

    private static final String URL = "https://example.com/a.bin";
    private static final String SHA = "ab".repeat(32);
    private static final FileMeta FULL = new FileMeta("\"v1\"", "Tue, 01 Apr 2025 10:00:00 GMT", SHA, "cd".repeat(32));

    @TempDir Path tmp;
    private Path file;

    @BeforeEach
    void setUp() throws Exception {
        file = Files.writeString(tmp.resolve("a.bin"), "hello");
    }

    @Test
    void stampIsSizeAndMtimeNanos() throws Exception {
        Files.setLastModifiedTime(file, FileTime.from(1_700_000_000_123_456_789L, TimeUnit.NANOSECONDS));
        BasicFileAttributes attrs = Files.readAttributes(file, BasicFileAttributes.class);

        assertThat(FileMetadata.stamp(attrs))
                .isEqualTo("5:" + attrs.lastModifiedTime().to(TimeUnit.NANOSECONDS))
                .startsWith("5:1700000000");
    }

    @Test
    void nothingRecordedReadsAsNull() throws Exception {
        assertThat(FileMetadata.readOwner(file)).isNull();
        assertThat(FileMetadata.readOwner(tmp.resolve("missing"))).isNull();
        assertThat(FileMetadata.recorded(file, URL)).isNull();
        assertThat(FileMetadata.recorded(tmp.resolve("missing"), URL)).isNull();
    }

    @Test
    void everythingIsOneAttributeUnderItsPersistedName() throws Exception {
        assumeXattrs();

        assertThat(FileMetadata.write(file, URL, FULL)).isTrue();

        assertThat(UserXattrs.names(file)).containsExactly("flowget.meta");
        BasicFileAttributes attrs = Files.readAttributes(file, BasicFileAttributes.class);
        assertThat(UserXattrs.read(file, "flowget.meta"))
                .isEqualTo(String.join("\n", "flowget-meta-1", URL, FULL.etag(), FULL.lastModified(), SHA,
                        FULL.blake3(), FileMetadata.stamp(attrs)));
        assertThat(FileMetadata.readOwner(file)).isEqualTo(URL);
        assertThat(FileMetadata.recorded(file, URL))
                .isEqualTo(new RecordedFile(5, SHA, FULL.blake3(), FULL.etag(), FULL.lastModified()));
    }

    @Test
    void ownerAloneIsRecordedWithoutAStamp() throws Exception {
        assumeXattrs();

        assertThat(FileMetadata.write(file, URL, FileMeta.NONE)).isTrue();

        assertThat(FileMetadata.readOwner(file)).isEqualTo(URL);
        assertThat(UserXattrs.read(file, "flowget.meta")).isEqualTo("flowget-meta-1\n" + URL + "\n\n\n\n\n");
        assertThat(FileMetadata.recorded(file, URL)).isNull();
    }

    @Test
    void theOlderFiveAttributeFormIsStillRead() throws Exception {
        assumeXattrs();
        BasicFileAttributes attrs = Files.readAttributes(file, BasicFileAttributes.class);
        UserXattrs.write(file, "flowget.url", URL);
        UserXattrs.write(file, "flowget.etag", FULL.etag());
        UserXattrs.write(file, "flowget.last-modified", FULL.lastModified());
        UserXattrs.write(file, "flowget.sha256", SHA);
        UserXattrs.write(file, "flowget.blake3", FULL.blake3());
        UserXattrs.write(file, "flowget.stamp", FileMetadata.stamp(attrs));

        assertThat(FileMetadata.readOwner(file)).isEqualTo(URL);
        assertThat(FileMetadata.recorded(file, URL))
                .isEqualTo(new RecordedFile(5, SHA, FULL.blake3(), FULL.etag(), FULL.lastModified()));
        assertThat(FileMetadata.recorded(file, "https://example.com/other")).isNull();
    }

    @Test
    void thePackedFormWinsOverOlderAttributesOnTheSameFile() throws Exception {
        assumeXattrs();
        UserXattrs.write(file, "flowget.url", "https://example.com/old-owner");
        UserXattrs.write(file, "flowget.sha256", "00".repeat(32));

        FileMetadata.write(file, URL, FULL);

        assertThat(FileMetadata.readOwner(file)).isEqualTo(URL);
        assertThat(FileMetadata.recorded(file, URL).sha256()).isEqualTo(SHA);
    }

    @Test
    void aLongValueIsReadWhole() throws Exception {
        assumeXattrs();
        String longUrl = "https://example.com/" + "x".repeat(3000);
        FileMeta meta = new FileMeta("\"" + "e".repeat(600) + "\"", FULL.lastModified(), SHA, FULL.blake3());

        FileMetadata.write(file, longUrl, meta);

        assertThat(FileMetadata.readOwner(file)).isEqualTo(longUrl);
        assertThat(FileMetadata.recorded(file, longUrl).etag()).isEqualTo(meta.etag());
    }

    @Test
    void anUnknownPackedVersionReadsAsNothingRecorded() throws Exception {
        assumeXattrs();
        UserXattrs.write(file, "flowget.meta", "flowget-meta-99\n" + URL);

        assertThat(FileMetadata.readOwner(file)).isNull();
        assertThat(FileMetadata.recorded(file, URL)).isNull();
    }

    @Test
    void recordedOnlyForTheOwningUrl() throws Exception {
        assumeXattrs();
        FileMetadata.write(file, URL, FULL);

        assertThat(FileMetadata.recorded(file, "https://example.com/other")).isNull();
    }

    @Test
    void aFileChangedSinceNoLongerAnswers() throws Exception {
        assumeXattrs();
        FileMetadata.write(file, URL, FULL);
        Path touched = Files.writeString(tmp.resolve("touched.bin"), "hello");
        FileMetadata.write(touched, URL, FULL);

        Files.writeString(file, "!", StandardOpenOption.APPEND);
        FileTime mtime = Files.getLastModifiedTime(touched);
        Files.setLastModifiedTime(touched, FileTime.fromMillis(mtime.toMillis() + 2_000));

        assertThat(FileMetadata.recorded(file, URL)).as("size changed").isNull();
        assertThat(FileMetadata.recorded(touched, URL)).as("mtime changed").isNull();
    }

    @Test
    void noStampWithoutADigestOrWithoutValidators() throws Exception {
        assumeXattrs();
        Path noValidators = Files.writeString(tmp.resolve("b.bin"), "x");

        FileMetadata.write(file, URL, new FileMeta("\"v1\"", null, null, null));
        FileMetadata.write(noValidators, URL, new FileMeta(null, null, SHA, null));

        assertThat(UserXattrs.read(file, "flowget.meta")).endsWith("\n");
        assertThat(UserXattrs.read(noValidators, "flowget.meta")).endsWith("\n");
        assertThat(FileMetadata.recorded(file, URL)).isNull();
        assertThat(FileMetadata.recorded(noValidators, URL)).isNull();
    }

    @Test
    void aNewWriteReplacesWhatThePreviousAttemptLeft() throws Exception {
        assumeXattrs();
        FileMetadata.write(file, URL, FULL);

        FileMetadata.write(file, URL, new FileMeta(null, "Wed, 02 Apr 2025 10:00:00 GMT", SHA, null));

        assertThat(FileMetadata.recorded(file, URL))
                .isEqualTo(new RecordedFile(5, SHA, null, null, "Wed, 02 Apr 2025 10:00:00 GMT"));
    }

    @Test
    void onlyARegularFileAnswersNotADirectoryNorASymlink() throws Exception {
        assumeXattrs();
        FileMetadata.write(file, URL, FULL);
        Path link = Files.createSymbolicLink(tmp.resolve("link.bin"), file);
        Path dangling = Files.createSymbolicLink(tmp.resolve("dangling.bin"), tmp.resolve("nowhere"));
        Path dir = Files.createDirectory(tmp.resolve("dir"));

        assertThat(FileMetadata.recorded(link, URL)).isNull();
        assertThat(FileMetadata.recorded(dangling, URL)).isNull();
        assertThat(FileMetadata.recorded(dir, URL)).isNull();
    }

    private void assumeXattrs() {
        assumeTrue(UserXattrs.supported(tmp), "the file system of @TempDir does not take user xattrs");
    }
}
