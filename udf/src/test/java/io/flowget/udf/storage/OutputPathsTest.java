package io.flowget.udf.storage;

import io.flowget.udf.storage.OutputPaths.InvalidOutputPathException;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class OutputPathsTest {

    @TempDir Path outDir;

    // ---- default path ----------------------------------------------------------------------------

    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource(
            delimiter = '|',
            value = {
                "/a/b.txt                | example.com/a/b.txt",
                "''                      | example.com/index.html",
                "/                       | example.com/index.html",
                "/dir/                   | example.com/dir/index.html",
                "/a/./b                  | example.com/a/b",
                "/a//b                   | example.com/a/b",
                "/a/../b                 | example.com/a/b",
                "/a/..                   | example.com/a/index.html",
                "/a/.                    | example.com/a/index.html",
                "/%2e%2e/%2E%2e/etc/passwd | example.com/etc/passwd",
                "/a/%2e%2e               | example.com/a/index.html",
                "/..%2f..%2fetc%2fpasswd | example.com/_.._.._etc_passwd",
                "/a%2fb                  | example.com/a_b",
                "/a%5cb                  | example.com/a_b",
                "/a%5c..%5c..%5cb        | example.com/a_.._.._b",
                "/a%00b                  | example.com/a_b",
                "/%00                    | example.com/_",
                "/a:b*c?d                | example.com/a_b_c_d",
                "/.hidden                | example.com/_.hidden",
                "/.flowget-partial/x     | example.com/_.flowget-partial/x",
                "/a/file.                | example.com/a/file_",
                "/a/file%20              | example.com/a/file_",
                "/CON                    | example.com/_CON",
                "/nul.txt                | example.com/_nul.txt",
                "/caf%C3%A9.txt          | example.com/café.txt",
                "/%252e%252e/x           | example.com/%2e%2e/x",
                "/100%                   | example.com/100%",
                "/%zz                    | example.com/%zz",
                "/%ff.bin                | example.com/\uFFFD.bin",
                "/a%E2%80%AEtxt.exe      | example.com/a_txt.exe",
            })
    void defaultPathOfUrlPath(String rawPath, String expected) {
        assertThat(OutputPaths.defaultPath("example.com", -1, rawPath, null)).isEqualTo(expected);
    }

    @Test
    void nonDefaultPortIsPartOfTheHostSegment() {
        assertThat(OutputPaths.defaultPath("example.com", 8080, "/a", null)).isEqualTo("example.com_8080/a");
        assertThat(OutputPaths.defaultPath("::1", 8443, "/a", null)).isEqualTo("__1_8443/a");
        assertThat(OutputPaths.defaultPath("127.0.0.1", -1, null, null)).isEqualTo("127.0.0.1/index.html");
    }

    @Test
    void queryAddsAHashBeforeTheExtension() {
        String p1 = OutputPaths.defaultPath("h", -1, "/a.txt", "x=1");
        String p2 = OutputPaths.defaultPath("h", -1, "/a.txt", "x=2");
        String hash1 = OutputPaths.sha256Hex("x=1").substring(0, 10);
        assertThat(p1).isEqualTo("h/a~" + hash1 + ".txt");
        assertThat(p2).isNotEqualTo(p1).matches("h/a~[0-9a-f]{10}\\.txt");
        assertThat(OutputPaths.defaultPath("h", -1, "/a.tar.gz", "v=1")).matches("h/a\\.tar~[0-9a-f]{10}\\.gz");
        assertThat(OutputPaths.defaultPath("h", -1, "/noext", "q")).matches("h/noext~[0-9a-f]{10}");
        assertThat(OutputPaths.defaultPath("h", -1, "/", "q")).matches("h/index~[0-9a-f]{10}\\.html");
        assertThat(OutputPaths.defaultPath("h", -1, "/.bashrc", "q")).matches("h/_\\.bashrc~[0-9a-f]{10}");
        // An empty query is no query.
        assertThat(OutputPaths.defaultPath("h", -1, "/a.txt", "")).isEqualTo("h/a.txt");
        // The query cannot inject a separator or traversal: it is only ever hashed.
        assertThat(OutputPaths.defaultPath("h", -1, "/a.txt", "../../x/%2f")).matches("h/a~[0-9a-f]{10}\\.txt");
    }

    @Test
    void longSegmentsAreCutWithHashAndKeepTheirExtension() {
        String longName = "x".repeat(300) + ".tar.gz";
        String p = OutputPaths.defaultPath("h", -1, "/" + longName, null);
        String file = p.substring("h/".length());
        assertThat(bytes(file)).isEqualTo(OutputPaths.MAX_SEGMENT_BYTES);
        assertThat(file).matches("x+~[0-9a-f]{8}\\.gz");

        // Two long names with the same prefix stay apart.
        String q = OutputPaths.defaultPath("h", -1, "/" + "x".repeat(300) + "y.tar.gz", null);
        assertThat(q).isNotEqualTo(p);

        // Multi-byte characters are never split.
        String accents = "é".repeat(150) + ".txt"; // 304 bytes
        String r = OutputPaths.defaultPath("h", -1, "/" + accents, null).substring(2);
        assertThat(bytes(r)).isLessThanOrEqualTo(OutputPaths.MAX_SEGMENT_BYTES);
        assertThat(r).matches("é+~[0-9a-f]{8}\\.txt");

        // An extension that is itself huge is not kept.
        String hugeExt = "a." + "e".repeat(250);
        String s = OutputPaths.defaultPath("h", -1, "/" + hugeExt, null).substring(2);
        assertThat(bytes(s)).isEqualTo(OutputPaths.MAX_SEGMENT_BYTES);
        assertThat(s).matches("a\\.e+~[0-9a-f]{8}");
    }

    @Test
    void atMostSixtyFourSegmentsWithOverflowFoldedIntoAHash() {
        StringBuilder raw = new StringBuilder();
        for (int i = 0; i < 100; i++) {
            raw.append("/d").append(i);
        }
        raw.append("/file.bin");
        String p = OutputPaths.defaultPath("h", -1, raw.toString(), null);
        String[] segments = p.split("/");
        assertThat(segments).hasSize(OutputPaths.MAX_SEGMENTS);
        assertThat(segments[0]).isEqualTo("h");
        assertThat(segments[61]).isEqualTo("d60");
        assertThat(segments[62]).matches("~[0-9a-f]{8}");
        assertThat(segments[63]).isEqualTo("file.bin");
        // A different overflow gives a different fold.
        String other = OutputPaths.defaultPath("h", -1, raw.toString().replace("/d99/", "/dX/"), null);
        assertThat(other).isNotEqualTo(p);
        // Exactly 62 directories still fit without folding.
        StringBuilder fits = new StringBuilder();
        for (int i = 0; i < 62; i++) {
            fits.append("/d").append(i);
        }
        assertThat(OutputPaths.defaultPath("h", -1, fits + "/f", null).split("/"))
                .hasSize(64)
                .contains("d61")
                .noneMatch(seg -> seg.startsWith("~"));
    }

    @Test
    void sanitizeSegmentHandlesNamesFromOtherSources() {
        assertThat(OutputPaths.sanitizeSegment("..")).isEmpty();
        assertThat(OutputPaths.sanitizeSegment("")).isEmpty();
        assertThat(OutputPaths.sanitizeSegment("../../etc/passwd")).isEqualTo("_.._.._etc_passwd");
        assertThat(OutputPaths.sanitizeSegment("C:\\Windows\\x.dll")).isEqualTo("C__Windows_x.dll");
        assertThat(OutputPaths.sanitizeSegment("report\u0000.pdf")).isEqualTo("report_.pdf");
        assertThat(OutputPaths.sanitizeSegment("a\u200Bb")).isEqualTo("a_b");
        assertThat(OutputPaths.sanitizeSegment("x\uD800y")).isEqualTo("x_y");
        assertThat(OutputPaths.sanitizeSegment("ok name (1).txt")).isEqualTo("ok name (1).txt");
    }

    /**
     * Property: whatever the URL path and query, the default path is relative, has only clean segments and, once
     * resolved against an output directory, stays strictly inside it. Inputs: a hand-picked list of traversal
     * tricks and a few hundred random paths built from nasty tokens (seeded, so failures reproduce).
     */
    @Test
    void defaultPathAlwaysStaysInsideTheOutputDirectory() throws Exception {
        List<String> inputs = new ArrayList<>(nastyPaths());
        Random random = new Random(20261128L);
        for (int i = 0; i < 600; i++) {
            inputs.add(randomNastyPath(random));
        }

        Set<String> distinctOutputs = new HashSet<>();
        for (String rawPath : inputs) {
            for (String query : new String[] {null, "", "a=../../b", "%2e%2e%2f"}) {
                for (int port : new int[] {-1, 8080}) {
                    String p = OutputPaths.defaultPath("example.com", port, rawPath, query);
                    assertSafeRelativePath(p, rawPath);
                    distinctOutputs.add(p);
                }
            }
            // Also with hostile "hosts": the parser never produces these, the sanitiser still copes.
            assertSafeRelativePath(OutputPaths.defaultPath("..", -1, rawPath, null), rawPath);
            assertSafeRelativePath(OutputPaths.defaultPath("a/../..", -1, rawPath, null), rawPath);
        }
        // Sanity: the generator really produced varied inputs and outputs.
        assertThat(distinctOutputs).hasSizeGreaterThan(1000);
    }

    private void assertSafeRelativePath(String p, String input) {
        String why = "input " + input + " -> " + p;
        assertThat(p).as(why).isNotEmpty().doesNotStartWith("/").doesNotContain("\\").doesNotContain("//");
        String[] segments = p.split("/", -1);
        assertThat(segments.length).as(why).isBetween(2, OutputPaths.MAX_SEGMENTS);
        for (String s : segments) {
            assertThat(s).as(why).isNotEmpty().isNotEqualTo(".").isNotEqualTo("..").doesNotStartWith(".");
            assertThat(s).as(why).isNotEqualTo(OutputPaths.RESERVED_STAGING_NAME);
            assertThat(bytes(s)).as(why).isLessThanOrEqualTo(OutputPaths.MAX_SEGMENT_BYTES);
            assertThat(s.chars().noneMatch(c -> c < 0x20 || c == 0x7f || ":*?\"<>|".indexOf(c) >= 0))
                    .as(why)
                    .isTrue();
        }
        Path resolved = OutputPaths.resolveInside(outDir, p);
        Path base = outDir.toAbsolutePath().normalize();
        assertThat(resolved.normalize()).as(why).startsWithRaw(base).isNotEqualTo(base);
        assertThat(base.relativize(resolved).getNameCount()).as(why).isEqualTo(segments.length);
    }

    private static List<String> nastyPaths() {
        return List.of(
                "/../../../../etc/passwd",
                "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
                "/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
                "/..%2f..%2f..%2fetc%2fpasswd",
                "/..%5c..%5c..%5cwindows%5cwin.ini",
                "/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd", // overlong UTF-8 for '.'
                "/%e0%80%ae%e0%80%ae/x",
                "/\uFF0E\uFF0E/x", // fullwidth dots
                "/%EF%BC%8E%EF%BC%8E/x",
                "/..%00/x",
                "/%00/%00/%00",
                "/.%2e/x",
                "/%2e./x",
                "/....//....//x",
                "/.../x",
                "/a/b/../../../../../../x",
                "//etc/passwd",
                "/%2f%2fetc%2fpasswd",
                "/C:%5cWindows%5cSystem32",
                "/%5c%5cserver%5cshare",
                "/.flowget-partial",
                "/%2Eflowget-partial/x",
                "/.git/config",
                "/%0d%0aSet-Cookie:x",
                "/%7f%1b[31m",
                "/" + "%2e".repeat(300),
                "/" + "a".repeat(5000),
                "/" + "/a".repeat(500),
                "/" + "../".repeat(200) + "x",
                "/%",
                "/%%2e%2e",
                "/%252e%252e/%252f",
                "/?/#",
                "/~/~user/.ssh/id_rsa",
                "/con/aux/prn.txt",
                "/ /  /.  /x",
                "");
    }

    private static final String[] TOKENS = {
        "..", ".", "%2e", "%2E", "%2e%2e", "%2f", "%2F", "%5c", "%5C", "%00", "%0a", "%0d", "%25", "%", "%%",
        "/", "//", "\\", ":", "*", "?", "\"", "<", ">", "|", "~", "a", "b", "file", ".txt", ".tar.gz", " ",
        "\u00e9", "%c3%a9", "%ff", "%c0%ae", "\u202e", "%e2%80%ae", "\uFF0E", ".flowget-partial", "CON", "nul",
        "x".repeat(120), "%e6%97%a5%e6%9c%ac".repeat(10), "\uD83D\uDE00", "%F0%9F%98%80", "%"
    };

    private static String randomNastyPath(Random random) {
        StringBuilder sb = new StringBuilder("/");
        int tokens = 1 + random.nextInt(random.nextInt(10) == 0 ? 200 : 12);
        for (int i = 0; i < tokens; i++) {
            if (random.nextInt(8) == 0) {
                sb.append((char) random.nextInt(0x80)); // any ASCII, controls included
            } else {
                sb.append(TOKENS[random.nextInt(TOKENS.length)]);
            }
        }
        return sb.toString();
    }

    // ---- explicit path ---------------------------------------------------------------------------

    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource(
            delimiter = '|',
            value = {
                "a.txt           | a.txt",
                "dir/a.txt       | dir/a.txt",
                "./dir//a.txt    | dir/a.txt",
                "dir/./a.txt/    | dir/a.txt",
                ".hidden/x       | .hidden/x",
                "with space.txt  | with space.txt",
                "café/日本.txt    | café/日本.txt",
                "a..b/c...d      | a..b/c...d",
            })
    void explicitPathIsNormalised(String in, String expected) {
        assertThat(OutputPaths.validateExplicit(in)).isEqualTo(expected);
    }

    @ParameterizedTest(name = "[{index}] {0}")
    @CsvSource(
            delimiter = '|',
            quoteCharacter = '"',
            value = {
                "/etc/passwd       | invalid path: absolute",
                "\\\\server\\share | invalid path: absolute",
                "\\x               | invalid path: absolute",
                "C:x               | invalid path: absolute",
                "c:/x              | invalid path: absolute",
                "../x              | invalid path: '..' segment",
                "a/../../x         | invalid path: '..' segment",
                "a/..              | invalid path: '..' segment",
                "a\\b              | invalid path: backslash",
                "\"\"                | invalid path: empty",
                "\"   \"             | invalid path: empty",
                "./                | invalid path: empty",
                ".//./             | invalid path: empty",
                ".flowget-partial/x | invalid path: reserved name '.flowget-partial'",
            })
    void explicitPathIsRejected(String in, String message) {
        assertThatThrownBy(() -> OutputPaths.validateExplicit(in))
                .isInstanceOf(InvalidOutputPathException.class)
                .hasMessage(message);
    }

    @Test
    void explicitPathRejectsControlsAndOverLongInput() {
        assertThatThrownBy(() -> OutputPaths.validateExplicit("a\u0000b")).hasMessage("invalid path: NUL");
        assertThatThrownBy(() -> OutputPaths.validateExplicit("a\nb")).hasMessage("invalid path: control character");
        assertThatThrownBy(() -> OutputPaths.validateExplicit("a\u0085b")).hasMessage("invalid path: control character");
        assertThatThrownBy(() -> OutputPaths.validateExplicit(null)).hasMessage("invalid path: empty");
        assertThatThrownBy(() -> OutputPaths.validateExplicit("a/".repeat(600)))
                .hasMessageStartingWith("invalid path: too long");
        assertThatThrownBy(() -> OutputPaths.validateExplicit("x".repeat(256)))
                .hasMessageStartingWith("invalid path: segment too long");
        assertThatThrownBy(() -> OutputPaths.validateExplicit("a/".repeat(65)))
                .hasMessageStartingWith("invalid path: too many segments");
        assertThatThrownBy(() -> OutputPaths.validateExplicit("a\uDC00")).hasMessage("invalid path: invalid Unicode");
        assertThat(OutputPaths.validateExplicit("x".repeat(255))).hasSize(255);
        assertThat(OutputPaths.validateExplicit("a/".repeat(64))).isEqualTo("a/".repeat(63) + "a");
    }

    @ParameterizedTest
    @ValueSource(strings = {"a", "a/b/c.txt", "dir/.hidden", "x/./y", "a/b/../c"})
    void resolveInsideAcceptsContainedPaths(String relative) throws Exception {
        Path p = OutputPaths.resolveInside(outDir, relative);
        assertThat(p).startsWithRaw(outDir.toAbsolutePath().normalize());
        Files.createDirectories(p.getParent());
        Files.writeString(p, "ok");
        assertThat(Files.readString(p)).isEqualTo("ok");
    }

    @ParameterizedTest
    @ValueSource(strings = {"..", "../x", "a/../..", "a/../../x", "/etc/passwd", ".", "a/..", "", "x\u0000y"})
    void resolveInsideRejectsEscapes(String relative) {
        assertThatThrownBy(() -> OutputPaths.resolveInside(outDir, relative))
                .isInstanceOf(InvalidOutputPathException.class)
                .hasMessageStartingWith("invalid path: ");
    }

    @Test
    void resolveInsideRejectsASiblingWithTheSamePrefix() {
        // "out-evil" starts with the string "out" but is not inside it: startsWith on Path compares names.
        Path out = outDir.resolve("out");
        assertThatThrownBy(() -> OutputPaths.resolveInside(out, "../out-evil/x"))
                .isInstanceOf(InvalidOutputPathException.class);
    }

    private static int bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8).length;
    }
}
