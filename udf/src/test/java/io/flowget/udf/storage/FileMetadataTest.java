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
    void ownerRoundTripsUnderItsPersistedName() throws Exception {
        assumeXattrs();

        assertThat(FileMetadata.writeOwner(file, URL)).isTrue();

        assertThat(FileMetadata.readOwner(file)).isEqualTo(URL);
        assertThat(UserXattrs.read(file, "flowget.url")).isEqualTo(URL);
    }

    @Test
    void writtenMetaIsRecordedUnderItsPersistedNames() throws Exception {
        assumeXattrs();
        FileMetadata.writeOwner(file, URL);

        FileMetadata.write(file, FULL);

        assertThat(FileMetadata.recorded(file, URL))
                .isEqualTo(new RecordedFile(5, SHA, FULL.blake3(), FULL.etag(), FULL.lastModified()));
        BasicFileAttributes attrs = Files.readAttributes(file, BasicFileAttributes.class);
        assertThat(UserXattrs.read(file, "flowget.etag")).isEqualTo(FULL.etag());
        assertThat(UserXattrs.read(file, "flowget.last-modified")).isEqualTo(FULL.lastModified());
        assertThat(UserXattrs.read(file, "flowget.sha256")).isEqualTo(SHA);
        assertThat(UserXattrs.read(file, "flowget.blake3")).isEqualTo(FULL.blake3());
        assertThat(UserXattrs.read(file, "flowget.stamp")).isEqualTo(FileMetadata.stamp(attrs));
    }

    @Test
    void recordedOnlyForTheOwningUrl() throws Exception {
        assumeXattrs();
        FileMetadata.writeOwner(file, URL);
        FileMetadata.write(file, FULL);

        assertThat(FileMetadata.recorded(file, "https://example.com/other")).isNull();
    }

    @Test
    void aFileChangedSinceNoLongerAnswers() throws Exception {
        assumeXattrs();
        FileMetadata.writeOwner(file, URL);
        FileMetadata.write(file, FULL);
        Path touched = Files.writeString(tmp.resolve("touched.bin"), "hello");
        FileMetadata.writeOwner(touched, URL);
        FileMetadata.write(touched, FULL);

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
        FileMetadata.writeOwner(file, URL);
        FileMetadata.writeOwner(noValidators, URL);

        FileMetadata.write(file, new FileMeta("\"v1\"", null, null, null));
        FileMetadata.write(noValidators, new FileMeta(null, null, SHA, null));

        assertThat(UserXattrs.names(file)).doesNotContain("flowget.stamp");
        assertThat(UserXattrs.names(noValidators)).doesNotContain("flowget.stamp");
        assertThat(FileMetadata.recorded(file, URL)).isNull();
        assertThat(FileMetadata.recorded(noValidators, URL)).isNull();
    }

    @Test
    void aNewWriteRemovesWhatThePreviousAttemptLeft() throws Exception {
        assumeXattrs();
        FileMetadata.writeOwner(file, URL);
        FileMetadata.write(file, FULL);

        FileMetadata.write(file, new FileMeta(null, "Wed, 02 Apr 2025 10:00:00 GMT", SHA, null));

        assertThat(UserXattrs.names(file)).doesNotContain("flowget.etag", "flowget.blake3");
        assertThat(FileMetadata.recorded(file, URL))
                .isEqualTo(new RecordedFile(5, SHA, null, null, "Wed, 02 Apr 2025 10:00:00 GMT"));
    }

    @Test
    void onlyARegularFileAnswersNotADirectoryNorASymlink() throws Exception {
        assumeXattrs();
        FileMetadata.writeOwner(file, URL);
        FileMetadata.write(file, FULL);
        Path link = Files.createSymbolicLink(tmp.resolve("link.bin"), file);
        Path dir = Files.createDirectory(tmp.resolve("dir"));

        assertThat(FileMetadata.recorded(link, URL)).isNull();
        assertThat(FileMetadata.recorded(dir, URL)).isNull();
    }

    private void assumeXattrs() {
        assumeTrue(UserXattrs.supported(tmp), "the file system of @TempDir does not take user xattrs");
    }
}
