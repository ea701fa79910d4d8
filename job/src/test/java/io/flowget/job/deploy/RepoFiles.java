package io.flowget.job.deploy;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;

import javax.xml.parsers.DocumentBuilderFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Locates the repository's deploy files (conf/, k8s/, chaos/, Dockerfile, poms) and the CRD folder
 * from wherever the test JVM runs (surefire starts it in the module directory), and reads YAML strictly.
 *
 * <p>The CRDs are test data in the repository ({@code job/src/test/resources/k8s-crds/}, with their origin), so
 * a bare clone passes its tests. The system property {@code flowget.k8s.crds} overrides that location.
 * Nothing here writes files.
 */
final class RepoFiles {
    /** YAML reader that rejects duplicate keys (the API server and Flink would silently keep one). */
    static final ObjectMapper YAML =
            new ObjectMapper(
                    YAMLFactory.builder()
                            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
                            .build());

    private RepoFiles() {}

    /** The repository root: the nearest ancestor of the working directory holding pom.xml and job/pom.xml. */
    static Path repoRoot() {
        Path dir = Path.of("").toAbsolutePath();
        for (Path p = dir; p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("pom.xml")) && Files.isRegularFile(p.resolve("job/pom.xml"))) {
                return p;
            }
        }
        throw new IllegalStateException("no repository root (pom.xml + job/pom.xml) above " + dir);
    }

    /** The folder of Flink Kubernetes Operator CRDs; fails with a clear message when it is missing. */
    static Path crdDir() {
        String override = System.getProperty("flowget.k8s.crds");
        Path dir =
                override != null
                        ? Path.of(override)
                        : repoRoot().resolve("job/src/test/resources/k8s-crds");
        if (!Files.isDirectory(dir)) {
            throw new IllegalStateException(
                    "CRD folder not found at "
                            + dir
                            + ": the Flink operator CRDs are expected in job/src/test/resources/k8s-crds/"
                            + " (or set -Dflowget.k8s.crds=DIR)");
        }
        return dir;
    }

    /** All YAML files (*.yaml, *.yml) directly or deeply under {@code dir}, sorted. */
    static List<Path> yamlFiles(Path dir) {
        try (Stream<Path> s = Files.walk(dir)) {
            return s.filter(Files::isRegularFile)
                    .filter(p -> p.toString().endsWith(".yaml") || p.toString().endsWith(".yml"))
                    .sorted()
                    .toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Every non-empty document of a (possibly multi-document) YAML file. */
    static List<JsonNode> readYamlDocuments(Path file) {
        try {
            return parseYamlDocuments(Files.readString(file));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        } catch (UncheckedIOException e) {
            throw new UncheckedIOException("cannot parse " + file, e.getCause());
        }
    }

    /** Every non-empty document of a (possibly multi-document) YAML text, e.g. {@code kubectl kustomize} output. */
    static List<JsonNode> parseYamlDocuments(String yaml) {
        try (JsonParser parser = YAML.getFactory().createParser(yaml);
                MappingIterator<JsonNode> it = YAML.readValues(parser, JsonNode.class)) {
            List<JsonNode> docs = new ArrayList<>();
            while (it.hasNextValue()) {
                JsonNode doc = it.nextValue();
                if (doc != null && !doc.isNull() && !doc.isMissingNode()) {
                    docs.add(doc);
                }
            }
            return docs;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A {@code <properties>} value of the parent pom (e.g. flink.version). */
    static String parentPomProperty(String name) {
        return pomText(repoRoot().resolve("pom.xml"), "/project/properties/" + name);
    }

    /** Text of an XPath in a pom (namespace-unaware, so paths are plain element names). */
    static String pomText(Path pom, String xpath) {
        try {
            DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
            f.setNamespaceAware(false);
            f.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
            var doc = f.newDocumentBuilder().parse(pom.toFile());
            var xp = javax.xml.xpath.XPathFactory.newInstance().newXPath();
            String v = xp.evaluate(xpath, doc).trim();
            if (v.isEmpty()) {
                throw new IllegalStateException(xpath + " not found in " + pom);
            }
            return v;
        } catch (IllegalStateException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException("cannot read " + xpath + " from " + pom, e);
        }
    }

    /** "2.2.1" → "2.2". */
    static String majorMinor(String version) {
        Matcher m = Pattern.compile("^(\\d+)\\.(\\d+)").matcher(version);
        if (!m.find()) {
            throw new IllegalArgumentException("not a version: " + version);
        }
        return m.group(1) + "." + m.group(2);
    }

    static String read(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
