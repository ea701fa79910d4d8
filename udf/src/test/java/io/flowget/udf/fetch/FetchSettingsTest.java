package io.flowget.udf.fetch;

import io.flowget.udf.config.FlowgetOptions;
import io.flowget.udf.model.FetchRequest;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.MemorySize;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** {@link FetchSettings}: options read once, the derived values and the checks. */
class FetchSettingsTest {
    private static Configuration conf() {
        Configuration c = new Configuration();
        c.set(FlowgetOptions.STORAGE_OUT_DIR, "/data/out");
        return c;
    }

    @Test
    void anOutputDirectoryIsRequired() {
        assertThatThrownBy(() -> FetchSettings.from(new Configuration()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("flowget.storage.out-dir is not set");
    }

    @Test
    void stagingDefaultsToAHiddenDirectoryUnderTheOutput() {
        assertThat(FetchSettings.from(conf()).stagingDir).isEqualTo(Path.of("/data/out/.flowget-partial"));
        Configuration c = conf();
        c.set(FlowgetOptions.STORAGE_STAGING_DIR, "/fast/staging");
        assertThat(FetchSettings.from(c).stagingDir).isEqualTo(Path.of("/fast/staging"));
    }

    @Test
    void aRequestsOwnMaxBytesWinsOverTheDefaultWhichIsUnlimitedWhenUnset() {
        FetchRequest plain = new FetchRequest("a", "http://h/a", "h", "a");
        FetchRequest limited = new FetchRequest("b", "http://h/b", "h", "b");
        limited.maxBytes = 10L;
        Configuration c = conf();
        c.set(FlowgetOptions.FETCH_MAX_BYTES, MemorySize.parse("1kb"));

        assertThat(FetchSettings.from(conf()).maxBytes(plain)).isEqualTo(Long.MAX_VALUE);
        assertThat(FetchSettings.from(c).maxBytes(plain)).isEqualTo(1024);
        assertThat(FetchSettings.from(c).maxBytes(limited)).isEqualTo(10);
    }

    @Test
    void chunksGrowBeyondTheConfiguredSizeToStayWithinMaxChunks() {
        Configuration c = conf();
        c.set(FlowgetOptions.CHUNK_SIZE, MemorySize.parse("1mb"));
        c.set(FlowgetOptions.CHUNK_MAX_CHUNKS, 10);
        FetchSettings s = FetchSettings.from(c);

        assertThat(s.chunkSizeFor(5 << 20)).isEqualTo(1 << 20);
        assertThat(s.chunkSizeFor(100L << 20)).isEqualTo(10L << 20);
        assertThat(s.chunkSizeFor((100L << 20) + 1)).as("rounded up").isEqualTo((10L << 20) + 1);
    }

    @Test
    void chunkSizeAndMaxChunksAreAtLeastOne() {
        Configuration c = conf();
        c.set(FlowgetOptions.CHUNK_SIZE, MemorySize.parse("0b"));
        c.set(FlowgetOptions.CHUNK_MAX_CHUNKS, 0);
        FetchSettings s = FetchSettings.from(c);

        assertThat(s.chunkSize).isEqualTo(1);
        assertThat(s.maxChunks).isEqualTo(1);
        assertThat(s.chunkSizeFor(7)).isEqualTo(7);
    }

    @Test
    void theSinkModeDecidesDigestOnly() {
        Configuration c = conf();
        c.set(FlowgetOptions.SINK_MODE, FlowgetOptions.SinkMode.DIGEST_ONLY);

        assertThat(FetchSettings.from(conf()).digestOnly).isFalse();
        assertThat(FetchSettings.from(c).digestOnly).isTrue();
    }

    @Test
    void theRetryPolicyComesFromTheSameConfiguration() {
        Configuration c = conf();
        c.set(FlowgetOptions.RETRY_MAX_ATTEMPTS, 2);

        assertThat(FetchSettings.from(c).retry).isEqualTo(RetryPolicy.from(c));
        assertThat(FetchSettings.from(c).retry.maxAttempts()).isEqualTo(2);
    }
}
