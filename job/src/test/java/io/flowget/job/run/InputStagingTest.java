package io.flowget.job.run;

import static org.assertj.core.api.Assertions.assertThat;

import io.flowget.udf.parse.RequestParser;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The id `run` waits for per input line is the one the job's parser gives that line's request or rejection; no input
 * line, whatever its bytes or length, fails the run (CONTRACT.md), and a line's memory is bounded while it is read.
 */
class InputStagingTest {
    @TempDir Path tmp;

    @Test
    void aLineIsExpectedUnderTheIdTheParserGivesIt() {
        assertThat(new InputStaging.Line("line-1", "http://127.0.0.1/a").expectedId()).isEqualTo("line-1");
        assertThat(new InputStaging.Line("line-2", "{\"url\":\"http://127.0.0.1/a\",\"id\":\"mine\"}").expectedId())
                .isEqualTo("mine");
        assertThat(new InputStaging.Line("line-3", "{\"url\":\"http://127.0.0.1/a\",\"id\":7}").expectedId())
                .as("an integer id is taken as its decimal text")
                .isEqualTo("7");
        assertThat(new InputStaging.Line("line-4", "{not json").expectedId()).isEqualTo("line-4");
    }

    @Test
    void aLineWhoseIdTheParserRejectsIsExpectedUnderItsKey() {
        // A 300,000-character id: the job fails the request under the record key; waiting for the raw id hung `run`.
        String huge = "k".repeat(300_000);
        assertThat(huge.length()).isGreaterThan(RequestParser.MAX_ID_CHARS);
        assertThat(new InputStaging.Line("line-6", "{\"url\":\"http://127.0.0.1/a\",\"id\":\"" + huge + "\"}")
                        .expectedId())
                .isEqualTo("line-6");
        assertThat(new InputStaging.Line("line-7", "{\"url\":\"http://127.0.0.1/a\",\"id\":\"a\\u0001b\"}")
                        .expectedId())
                .isEqualTo("line-7");
    }

    @Test
    void linesEndAtLfCrOrCrlfAndAreNumberedAsBefore() throws Exception {
        List<InputStaging.Line> lines = read("http://a/1\r\nhttp://a/2\rhttp://a/3\n\n# c\n  \t http://a/6 \r\n\rhttp://a/8");
        assertThat(lines).extracting(InputStaging.Line::key)
                .containsExactly("line-1", "line-2", "line-3", "line-6", "line-8");
        assertThat(lines).extracting(InputStaging.Line::value)
                .containsExactly("http://a/1", "http://a/2", "http://a/3", "http://a/6", "http://a/8");
        assertThat(lines).allSatisfy(l -> assertThat(l.raw()).isNull());
    }

    @Test
    void aLineThatIsNotUtf8KeepsItsBytesForTheJobToReject() throws Exception {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.write("http://a/1\n  http://a/".getBytes(StandardCharsets.US_ASCII));
        b.write(new byte[] {(byte) 0xC0, (byte) 0x80, (byte) 0xFF});
        b.write("  \nhttp://a/3\n".getBytes(StandardCharsets.US_ASCII));
        Path f = tmp.resolve("in.txt");
        Files.write(f, b.toByteArray());

        List<InputStaging.Line> lines = InputStaging.read(f); // threw MalformedInputException: exit 70, no result at all
        assertThat(lines).hasSize(3);
        InputStaging.Line bad = lines.get(1);
        assertThat(bad.key()).isEqualTo("line-2");
        assertThat(bad.raw()).as("the line's bytes from its first non-blank one, sent as they are")
                .startsWith("http://a/".getBytes(StandardCharsets.US_ASCII))
                .contains((byte) 0xC0, (byte) 0xFF);
        assertThat(bad.recordValue()).isSameAs(bad.raw());
        assertThat(bad.value()).as("decoded as the job's deserializer decodes it, then trimmed")
                .isEqualTo(new String(bad.raw(), StandardCharsets.UTF_8).strip())
                .contains("\uFFFD");
        assertThat(bad.expectedId()).isEqualTo("line-2");
        assertThat(lines.get(2).raw()).isNull();
        assertThat(new String(lines.get(2).recordValue(), StandardCharsets.UTF_8)).isEqualTo("http://a/3");
    }

    @Test
    void aLineOverTheBoundIsCutSoTheJobStillRejectsItAsTooLarge() throws Exception {
        String head = "http://a/?q=";
        String huge = head + "\u00e9".repeat(InputStaging.MAX_LINE_BYTES); // 2 bytes each: twice the bound in bytes
        List<InputStaging.Line> lines = read("  " + huge + "\nhttp://a/2\n");

        assertThat(lines).hasSize(2);
        InputStaging.Line cut = lines.get(0);
        assertThat(cut.value()).hasSize(RequestParser.MAX_EVENT_CHARS + 1).startsWith(head + "\u00e9");
        assertThat(cut.raw()).isNull();
        assertThat(new RequestParser().parse(cut.key(), cut.value()).reason())
                .isEqualTo(new RequestParser().parse(cut.key(), huge).reason())
                .startsWith("request too large");
        assertThat(cut.recordValue().length).isLessThan(InputStaging.MAX_RECORD_BYTES - 1024);
        assertThat(lines.get(1).key()).isEqualTo("line-2");
    }

    @Test
    void blanksAfterTheBoundDoNotCutALine() throws Exception {
        String url = "http://a/" + "b".repeat(100);
        List<InputStaging.Line> lines = read(url + " ".repeat(InputStaging.MAX_LINE_BYTES + 10) + "\n");
        assertThat(lines).extracting(InputStaging.Line::value).containsExactly(url);
    }

    private List<InputStaging.Line> read(String content) throws Exception {
        Path f = tmp.resolve("in-" + System.nanoTime() + ".txt");
        Files.writeString(f, content, StandardCharsets.UTF_8);
        return InputStaging.read(f);
    }
}
