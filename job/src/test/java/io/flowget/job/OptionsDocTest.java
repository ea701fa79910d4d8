package io.flowget.job;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * README's option table is generated from the code ({@link OptionsCatalog#markdownTable()}): this test fails when
 * they drift apart, and writes the current table to {@code target/options.md} to paste between the markers.
 */
class OptionsDocTest {
    @Test
    void readmeListsEveryOptionAsTheCodeDefinesIt() throws Exception {
        String table = OptionsCatalog.markdownTable();
        Files.writeString(Path.of("target", "options.md"), table);
        String readme = Files.readString(Path.of("..", "README.md"));
        int begin = readme.indexOf("<!-- options:begin -->\n");
        int end = readme.indexOf("<!-- options:end -->");
        assertThat(begin).as("README has the options markers").isNotNegative();
        String inReadme = readme.substring(begin + "<!-- options:begin -->\n".length(), end);
        assertThat(inReadme)
                .as("README's option table is current; copy job/target/options.md between the markers")
                .isEqualTo(table);
    }
}
