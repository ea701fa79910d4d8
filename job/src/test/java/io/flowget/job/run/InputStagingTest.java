package io.flowget.job.run;

import static org.assertj.core.api.Assertions.assertThat;

import io.flowget.udf.parse.RequestParser;

import org.junit.jupiter.api.Test;

/** The id `run` waits for per input line is the one the job's parser gives that line's request or rejection. */
class InputStagingTest {

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
}
