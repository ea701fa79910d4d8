package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.model.FetchResult;
import io.flowget.udf.model.ResultStatus;
import io.flowget.udf.storage.OutputStore;
import io.flowget.udf.testing.TestOrigin;

import org.apache.flink.configuration.Configuration;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static io.flowget.udf.fetch.FetchOperatorTest.path;
import static io.flowget.udf.fetch.FetchOperatorTest.request;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The fetch operator against links planted by someone who can write into {@code --out} or the staging directory:
 * a link under a staging file's predictable name and a link in place of the host directory under {@code --out}.
 * Real origin, real files; the files outside must stay untouched.
 */
class SymlinkSafetyTest {
    @TempDir Path tmp;

    @RegisterExtension final FetchHarnessExtension fetch = new FetchHarnessExtension();

    @Test
    void aLinkedHostDirectoryFailsThePublishAndNothingLandsOutside() throws Exception {
        TestOrigin origin = fetch.track(TestOrigin.start("127.0.0.1"));
        origin.file("/f.bin", TestOrigin.content("f", 5000));
        Configuration conf = FetchHarness.config(tmp, 8, 4);
        Path out = Files.createDirectories(tmp.resolve("out"));
        Path outside = Files.createDirectories(tmp.resolve("outside"));
        String hostDir = path(origin, "");
        Files.createSymbolicLink(out.resolve(hostDir), outside);
        var h = fetch.harness(conf, FetchHarness.Clock.STEPPED);

        h.processElement(request("f", origin, "/f.bin"), 0);
        FetchResult r = h.results(1).get(0);

        assertThat(r.status).isEqualTo(ResultStatus.FAILED);
        assertThat(r.error).isEqualTo("path conflict: " + hostDir + "/f.bin (" + hostDir + " is a symbolic link)");
        try (var listing = Files.list(outside)) {
            assertThat(listing).as("nothing written outside --out").isEmpty();
        }
        assertThat(h.stagingFiles()).as("the refused body is discarded").isEmpty();
    }

    @Test
    void linksPlantedUnderGuessableStagingNamesAreNeverWrittenThrough() throws Exception {
        TestOrigin origin = fetch.track(TestOrigin.start("127.0.0.1"));
        byte[] body = TestOrigin.content("g", 7000);
        origin.file("/g.bin", body);
        Configuration conf = FetchHarness.config(tmp, 8, 4);
        Path victim = Files.createDirectories(tmp.resolve("victim")).resolve("passwd");
        Files.writeString(victim, "root:x:0:0");
        // The host/sequence staging names of this host's first requests (generation 0).
        OutputStore names =
                new OutputStore(
                        Path.of(conf.get(FlowgetOptions.STORAGE_OUT_DIR)),
                        Path.of(conf.get(FlowgetOptions.STORAGE_STAGING_DIR)),
                        FlowgetOptions.OnConflict.FAIL,
                        FlowgetOptions.Durability.NONE);
        List<Path> planted = new ArrayList<>();
        for (long seq = 0; seq < 4; seq++) {
            Path p = names.stagingFile(origin.host(), seq, 0);
            Files.createSymbolicLink(p, victim);
            planted.add(p);
        }
        var h = fetch.harness(conf, FetchHarness.Clock.STEPPED);

        h.processElement(request("g", origin, "/g.bin"), 0);
        FetchResult r = h.results(1).get(0);

        assertThat(r.status).as(r.error).isEqualTo(ResultStatus.OK);
        assertThat(victim).hasContent("root:x:0:0");
        assertThat(Files.readAllBytes(tmp.resolve("out").resolve(path(origin, "/g.bin")))).isEqualTo(body);
        // Since issue 12 a request's staging name carries its random download id, so links planted under the
        // host/sequence names (still used by downloads restored from older state) are not even in its way; the
        // replacement of a link found at the name is SafeFilesTest's.
        assertThat(planted).as("no planted link was written through or used").allSatisfy(p -> {
            assertThat(Files.isSymbolicLink(p)).isTrue();
            assertThat(victim).hasContent("root:x:0:0");
        });
    }
}
