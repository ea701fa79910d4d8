package io.flowget.udf.parse;

import io.flowget.udf.body.BodyException;
import io.flowget.udf.body.ContentCoding;
import io.flowget.udf.crypto.DecryptScheme;
import io.flowget.udf.crypto.Decryption;
import io.flowget.udf.crypto.KeyMaterial;
import io.flowget.udf.model.FetchRequest;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.Locale;

/**
 * The request field {@code decrypt} (README "Encrypted payloads"): {@code {"key_id": "...", "scheme": "...",
 * "encoding": "..."}}. {@code key_id} is required ({@link KeyMaterial#KEY_ID}); {@code scheme} is a
 * {@link DecryptScheme} token, absent for {@code flowget.decrypt.scheme}; {@code encoding} names the compression
 * inside the encryption as a {@code Content-Encoding} list ({@code gzip}, {@code br}, {@code identity}...) or
 * {@code auto} (the default: detect gzip and zstd). Unknown members are ignored, as at the top level; {@code
 * null} counts as absent. Stateless.
 */
final class DecryptField {
    private DecryptField() {}

    /** Checks {@code n} (null: no decryption) and sets the request's decrypt fields. */
    static void parse(JsonNode n, FetchRequest r) throws RequestRejectedException {
        if (n == null) {
            return;
        }
        if (!n.isObject()) {
            throw new RequestRejectedException("invalid decrypt: must be an object");
        }
        JsonNode keyId = member(n, "key_id");
        if (keyId == null) {
            throw new RequestRejectedException("invalid decrypt: missing key_id");
        }
        if (!keyId.isTextual() || !KeyMaterial.KEY_ID.matcher(keyId.textValue()).matches()) {
            throw new RequestRejectedException(
                    "invalid decrypt.key_id: 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit");
        }
        String scheme = null;
        JsonNode s = member(n, "scheme");
        if (s != null) {
            DecryptScheme parsed = s.isTextual() ? DecryptScheme.forToken(s.textValue()) : null;
            if (parsed == null) {
                throw new RequestRejectedException(
                        "invalid decrypt.scheme: expected one of " + DecryptScheme.tokens());
            }
            scheme = parsed.token();
        }
        String encoding = null;
        JsonNode e = member(n, "encoding");
        if (e != null) {
            if (!e.isTextual()) {
                throw new RequestRejectedException("invalid decrypt.encoding: must be a string");
            }
            String value = e.textValue().strip().toLowerCase(Locale.ROOT);
            if (!value.equals(Decryption.AUTO)) {
                try {
                    ContentCoding.parse(value);
                } catch (BodyException unsupported) {
                    throw new RequestRejectedException("invalid decrypt.encoding: " + unsupported.getMessage());
                }
                encoding = value.isEmpty() ? "identity" : value;
            }
        }
        r.decryptKeyId = keyId.textValue();
        r.decryptScheme = scheme;
        r.decryptEncoding = encoding;
    }

    private static JsonNode member(JsonNode n, String name) {
        JsonNode m = n.get(name);
        return m == null || m.isNull() ? null : m;
    }
}
