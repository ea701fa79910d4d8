package io.flowget.udf.parse;

import io.flowget.udf.model.FetchRequest;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import static org.assertj.core.api.Assertions.assertThat;

/** The request field {@code decrypt}, through the parser: what is kept, defaults, and every rejection. */
class DecryptFieldTest {
    private final RequestParser parser = new RequestParser();

    private ParseOutcome parse(String decrypt) {
        return parser.parse("k", "{\"url\":\"http://h/a.bin\",\"decrypt\":" + decrypt + "}");
    }

    @Test
    void everyMemberIsKeptCanonically() {
        FetchRequest r =
                parse("{\"key_id\":\"backup-2026.v2\",\"scheme\":\"TINK-AES256-GCM-HKDF-4KB\",\"encoding\":\" Zstd \"}")
                        .request();
        assertThat(r.decryptKeyId).isEqualTo("backup-2026.v2");
        assertThat(r.decryptScheme).isEqualTo("tink-aes256-gcm-hkdf-4kb");
        assertThat(r.decryptEncoding).isEqualTo("zstd");
    }

    @Test
    void onlyTheKeyIdIsRequired() {
        FetchRequest r = parse("{\"key_id\":\"k1\"}").request();
        assertThat(r.decryptKeyId).isEqualTo("k1");
        assertThat(r.decryptScheme).as("flowget.decrypt.scheme decides at fetch time").isNull();
        assertThat(r.decryptEncoding).as("detect").isNull();
        assertThat(parse("{\"key_id\":\"k1\",\"encoding\":\"auto\",\"scheme\":null}").request().decryptEncoding)
                .isNull();
        assertThat(parse("{\"key_id\":\"k1\",\"encoding\":\"identity\"}").request().decryptEncoding)
                .isEqualTo("identity");
    }

    @Test
    void absentOrNullMeansNoDecryption() {
        assertThat(parse("null").request().decryptKeyId).isNull();
        assertThat(parser.parse(null, "{\"url\":\"http://h/\"}").request().decryptKeyId).isNull();
    }

    @ParameterizedTest
    @CsvSource(
            delimiter = '|',
            value = {
                "\"k1\"|invalid decrypt: must be an object",
                "{}|invalid decrypt: missing key_id",
                "{\"key_id\":7}|invalid decrypt.key_id: 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit",
                "{\"key_id\":\"../etc/passwd\"}|invalid decrypt.key_id: 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit",
                "{\"key_id\":\"..data\"}|invalid decrypt.key_id: 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit",
                "{\"key_id\":\"\"}|invalid decrypt.key_id: 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit",
                "{\"key_id\":\"k1\",\"scheme\":\"aes-128-gcm\"}|invalid decrypt.scheme: expected one of aes-256-gcm, tink-aes256-gcm-hkdf-4kb, tink-aes256-gcm-hkdf-1mb",
                "{\"key_id\":\"k1\",\"scheme\":1}|invalid decrypt.scheme: expected one of aes-256-gcm, tink-aes256-gcm-hkdf-4kb, tink-aes256-gcm-hkdf-1mb",
                "{\"key_id\":\"k1\",\"encoding\":\"compress\"}|invalid decrypt.encoding: unsupported content-coding 'compress'",
                "{\"key_id\":\"k1\",\"encoding\":[\"gzip\"]}|invalid decrypt.encoding: must be a string"
            })
    void rejections(String decrypt, String reason) {
        ParseOutcome o = parse(decrypt);
        assertThat(o.isOk()).isFalse();
        assertThat(o.reason()).isEqualTo(reason);
        assertThat(o.id()).isEqualTo("k");
    }

    @Test
    void aKeyIdOfOneHundredTwentyEightCharactersIsTheLongest() {
        String id = "a".repeat(128);
        assertThat(parse("{\"key_id\":\"" + id + "\"}").request().decryptKeyId).isEqualTo(id);
        assertThat(parse("{\"key_id\":\"" + id + "a\"}").isOk()).isFalse();
    }
}
