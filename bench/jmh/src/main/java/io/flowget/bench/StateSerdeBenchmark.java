package io.flowget.bench;

import io.flowget.udf.fetch.Download;
import io.flowget.udf.model.FetchRequest;

import org.apache.flink.api.common.serialization.SerializerConfigImpl;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.java.typeutils.runtime.PojoSerializer;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.io.IOException;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Cost per request of the serializer Flink uses for the operator's keyed state values: every request is written
 * once into the RocksDB {@code queue} MapState and read back when issued, and a {@link Download} is written to
 * {@code active} on every state change. Measures the {@link PojoSerializer} round trip (serialize into a reused
 * buffer, deserialize) of a {@link FetchRequest} and of a chunked {@link Download}, in ns per round trip; RocksDB's
 * own put/get cost comes on top (see the udf module's {@code StateScaleBenchmark} for that at scale).
 * Fails at setup if either type stops being a POJO (a Kryo fallback would be several times slower).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xms256m", "-Xmx256m", "-XX:+UseParallelGC"})
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
public class StateSerdeBenchmark {
    private TypeSerializer<FetchRequest> requestSerializer;
    private TypeSerializer<Download> downloadSerializer;
    private FetchRequest request;
    private Download download;
    private final DataOutputSerializer out = new DataOutputSerializer(1024);
    private final DataInputDeserializer in = new DataInputDeserializer();

    @Setup
    public void setUp() {
        SerializerConfigImpl config = new SerializerConfigImpl();
        requestSerializer = TypeInformation.of(FetchRequest.class).createSerializer(config);
        downloadSerializer = TypeInformation.of(Download.class).createSerializer(config);
        if (!(requestSerializer instanceof PojoSerializer) || !(downloadSerializer instanceof PojoSerializer)) {
            throw new IllegalStateException(
                    "not POJO serializers: " + requestSerializer.getClass() + ", " + downloadSerializer.getClass());
        }
        String host = "host-17.example.org";
        String path = "datasets/part-42/file-42017.parquet";
        request = new FetchRequest("req-42017", "https://" + host + "/" + path, host, host + "/" + path);
        request.maxBytes = 1L << 30;
        request.headers = Map.of("Authorization", "Bearer abcdefghijklmnopqrstuvwxyz");
        download = new Download(request, 1_764_000_000_000L);
        download.attempts = 3;
        download.mode = Download.CHUNKED;
        download.validator = "\"5f3c-1a2b3c4d\"";
        download.validatorIsEtag = true;
        download.length = 1L << 30;
        download.done = new long[] {0, 8 << 20, 16 << 20, 24 << 20, 40 << 20, 48 << 20};
    }

    @Benchmark
    public FetchRequest fetchRequestRoundTrip() throws IOException {
        out.clear();
        requestSerializer.serialize(request, out);
        in.setBuffer(out.getSharedBuffer(), 0, out.length());
        return requestSerializer.deserialize(in);
    }

    @Benchmark
    public Download downloadRoundTrip() throws IOException {
        out.clear();
        downloadSerializer.serialize(download, out);
        in.setBuffer(out.getSharedBuffer(), 0, out.length());
        return downloadSerializer.deserialize(in);
    }

    /** Serialized sizes, printed by {@code java -cp benchmarks.jar io.flowget.bench.StateSerdeBenchmark}. */
    public static void main(String[] args) throws IOException {
        StateSerdeBenchmark b = new StateSerdeBenchmark();
        b.setUp();
        b.fetchRequestRoundTrip();
        System.out.printf("FetchRequest: %d bytes%n", b.out.length());
        b.downloadRoundTrip();
        System.out.printf("Download (chunked, 3 done ranges): %d bytes%n", b.out.length());
    }
}
