package io.flowget.job.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SpecVersion;
import com.networknt.schema.ValidationMessage;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Validates Kubernetes custom resources against the {@code openAPIV3Schema} of their
 * CustomResourceDefinition, the way the API server would, without a cluster.
 *
 * <p>Two passes, because a JSON-schema validator alone is too lenient for Kubernetes: (1) the schema,
 * with the {@code x-kubernetes-*} extension keywords removed, is checked by networknt's validator
 * (draft 4, which OpenAPI v3 schemas follow): types, enums, required fields; (2) unknown fields are
 * rejected by walking the document beside the schema, since structural schemas imply
 * {@code additionalProperties: false} wherever {@code properties} are listed and neither
 * {@code additionalProperties} nor {@code x-kubernetes-preserve-unknown-fields} says otherwise (the API
 * server prunes such fields, or rejects them under strict field validation: either way a typo'd field
 * silently does nothing). {@code apiVersion}, {@code kind} and {@code metadata} are implicit at the root.
 *
 * <p>Not thread-safe; one instance per test class. CRDs are read once from the given folder.
 */
final class CrdValidator {
    private static final Set<String> METADATA_FIELDS = Set.of("name", "namespace", "labels", "annotations");

    /** group/kind → the CRD document. */
    private final Map<String, JsonNode> crds = new HashMap<>();
    private final Map<String, JsonSchema> compiled = new HashMap<>();
    private final JsonSchemaFactory factory = JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V4);

    CrdValidator(Path crdDir) {
        for (Path f : RepoFiles.yamlFiles(crdDir)) {
            for (JsonNode doc : RepoFiles.readYamlDocuments(f)) {
                if ("CustomResourceDefinition".equals(doc.path("kind").asText())) {
                    String group = doc.path("spec").path("group").asText();
                    String kind = doc.path("spec").path("names").path("kind").asText();
                    crds.put(group + "/" + kind, doc);
                }
            }
        }
        if (crds.isEmpty()) {
            throw new IllegalStateException("no CustomResourceDefinition in " + crdDir);
        }
    }

    /** True when a CRD for the document's group and kind is known. */
    boolean knows(JsonNode doc) {
        return crds.containsKey(groupOf(doc) + "/" + doc.path("kind").asText());
    }

    /** The served version's openAPIV3Schema for the document's apiVersion and kind. */
    JsonNode schemaFor(JsonNode doc) {
        String apiVersion = doc.path("apiVersion").asText();
        String kind = doc.path("kind").asText();
        JsonNode crd = crds.get(groupOf(doc) + "/" + kind);
        if (crd == null) {
            throw new IllegalArgumentException("no CRD for " + apiVersion + " " + kind);
        }
        String version = apiVersion.substring(apiVersion.indexOf('/') + 1);
        for (JsonNode v : crd.path("spec").path("versions")) {
            if (version.equals(v.path("name").asText())) {
                if (!v.path("served").asBoolean(false)) {
                    throw new IllegalArgumentException(apiVersion + " " + kind + " is not served by the CRD");
                }
                return v.path("schema").path("openAPIV3Schema");
            }
        }
        throw new IllegalArgumentException("the " + kind + " CRD has no version " + version);
    }

    /** Every problem of the document, one line each with its JSON path; empty when valid. */
    List<String> validate(JsonNode doc) {
        List<String> problems = new ArrayList<>();
        JsonNode schema = schemaFor(doc);
        String cacheKey = doc.path("apiVersion").asText() + "/" + doc.path("kind").asText();
        JsonSchema js = compiled.computeIfAbsent(cacheKey, k -> factory.getSchema(withoutExtensions(schema)));
        for (ValidationMessage m : js.validate(doc)) {
            problems.add(m.getMessage()); // the message starts with the instance location
        }
        checkMetadata(doc.path("metadata"), problems);
        if (doc.has("status")) {
            problems.add("$.status: a manifest must not set status");
        }
        Iterator<Map.Entry<String, JsonNode>> it = doc.fields();
        while (it.hasNext()) {
            Map.Entry<String, JsonNode> e = it.next();
            String f = e.getKey();
            if (f.equals("apiVersion") || f.equals("kind") || f.equals("metadata")) {
                continue;
            }
            JsonNode prop = schema.path("properties").path(f);
            if (prop.isMissingNode()) {
                problems.add("$." + f + ": unknown field");
            } else {
                walk(prop, e.getValue(), "$." + f, problems);
            }
        }
        return problems;
    }

    private static void checkMetadata(JsonNode md, List<String> problems) {
        if (!md.isObject() || !md.path("name").isTextual() || md.path("name").asText().isBlank()) {
            problems.add("$.metadata.name: required");
            return;
        }
        md.fieldNames()
                .forEachRemaining(
                        f -> {
                            if (!METADATA_FIELDS.contains(f)) {
                                problems.add("$.metadata." + f + ": not expected in a manifest");
                            }
                        });
        for (String map : List.of("labels", "annotations")) {
            md.path(map)
                    .fields()
                    .forEachRemaining(
                            e -> {
                                if (!e.getValue().isTextual()) {
                                    problems.add("$.metadata." + map + "." + e.getKey() + ": must be a string");
                                }
                            });
        }
    }

    /** Rejects fields the structural schema does not declare (see the class comment). */
    private static void walk(JsonNode schema, JsonNode value, String path, List<String> problems) {
        boolean preserve = schema.path("x-kubernetes-preserve-unknown-fields").asBoolean(false);
        if (value.isObject()) {
            JsonNode props = schema.path("properties");
            JsonNode additional = schema.path("additionalProperties");
            Iterator<Map.Entry<String, JsonNode>> it = value.fields();
            while (it.hasNext()) {
                Map.Entry<String, JsonNode> e = it.next();
                String p = path + "." + e.getKey();
                if (props.has(e.getKey())) {
                    walk(props.get(e.getKey()), e.getValue(), p, problems);
                } else if (additional.isObject()) {
                    walk(additional, e.getValue(), p, problems);
                } else if (!preserve && !additional.asBoolean(false)) {
                    problems.add(p + ": unknown field");
                }
            }
        } else if (value.isArray() && schema.has("items")) {
            for (int i = 0; i < value.size(); i++) {
                walk(schema.get("items"), value.get(i), path + "[" + i + "]", problems);
            }
        }
    }

    /** A copy of the schema without x-kubernetes-* keywords (property names are left alone). */
    static JsonNode withoutExtensions(JsonNode schema) {
        if (schema.isArray()) {
            ArrayNode out = JsonNodeFactory.instance.arrayNode();
            schema.forEach(n -> out.add(withoutExtensions(n)));
            return out;
        }
        if (!schema.isObject()) {
            return schema;
        }
        ObjectNode out = JsonNodeFactory.instance.objectNode();
        Iterator<Map.Entry<String, JsonNode>> it = schema.fields();
        while (it.hasNext()) {
            Map.Entry<String, JsonNode> e = it.next();
            if (e.getKey().startsWith("x-kubernetes-")) {
                continue;
            }
            if (e.getKey().equals("properties") && e.getValue().isObject()) {
                ObjectNode props = JsonNodeFactory.instance.objectNode();
                e.getValue().fields().forEachRemaining(p -> props.set(p.getKey(), withoutExtensions(p.getValue())));
                out.set("properties", props);
            } else {
                out.set(e.getKey(), withoutExtensions(e.getValue()));
            }
        }
        return out;
    }

    private static String groupOf(JsonNode doc) {
        String apiVersion = doc.path("apiVersion").asText();
        int slash = apiVersion.indexOf('/');
        return slash < 0 ? "" : apiVersion.substring(0, slash);
    }
}
