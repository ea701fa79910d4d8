package io.flowget.udf.fetch;

import io.flowget.udf.model.FetchRequest;
import io.flowget.udf.storage.PendingPublish;

import org.apache.flink.api.common.serialization.SerializerConfigImpl;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.TypeSerializerSchemaCompatibility;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.api.java.typeutils.PojoTypeInfo;
import org.apache.flink.api.java.typeutils.runtime.PojoSerializer;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;

import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * State classes evolve as Flink POJOs (issue 15): the keyed and operator state of the fetch operator holds
 * {@link FetchRequest}, {@link Download}, {@link QueueCursor}, {@link HostState} and {@link PendingPublish}, each
 * serialized by Flink's {@link PojoSerializer}, whose snapshot (stored in every checkpoint and savepoint) lists the
 * fields by name. A field added in a later release is filled with its default when old state is restored; a field
 * removed is dropped; renaming a field or a class, or changing a field's type, is not compatible (do that only with
 * a new state name and a migration).
 *
 * <p>The evolution case compiles two versions of one class (the second adds a field, as {@code downloadId} on
 * {@code Download} would) into two class loaders, writes a value and its serializer snapshot the way a checkpoint
 * does with the first, and restores them with the second the way the RocksDB backend does on restore: the
 * snapshot is read, compatibility resolved against the new serializer (compatible after migration), and the old
 * bytes read with the restored serializer into the new class.
 */
class StateEvolutionTest {
    private static final String V1 = "package evo;\n"
            + "public class Download {\n"
            + "  public String url; public int attempts; public long[] done; public Integer lastHttpStatus;\n"
            + "  public Download() {}\n"
            + "}\n";
    /** V1 plus a field, as a later release would add one. */
    private static final String V2 = "package evo;\n"
            + "public class Download {\n"
            + "  public String url; public int attempts; public long[] done; public Integer lastHttpStatus;\n"
            + "  public String downloadId;\n"
            + "  public long firstByteAt = -1;\n"
            + "  public Download() {}\n"
            + "}\n";

    @TempDir Path tmp;

    @Test
    void everyStateClassIsAFlinkPojoSoItsSchemaCanEvolve() {
        for (Class<?> c : List.of(FetchRequest.class, Download.class, QueueCursor.class, HostState.class,
                PendingPublish.class)) {
            assertThat(TypeInformation.of(c)).as(c.getName()).isInstanceOf(PojoTypeInfo.class);
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    void stateWrittenBeforeAFieldWasAddedIsRestoredWithTheFieldAtItsDefault() throws Exception {
        ClassLoader v1 = compile("v1", V1);
        ClassLoader v2 = compile("v2", V2);
        Class<?> old = v1.loadClass("evo.Download");
        Object value = old.getConstructor().newInstance();
        old.getField("url").set(value, "http://h/x.bin");
        old.getField("attempts").set(value, 3);
        old.getField("done").set(value, new long[] {0, 32767});
        old.getField("lastHttpStatus").set(value, 206);

        // What a checkpoint holds: the serializer's snapshot, then the value's bytes.
        TypeSerializer<Object> before = serializer(old);
        assertThat(before).isInstanceOf(PojoSerializer.class);
        DataOutputSerializer out = new DataOutputSerializer(256);
        TypeSerializerSnapshot.writeVersionedSnapshot(out, before.snapshotConfiguration());
        before.serialize(value, out);

        // The restore, by the release with the added field.
        DataInputDeserializer in = new DataInputDeserializer(out.getCopyOfBuffer());
        TypeSerializerSnapshot<Object> written = TypeSerializerSnapshot.readVersionedSnapshot(in, v2);
        Class<?> current = v2.loadClass("evo.Download");
        TypeSerializer<Object> after = serializer(current);
        TypeSerializerSchemaCompatibility<Object> compat =
                after.snapshotConfiguration().resolveSchemaCompatibility(written);
        assertThat(compat.isCompatibleAfterMigration()).as("a new field: migrate, not fail").isTrue();
        Object restored = written.restoreSerializer().deserialize(in);
        // ... and migrated: written again with the new serializer, read back.
        DataOutputSerializer migrated = new DataOutputSerializer(256);
        after.serialize(restored, migrated);
        Object back = after.deserialize(new DataInputDeserializer(migrated.getCopyOfBuffer()));

        assertThat(back.getClass()).isSameAs(current);
        assertThat(current.getField("url").get(back)).isEqualTo("http://h/x.bin");
        assertThat(current.getField("attempts").get(back)).isEqualTo(3);
        assertThat((long[]) current.getField("done").get(back)).containsExactly(0, 32767);
        assertThat(current.getField("lastHttpStatus").get(back)).isEqualTo(206);
        assertThat(current.getField("downloadId").get(back)).as("the added field").isNull();
    }

    @Test
    void renamingAFieldIsNotCompatible() throws Exception {
        ClassLoader v1 = compile("v1", V1);
        ClassLoader renamed = compile("r", V1.replace("public int attempts;", "public int tries;"));
        DataOutputSerializer out = new DataOutputSerializer(256);
        TypeSerializerSnapshot.writeVersionedSnapshot(out, serializer(v1.loadClass("evo.Download")).snapshotConfiguration());
        TypeSerializerSnapshot<Object> written =
                TypeSerializerSnapshot.readVersionedSnapshot(new DataInputDeserializer(out.getCopyOfBuffer()), renamed);

        TypeSerializerSchemaCompatibility<Object> compat = serializer(renamed.loadClass("evo.Download"))
                .snapshotConfiguration().resolveSchemaCompatibility(written);

        // Flink drops the old field and adds the new one: the data of 'attempts' would be lost silently.
        assertThat(compat.isCompatibleAsIs()).isFalse();
    }

    @SuppressWarnings("unchecked")
    private static TypeSerializer<Object> serializer(Class<?> c) {
        return (TypeSerializer<Object>) TypeInformation.of(c).createSerializer(new SerializerConfigImpl());
    }

    /** Compiles one version of {@code evo.Download} into its own class loader. */
    private ClassLoader compile(String name, String source) throws Exception {
        Path dir = Files.createDirectories(tmp.resolve(name));
        Path file = Files.createDirectories(dir.resolve("evo")).resolve("Download.java");
        Files.writeString(file, source);
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        assertThat(javac.run(null, null, null, "-d", dir.toString(), file.toString())).isZero();
        return new URLClassLoader(new URL[] {dir.toUri().toURL()}, StateEvolutionTest.class.getClassLoader());
    }
}
