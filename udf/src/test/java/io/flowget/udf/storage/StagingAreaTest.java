package io.flowget.udf.storage;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;

class StagingAreaTest {

    @TempDir Path tmp;

    @Test
    void createsTheDirectoryAbsoluteAndNormalized() throws Exception {
        StagingArea area = new StagingArea(tmp.resolve("x/../staging"));

        assertThat(area.dir()).isEqualTo(tmp.resolve("staging").toAbsolutePath());
        assertThat(area.dir()).isDirectory();
    }

    @Test
    void fileNameIsTheHostTagSeqAndGeneration() throws Exception {
        StagingArea area = new StagingArea(tmp);

        Path file = area.file("example.com", 42, 3);

        // Persisted format: first 8 bytes of SHA-256("example.com"), then "-<seq>-g<generation>.part".
        assertThat(file.getParent()).isEqualTo(area.dir());
        assertThat(file.getFileName()).hasToString("a379a6f6eeafb9a5-42-g3.part");
    }

    @Test
    void sameRequestSameFileAndEveryInputChangesTheName() throws Exception {
        StagingArea area = new StagingArea(tmp);

        Path file = area.file("example.com", 7, 0);

        assertThat(area.file("example.com", 7, 0)).isEqualTo(file);
        assertThat(area.file("other.example", 7, 0).getFileName()).hasToString("e9efb21f740e487f-7-g0.part");
        assertThat(area.file("example.com", 8, 0)).isNotEqualTo(file);
        assertThat(area.file("example.com", 7, 1)).isNotEqualTo(file);
    }

    @Test
    void hostTagCacheIsBoundedAndClearingItKeepsNamesStable() throws Exception {
        StagingArea area = new StagingArea(tmp);
        Path first = area.file("host-0", 1, 0);

        int maxSeen = 0;
        for (int i = 1; i <= StagingArea.MAX_HOST_TAGS + 5; i++) {
            area.file("host-" + i, 1, 0);
            maxSeen = Math.max(maxSeen, area.cachedHostTags());
        }

        assertThat(maxSeen).isEqualTo(StagingArea.MAX_HOST_TAGS + 1);
        assertThat(area.cachedHostTags()).isLessThan(StagingArea.MAX_HOST_TAGS);
        assertThat(area.file("host-0", 1, 0)).isEqualTo(first);
    }

    @Test
    void discardDeletesTheFile() throws Exception {
        StagingArea area = new StagingArea(tmp);
        Path file = Files.writeString(area.file("example.com", 1, 0), "partial");

        area.discard(file);

        assertThat(file).doesNotExist();
    }

    @Test
    void discardToleratesMissingAndUndeletableFiles() throws Exception {
        StagingArea area = new StagingArea(tmp);
        Path nonEmptyDir = Files.createDirectories(tmp.resolve("dir"));
        Files.writeString(nonEmptyDir.resolve("child"), "x");

        assertThatCode(() -> area.discard(area.file("example.com", 1, 0))).doesNotThrowAnyException();
        assertThatCode(() -> area.discard(nonEmptyDir)).doesNotThrowAnyException(); // logged, not thrown
        assertThat(nonEmptyDir).isDirectory();
    }
}
